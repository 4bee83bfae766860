// Scalar dequantization of every type, exactly the formulas of spec §9. The order of the float
// operations follows ggml's reference (and the PyPI gguf package), which makes the results
// bit-exact: e.g. Q4_K is (d*sc)*q - (dmin*m), Q4_1 is d*q + m. The build uses ISO C++ (no
// -ffp-contract=fast), so no multiply-add is fused behind our back.
#include <cstring>

#include "quant/blocks.h"
#include "quant/internal.h"

namespace mla::quant::internal {
namespace {

inline float H(uint16_t h) { return F16ToF32(h); }

template <typename Block>
const Block* Blocks(const void* src) {
  return static_cast<const Block*>(src);
}

}  // namespace

void DequantizeF32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * sizeof(float));
}

void DequantizeF16(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(uint16_t(p[2 * i] | p[2 * i + 1] << 8));
}

void DequantizeBF16(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);  // little-endian, as in QuantizeBF16
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = BF16ToF32(h);
  }
}

// spec §9 Q4_0
void DequantizeQ4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* x = Blocks<BlockQ4_0>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b, dst += kQK4_0) {
    const float d = H(x[b].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * float((x[b].qs[j] & 0xF) - 8);
      dst[j + 16] = d * float((x[b].qs[j] >> 4) - 8);
    }
  }
}

// spec §9 Q4_1
void DequantizeQ4_1(const void* src, float* dst, int64_t n) {
  const BlockQ4_1* x = Blocks<BlockQ4_1>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b, dst += kQK4_0) {
    const float d = H(x[b].d), m = H(x[b].m);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * float(x[b].qs[j] & 0xF) + m;
      dst[j + 16] = d * float(x[b].qs[j] >> 4) + m;
    }
  }
}

// spec §9 Q5_0
void DequantizeQ5_0(const void* src, float* dst, int64_t n) {
  const BlockQ5_0* x = Blocks<BlockQ5_0>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b, dst += kQK4_0) {
    const float d = H(x[b].d);
    uint32_t h;
    std::memcpy(&h, x[b].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xF) | int(((h >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | int(((h >> (j + 16)) & 1) << 4);
      dst[j] = d * float(lo - 16);
      dst[j + 16] = d * float(hi - 16);
    }
  }
}

// spec §9 Q5_1
void DequantizeQ5_1(const void* src, float* dst, int64_t n) {
  const BlockQ5_1* x = Blocks<BlockQ5_1>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b, dst += kQK4_0) {
    const float d = H(x[b].d), m = H(x[b].m);
    uint32_t h;
    std::memcpy(&h, x[b].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xF) | int(((h >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | int(((h >> (j + 16)) & 1) << 4);
      dst[j] = d * float(lo) + m;
      dst[j + 16] = d * float(hi) + m;
    }
  }
}

// spec §9 Q8_0
void DequantizeQ8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* x = Blocks<BlockQ8_0>(src);
  for (int64_t b = 0; b < n / kQK8_0; ++b, dst += kQK8_0) {
    const float d = H(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) dst[j] = float(x[b].qs[j]) * d;
  }
}

// spec §9 Q8_1 (s is only for dot products)
void DequantizeQ8_1(const void* src, float* dst, int64_t n) {
  const BlockQ8_1* x = Blocks<BlockQ8_1>(src);
  for (int64_t b = 0; b < n / kQK8_0; ++b, dst += kQK8_0) {
    const float d = H(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) dst[j] = float(x[b].qs[j]) * d;
  }
}

// spec §9 Q2_K: element 128c + 32j + 16h + l uses scales[8c + 2j + h] and bits 2j of
// qs[32c + 16h + l].
void DequantizeQ2_K(const void* src, float* dst, int64_t n) {
  const BlockQ2_K* x = Blocks<BlockQ2_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d), dmin = H(x[b].dmin);
    for (int c = 0; c < 2; ++c)
      for (int j = 0; j < 4; ++j)
        for (int h = 0; h < 2; ++h) {
          const uint8_t sc = x[b].scales[8 * c + 2 * j + h];
          const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
          const uint8_t* q = x[b].qs + 32 * c + 16 * h;
          float* y = dst + 128 * c + 32 * j + 16 * h;
          for (int l = 0; l < 16; ++l) y[l] = dl * float((q[l] >> (2 * j)) & 3) - ml;
        }
  }
}

// spec §9 Q3_K: the value is q - 4 unless the hmask bit is set.
void DequantizeQ3_K(const void* src, float* dst, int64_t n) {
  const BlockQ3_K* x = Blocks<BlockQ3_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d);
    for (int c = 0; c < 2; ++c)
      for (int j = 0; j < 4; ++j)
        for (int h = 0; h < 2; ++h) {
          const float dl = d * float(Q3KScale(x[b].scales, 8 * c + 2 * j + h));
          const uint8_t* q = x[b].qs + 32 * c + 16 * h;
          const uint8_t* hm = x[b].hmask + 16 * h;
          const uint8_t bit = uint8_t(1 << (4 * c + j));
          float* y = dst + 128 * c + 32 * j + 16 * h;
          for (int l = 0; l < 16; ++l) {
            const int v = int((q[l] >> (2 * j)) & 3) - ((hm[l] & bit) ? 0 : 4);
            y[l] = dl * float(v);
          }
        }
  }
}

