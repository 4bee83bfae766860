// Quantizers of the float types, the 32-element ("legacy") types and the activation formats.
// Without importance, Q4_0..Q8_0 are ggml's reference quantizers, bit for bit (same float ops,
// same truncation/rounding), so files match llama-quantize's. With importance they run the
// weighted searches of search.h and requantize under the stored f16 scale.
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/internal.h"
#include "quant/search.h"

namespace mla::quant::internal {
namespace {

// ggml's reference truncates x + 0.5 (or + 8.5 / 16.5) toward zero; clamped here so that
// NaN/inf inputs cannot reach the int conversion.
inline int TruncClamp(float v, int hi) {
  if (!(v >= 0.f)) return 0;
  if (v >= float(hi)) return hi;
  return int(v);
}

// roundf (ties away from zero), as ggml's Q8 reference quantizers use.
inline int RoundAwayClamp(float v, int lim) {
  if (!(v >= -float(lim))) return -lim;
  if (v > float(lim)) return lim;
  return int(std::round(v));
}

void PutF16(uint8_t* p, uint16_t h) {
  p[0] = uint8_t(h);
  p[1] = uint8_t(h >> 8);
}

float SignedMax(const float* x, int n, float* amax) {
  float a = 0, m = 0;
  for (int i = 0; i < n; ++i)
    if (a < std::fabs(x[i])) {
      a = std::fabs(x[i]);
      m = x[i];
    }
  *amax = a;
  return m;
}

// Mean square of the whole row: the sigma2 of the importance weights (search.h).
float RowSigma2(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return n ? float(s / double(n)) : 0.f;
}

// Packs 32 5-bit levels: low nibbles in qs (elements j and j+16 share byte j), fifth bits in qh.
void Pack5(const int* q, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    h |= uint32_t((q[j] >> 4) & 1) << j;
    h |= uint32_t((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(qh, &h, 4);
}

// Symmetric legacy block (Q4_0: nmax 8, Q5_0: nmax 16): levels in [0, 2*nmax) written to q.
// Without importance: ggml's reference (the extreme maps to -nmax); with: weighted search.
uint16_t SymmetricBlock(const float* x, int nmax, const float* importance, float sigma2, int* q) {
  if (!importance) {
    float amax;
    const float max = SignedMax(x, 32, &amax);
    const float d = max / -float(nmax);
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) q[j] = TruncClamp(x[j] * id + (float(nmax) + 0.5f), 2 * nmax - 1);
    return ScaleToF16(d);
  }
  float w[32];
  int8_t L[32];
  BlockWeights(x, 32, importance, sigma2, WeightKind::kSquare, w);
  const uint16_t d16 = ScaleToF16(QuantizeSymmetric(32, nmax, x, w, L, 9));
  const float dq = F16ToF32(d16);
  for (int j = 0; j < 32; ++j)
    q[j] = (dq != 0.f ? RoundClamp(x[j] / dq, -nmax, nmax - 1) : 0) + nmax;
  return d16;
}

// Asymmetric legacy block (Q4_1: nmax 15, Q5_1: nmax 31): levels in [0, nmax]; *m16 the offset.
uint16_t AsymmetricBlock(const float* x, int nmax, const float* importance, float sigma2, int* q,
                         uint16_t* m16) {
  if (!importance) {
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / float(nmax);
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) q[j] = TruncClamp((x[j] - min) * id + 0.5f, nmax);
    *m16 = ScaleToF16(min);
    return ScaleToF16(d);
  }
  float w[32], neg_offset;
  uint8_t L[32];
  BlockWeights(x, 32, importance, sigma2, WeightKind::kSquare, w);
  const float scale =
      QuantizeAsymmetric(32, nmax, x, w, L, &neg_offset, -0.9f, 0.05f, 36, false, false);
  const uint16_t d16 = ScaleToF16(scale);
  *m16 = ScaleToF16(-neg_offset);
  const float dq = F16ToF32(d16), mq = F16ToF32(*m16);
  for (int j = 0; j < 32; ++j) q[j] = dq != 0.f ? RoundClamp((x[j] - mq) / dq, 0, nmax) : 0;
  return d16;
}

}  // namespace

void QuantizeF32(const float* src, void* dst, int64_t n, const float*) {
  std::memcpy(dst, src, size_t(n) * sizeof(float));
}

void QuantizeF16(const float* src, void* dst, int64_t n, const float*) {
  uint8_t* p = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) PutF16(p + 2 * i, F32ToF16(src[i]));
}

