// Scalar twins of the 256-element super-block kernels (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS x Q8_K): exact
// int32 sums per super-block, then the float steps of kernels_internal.h. Kernels of the scalar
// ISA and the oracle of the SIMD versions.
#include <cmath>
#include <type_traits>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "quant/blocks.h"

namespace mla::kernels::scalar {
namespace {

using quant::BlockIQ4_XS;
using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;
using quant::kQK_K;

struct Sums {
  int32_t i = 0;  // sum of scale * level * activation
  int32_t m = 0;  // sum of min * activation (Q4_K / Q5_K)
};

// spec §9 Q2_K / Q3_K: element i = 128c + 32j + 16h + l is in sub-block s = 8c + 2j + h (i.e.
// elements 16s .. 16s+15), its 2 low bits are (qs[32c + 16h + l] >> 2j) & 3 and the Q3_K high bit
// is hmask[16h + l] & (1 << (4c + j)).
int Q2Bits(const uint8_t* qs, int i) {
  const int c = i / 128, j = (i / 32) % 4, h = (i / 16) % 2, l = i % 16;
  return (qs[32 * c + 16 * h + l] >> (2 * j)) & 3;
}

Sums SumsQ2K(const BlockQ2_K& x, const BlockQ8_K& a) {
  Sums s;
  for (int sb = 0; sb < 16; ++sb) {
    int32_t p = 0;
    for (int l = 0; l < 16; ++l) p += Q2Bits(x.qs, 16 * sb + l) * a.qs[16 * sb + l];
    s.i += (x.scales[sb] & 0xF) * p;
    s.m += (x.scales[sb] >> 4) * a.bsums[sb];
  }
  return s;
}

Sums SumsQ3K(const BlockQ3_K& x, const BlockQ8_K& a) {
  Sums s;
  for (int sb = 0; sb < 16; ++sb) {
    int32_t p = 0;
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * sb + l;
      const int c = i / 128, j = (i / 32) % 4, h = (i / 16) % 2;
      const bool high = x.hmask[16 * h + l] & (1 << (4 * c + j));
      p += (Q2Bits(x.qs, i) - (high ? 0 : 4)) * a.qs[i];
    }
    s.i += quant::Q3KScale(x.scales, sb) * p;
  }
  return s;
}

// spec §9 Q4_K / Q5_K: sub-block 2u is the low nibbles of qs[32u..], 2u+1 the high ones; the Q5_K
// fifth bits are bit 2u / 2u+1 of qh[l].
template <bool kFifthBit, class Block>
Sums SumsQ45K(const Block& x, const BlockQ8_K& a) {
  Sums s;
  for (int u = 0; u < 4; ++u) {
    uint8_t sc_lo, m_lo, sc_hi, m_hi;
    quant::GetScaleMinK4(2 * u, x.scales, &sc_lo, &m_lo);
    quant::GetScaleMinK4(2 * u + 1, x.scales, &sc_hi, &m_hi);
    int32_t p_lo = 0, p_hi = 0;
    for (int l = 0; l < 32; ++l) {
      int q_lo = x.qs[32 * u + l] & 0xF, q_hi = x.qs[32 * u + l] >> 4;
      if constexpr (kFifthBit) {
        q_lo += 16 * ((x.qh[l] >> (2 * u)) & 1);
        q_hi += 16 * ((x.qh[l] >> (2 * u + 1)) & 1);
      }
      p_lo += q_lo * a.qs[64 * u + l];
      p_hi += q_hi * a.qs[64 * u + 32 + l];
    }
    s.i += sc_lo * p_lo + sc_hi * p_hi;
    s.m += m_lo * (a.bsums[4 * u] + a.bsums[4 * u + 1]) + m_hi * (a.bsums[4 * u + 2] + a.bsums[4 * u + 3]);
  }
  return s;
}

// spec §9 Q6_K.
Sums SumsQ6K(const BlockQ6_K& x, const BlockQ8_K& a) {
  Sums s;
  for (int c = 0; c < 2; ++c) {
    const uint8_t* L = x.ql + 64 * c;
    const uint8_t* H = x.qh + 32 * c;
    const int8_t* S = x.scales + 8 * c;
    const int8_t* q8 = a.qs + 128 * c;
    int32_t p[8] = {};  // p[2k + l/16]: quarter k (32 elements), half l/16
    for (int l = 0; l < 32; ++l) {
      const int v0 = ((L[l] & 0xF) | (((H[l] >> 0) & 3) << 4)) - 32;
      const int v1 = ((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32;
      const int v2 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
      const int v3 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
      p[0 + l / 16] += v0 * q8[l];
      p[2 + l / 16] += v1 * q8[l + 32];
      p[4 + l / 16] += v2 * q8[l + 64];
      p[6 + l / 16] += v3 * q8[l + 96];
    }
    for (int g = 0; g < 8; ++g) s.i += S[g] * p[g];
  }
  return s;
}

// spec §9 IQ4_XS.
Sums SumsIQ4XS(const BlockIQ4_XS& x, const BlockQ8_K& a) {
  Sums s;
  for (int b = 0; b < 8; ++b) {
    int32_t p = 0;
    for (int j = 0; j < 16; ++j) {
      p += quant::kIq4nlValues[x.qs[16 * b + j] & 0xF] * a.qs[32 * b + j];
      p += quant::kIq4nlValues[x.qs[16 * b + j] >> 4] * a.qs[32 * b + 16 + j];
    }
    s.i += quant::IQ4XSScale(x, b) * p;
  }
  return s;
}

Sums SuperSums(const BlockQ2_K& x, const BlockQ8_K& a) { return SumsQ2K(x, a); }
Sums SuperSums(const BlockQ3_K& x, const BlockQ8_K& a) { return SumsQ3K(x, a); }
Sums SuperSums(const BlockQ4_K& x, const BlockQ8_K& a) { return SumsQ45K<false>(x, a); }
Sums SuperSums(const BlockQ5_K& x, const BlockQ8_K& a) { return SumsQ45K<true>(x, a); }
Sums SuperSums(const BlockQ6_K& x, const BlockQ8_K& a) { return SumsQ6K(x, a); }
Sums SuperSums(const BlockIQ4_XS& x, const BlockQ8_K& a) { return SumsIQ4XS(x, a); }

template <class Block>
constexpr bool kHasMins = std::is_same_v<Block, BlockQ2_K> || std::is_same_v<Block, BlockQ4_K> ||
                          std::is_same_v<Block, BlockQ5_K>;

// A row's super-blocks come from block_at(b): a reference into the row itself, or a block rebuilt
// from an interleaved group (kernels_internal.h RowBlock).
template <class Block, class BlockAt>
float Dot(BlockAt block_at, const BlockQ8_K* a, int64_t nb) {
  float sum_i = 0.f, sum_m = 0.f;
  for (int64_t b = 0; b < nb; ++b) {
    decltype(auto) w = block_at(b);
    const Sums s = SuperSums(w, a[b]);
    sum_i = std::fma(a[b].d * F16ToF32(w.d), float(s.i), sum_i);
    if constexpr (kHasMins<Block>) sum_m = std::fma(a[b].d * F16ToF32(w.dmin), float(s.m), sum_m);
  }
  return kHasMins<Block> ? sum_i - sum_m : sum_i;
}

template <class Block>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / kQK_K;
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w + size_t(r) * row_bytes);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const BlockQ8_K* a = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(act) +
                                                              size_t(t) * act_stride);
      y[t * ldy + (r - r0)] = Dot<Block>([&](int64_t b) -> const Block& { return row[b]; }, a, nb);
    }
  }
}

// The interleaved layout (kernels_internal.h): each row's blocks rebuilt, then the same Dot.
template <class Block, class R16>
void GemmR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
             int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / kQK_K;
  for (int64_t g = r0 / 16; g < r1 / 16; ++g) {
    const auto* group = reinterpret_cast<const R16*>(w + size_t(g) * 16 * row_bytes);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const BlockQ8_K* a = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(act) +
                                                              size_t(t) * act_stride);
      for (int i = 0; i < 16; ++i)
        y[t * ldy + (g * 16 + i - r0)] = Dot<Block>([&](int64_t b) { return RowBlock(group[b], i); }, a, nb);
    }
  }
}

}  // namespace

void GemmQ2_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ2_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ3_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ3_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ4_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<BlockQ4_K, BlockQ4_KR16>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<BlockQ5_K, BlockQ5_KR16>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ6_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<BlockQ6_K, BlockQ6_KR16>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_XSR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<BlockIQ4_XS, BlockIQ4_XSR16>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ5_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ6_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ6_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_XS(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockIQ4_XS>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::scalar