// spec §9 Q4_K
void DequantizeQ4_K(const void* src, float* dst, int64_t n) {
  const BlockQ4_K* x = Blocks<BlockQ4_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d), dmin = H(x[b].dmin);
    for (int u = 0; u < 4; ++u) {
      uint8_t sc0, m0, sc1, m1;
      GetScaleMinK4(2 * u, x[b].scales, &sc0, &m0);
      GetScaleMinK4(2 * u + 1, x[b].scales, &sc1, &m1);
      const float d0 = d * float(sc0), dm0 = dmin * float(m0);
      const float d1 = d * float(sc1), dm1 = dmin * float(m1);
      const uint8_t* q = x[b].qs + 32 * u;
      for (int l = 0; l < 32; ++l) {
        dst[64 * u + l] = d0 * float(q[l] & 0xF) - dm0;
        dst[64 * u + 32 + l] = d1 * float(q[l] >> 4) - dm1;
      }
    }
  }
}

// spec §9 Q5_K
void DequantizeQ5_K(const void* src, float* dst, int64_t n) {
  const BlockQ5_K* x = Blocks<BlockQ5_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d), dmin = H(x[b].dmin);
    for (int u = 0; u < 4; ++u) {
      uint8_t sc0, m0, sc1, m1;
      GetScaleMinK4(2 * u, x[b].scales, &sc0, &m0);
      GetScaleMinK4(2 * u + 1, x[b].scales, &sc1, &m1);
      const float d0 = d * float(sc0), dm0 = dmin * float(m0);
      const float d1 = d * float(sc1), dm1 = dmin * float(m1);
      const uint8_t* q = x[b].qs + 32 * u;
      for (int l = 0; l < 32; ++l) {
        const int lo = (q[l] & 0xF) | (((x[b].qh[l] >> (2 * u)) & 1) << 4);
        const int hi = (q[l] >> 4) | (((x[b].qh[l] >> (2 * u + 1)) & 1) << 4);
        dst[64 * u + l] = d0 * float(lo) - dm0;
        dst[64 * u + 32 + l] = d1 * float(hi) - dm1;
      }
    }
  }
}

// spec §9 Q6_K
void DequantizeQ6_K(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* x = Blocks<BlockQ6_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d);
    for (int c = 0; c < 2; ++c) {
      const uint8_t* ql = x[b].ql + 64 * c;
      const uint8_t* qh = x[b].qh + 32 * c;
      const int8_t* sc = x[b].scales + 8 * c;
      float* y = dst + 128 * c;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = (d * float(sc[s])) * float(q1);
        y[l + 32] = (d * float(sc[s + 2])) * float(q2);
        y[l + 64] = (d * float(sc[s + 4])) * float(q3);
        y[l + 96] = (d * float(sc[s + 6])) * float(q4);
      }
    }
  }
}

// spec §9 Q8_K
void DequantizeQ8_K(const void* src, float* dst, int64_t n) {
  const BlockQ8_K* x = Blocks<BlockQ8_K>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K)
    for (int j = 0; j < kQK_K; ++j) dst[j] = float(x[b].qs[j]) * x[b].d;
}

// spec §9 IQ4_NL
void DequantizeIQ4_NL(const void* src, float* dst, int64_t n) {
  const BlockIQ4_NL* x = Blocks<BlockIQ4_NL>(src);
  for (int64_t b = 0; b < n / kQK4_NL; ++b, dst += kQK4_NL) {
    const float d = H(x[b].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * float(kIq4nlValues[x[b].qs[j] & 0xF]);
      dst[j + 16] = d * float(kIq4nlValues[x[b].qs[j] >> 4]);
    }
  }
}

// spec §9 IQ4_XS
void DequantizeIQ4_XS(const void* src, float* dst, int64_t n) {
  const BlockIQ4_XS* x = Blocks<BlockIQ4_XS>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, dst += kQK_K) {
    const float d = H(x[b].d);
    for (int s = 0; s < 8; ++s) {
      const float dl = d * float(IQ4XSScale(x[b], s));
      const uint8_t* q = x[b].qs + 16 * s;
      for (int j = 0; j < 16; ++j) {
        dst[32 * s + j] = dl * float(kIq4nlValues[q[j] & 0xF]);
        dst[32 * s + 16 + j] = dl * float(kIq4nlValues[q[j] >> 4]);
      }
    }
  }
}

}  // namespace mla::quant::internal