void QuantizeBF16(const float* src, void* dst, int64_t n, const float*) {
  // GGUF is little-endian, as are the CPUs we build for; memcpy keeps any alignment legal and
  // lets the loop vectorise.
  uint8_t* p = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = F32ToBF16(src[i]);
    std::memcpy(p + 2 * i, &h, 2);
  }
}

void QuantizeQ4_0(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ4_0* y = static_cast<BlockQ4_0*>(dst);
  const float sigma2 = importance ? RowSigma2(src, n) : 0.f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    int q[32];
    y[b].d = SymmetricBlock(x, 8, importance ? importance + b * kQK4_0 : nullptr, sigma2, q);
    for (int j = 0; j < 16; ++j) y[b].qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
  }
}

void QuantizeQ5_0(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ5_0* y = static_cast<BlockQ5_0*>(dst);
  const float sigma2 = importance ? RowSigma2(src, n) : 0.f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    int q[32];
    y[b].d = SymmetricBlock(x, 16, importance ? importance + b * kQK4_0 : nullptr, sigma2, q);
    Pack5(q, y[b].qs, y[b].qh);
  }
}

void QuantizeQ4_1(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ4_1* y = static_cast<BlockQ4_1*>(dst);
  const float sigma2 = importance ? RowSigma2(src, n) : 0.f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    int q[32];
    y[b].d = AsymmetricBlock(x, 15, importance ? importance + b * kQK4_0 : nullptr, sigma2, q,
                             &y[b].m);
    for (int j = 0; j < 16; ++j) y[b].qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
  }
}

void QuantizeQ5_1(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ5_1* y = static_cast<BlockQ5_1*>(dst);
  const float sigma2 = importance ? RowSigma2(src, n) : 0.f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    int q[32];
    y[b].d = AsymmetricBlock(x, 31, importance ? importance + b * kQK4_0 : nullptr, sigma2, q,
                             &y[b].m);
    Pack5(q, y[b].qs, y[b].qh);
  }
}

// ggml's reference: d = amax/127, q = roundf(x/d). Importance cannot help 8-bit levels enough
// to matter, and llama.cpp ignores it too.
void QuantizeQ8_0(const float* src, void* dst, int64_t n, const float*) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    float amax;
    SignedMax(x, kQK8_0, &amax);
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    y[b].d = ScaleToF16(d);
    for (int j = 0; j < kQK8_0; ++j) y[b].qs[j] = int8_t(RoundAwayClamp(x[j] * id, 127));
  }
}

// Activation format: Q8_0 plus s = d * sum(q) for the min terms of Q4_1/Q5_1 dot products.
void QuantizeQ8_1(const float* src, void* dst, int64_t n, const float*) {
  BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    float amax;
    SignedMax(x, kQK8_0, &amax);
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK8_0; ++j) {
      y[b].qs[j] = int8_t(RoundAwayClamp(x[j] * id, 127));
      sum += y[b].qs[j];
    }
    y[b].d = ScaleToF16(d);
    y[b].s = ScaleToF16(float(sum) * d);
  }
}

// Activation format of the K-quant dot products: f32 scale, levels in [-127, 127] (never -128,
// so SIMD kernels may negate them), bsums[g] = sum of the 16 levels of group g.
void QuantizeQ8_K(const float* src, void* dst, int64_t n, const float*) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    float amax;
    SignedMax(x, kQK_K, &amax);
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    y[b].d = amax > 0.f ? 1.f / id : 0.f;
    for (int j = 0; j < kQK_K; ++j) y[b].qs[j] = int8_t(RoundClamp(x[j] * id, -127, 127));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += y[b].qs[16 * g + j];
      y[b].bsums[g] = int16_t(s);
    }
  }
}

}  // namespace mla::quant::internal
