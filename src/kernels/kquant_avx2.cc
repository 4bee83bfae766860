// AVX2 kernels of the 256-element super-block types (Q2_K .. Q6_K, IQ4_XS x Q8_K): exact int32
// sums per super-block with maddubs (unsigned levels x signed activations, pairs to i16) and madd
// by the sub-block scales (pairs to i32); IQ4_XS uses the sign trick on its signed grid values.
#include "kernels/tile_k.h"

namespace mla::kernels::avx2 {
namespace {

using quant::BlockIQ4_XS;
using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 8 small int32 scales -> dword j = scale j in both 16-bit halves, so vpermd(set1(j)) broadcasts
// scale j as 16 i16 lanes (the madd multiplier).
inline __m256i ScalePairs(__m256i s32) { return _mm256_or_si256(_mm256_and_si256(s32, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(s32, 16)); }
inline __m256i Broadcast16(__m256i pairs, int j) { return _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(j)); }

// 16 i16 scales (one per 16 levels) -> the madd multiplier of 32 levels 32j .. 32j+31: scale 2j in
// the low 128 bits, 2j+1 in the high (dword j of s16 holds both; spread it, then pick a word).
inline __m256i PairScales(__m256i s16, int j) {
  const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3,
                                        2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  return _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(j)), pick);
}

// Sum of the products of 8 runs of 32 levels with activations a[32j ..], each run with its own
// madd multiplier.
inline __m256i DotRuns(const __m256i* q, const __m256i* sc, const int8_t* a) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int j = 0; j < 8; j += 2) {
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], Load256(a + 32 * j)), sc[j]));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j + 1], Load256(a + 32 * j + 32)), sc[j + 1]));
  }
  return _mm256_add_epi32(acc0, acc1);
}

// spec §9 Q2_K / Q3_K: the 32 levels 128c + 32j + (0..31) are bits 2j, 2j+1 of qs[32c .. 32c+31]
// (sub-blocks 8c+2j and 8c+2j+1); the Q3_K high bit is bit 4c+j of hmask[0..31].
template <bool kQ3>
struct Q23KOps {
  using Block = std::conditional_t<kQ3, BlockQ3_K, BlockQ2_K>;
  static constexpr bool kMins = !kQ3;
  struct W {
    __m256i q[8];   // unsigned levels (Q3_K: level + 4)
    __m256i sc[8];  // PairScales
    __m256i s16;    // Q2_K: the 16 mins; Q3_K: the 16 signed scales (for the +4 of the levels)
  };
  static void Load(const Block& x, W* w) {
    const __m256i two_bits = _mm256_set1_epi8(3);
    __m256i h;
    if constexpr (kQ3) h = Load256(x.hmask);
#pragma GCC unroll 2
    for (int c = 0; c < 2; ++c) {
      const __m256i q = Load256(x.qs + 32 * c);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        w->q[4 * c + j] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), two_bits);
        if constexpr (kQ3) {
          const int k = 4 * c + j;  // bit k of hmask -> the value 4
          const __m256i hb = k >= 2 ? _mm256_srli_epi16(h, k - 2) : _mm256_slli_epi16(h, 2 - k);
          w->q[k] = _mm256_or_si256(w->q[k], _mm256_and_si256(hb, _mm256_set1_epi8(4)));
        }
      }
    }
    __m256i s16;
    if constexpr (kQ3) {
      s16 = _mm256_cvtepi8_epi16(Q3KScales(x.scales));
      w->s16 = s16;
    } else {
      const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
      s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc, _mm_set1_epi8(0x0F)));
      w->s16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(0x0F)));
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) w->sc[j] = PairScales(s16, j);
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    const __m256i acc = DotRuns(w.q, w.sc, a.qs);
    const __m256i bs = _mm256_madd_epi16(Load256(a.bsums), w.s16);
    if constexpr (kQ3) {
      *vi = _mm256_sub_epi32(acc, _mm256_slli_epi32(bs, 2));
    } else {
      *vi = acc;
      *vm = bs;
    }
  }
};

// Sub-block j of Q4_K / Q5_K is 32 levels against activations qs[32j..32j+31].
template <bool kFifthBit>
struct Q45KOps {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  static constexpr bool kMins = true;
  struct W {
    __m256i q[8];   // levels of sub-block j, unsigned
    __m256i sc[8];  // scale j as 16 x i16
    __m256i mins;   // m0, m0, m1, m1, ... as i16 (pairs with bsums)
  };
  static void Load(const Block& x, W* w) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i hb;
    if constexpr (kFifthBit) hb = Load256(x.qh);
#pragma GCC unroll 16
    for (int u = 0; u < 4; ++u) {
      const __m256i v = Load256(x.qs + 32 * u);
      w->q[2 * u] = _mm256_and_si256(v, low4);
      w->q[2 * u + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    if constexpr (kFifthBit) {
      // Bit j of qh[l] moved to bit 4 (the value 16) of level l of sub-block j.
      const __m256i bit4 = _mm256_set1_epi8(0x10);
      w->q[0] = _mm256_or_si256(w->q[0], _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
      w->q[1] = _mm256_or_si256(w->q[1], _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
      w->q[2] = _mm256_or_si256(w->q[2], _mm256_and_si256(_mm256_slli_epi16(hb, 2), bit4));
      w->q[3] = _mm256_or_si256(w->q[3], _mm256_and_si256(_mm256_slli_epi16(hb, 1), bit4));
      w->q[4] = _mm256_or_si256(w->q[4], _mm256_and_si256(hb, bit4));
      w->q[5] = _mm256_or_si256(w->q[5], _mm256_and_si256(_mm256_srli_epi16(hb, 1), bit4));
      w->q[6] = _mm256_or_si256(w->q[6], _mm256_and_si256(_mm256_srli_epi16(hb, 2), bit4));
      w->q[7] = _mm256_or_si256(w->q[7], _mm256_and_si256(_mm256_srli_epi16(hb, 3), bit4));
    }
    uint64_t sc, m;
    UnpackScalesK4(x.scales, &sc, &m);
    const __m256i pairs = ScalePairs(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(sc))));
#pragma GCC unroll 16
    for (int j = 0; j < 8; ++j) w->sc[j] = Broadcast16(pairs, j);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(m)));
    w->mins = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    *vi = DotRuns(w.q, w.sc, a.qs);
    *vm = _mm256_madd_epi16(Load256(a.bsums), w.mins);
  }
};

// spec §9 Q6_K: quarter k of half c (32 levels) is W::q[4c + k], against activations
// qs[32 (4c + k) ...]; its first 16 levels use scale 8c + 2k, the next 16 scale 8c + 2k + 1.
struct Q6KOps {
  using Block = BlockQ6_K;
  static constexpr bool kMins = false;
  struct W {
    __m256i q[8];   // levels in [0, 63]
    __m256i sc[8];  // i16: scale 2j in the low 128 bits, 2j+1 in the high
    __m256i s16;    // the 16 scales as i16 (for the -32 offset: 32 * sum scale_g * bsums_g)
  };
  static void Load(const Block& x, W* w) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), hi2 = _mm256_set1_epi8(0x30);
#pragma GCC unroll 16
    for (int c = 0; c < 2; ++c) {
      const __m256i l0 = Load256(x.ql + 64 * c), l1 = Load256(x.ql + 64 * c + 32);
      const __m256i h = Load256(x.qh + 32 * c);
      w->q[4 * c + 0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(h, 4), hi2));
      w->q[4 * c + 1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(h, 2), hi2));
      w->q[4 * c + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(h, hi2));
      w->q[4 * c + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(h, 2), hi2));
    }
    w->s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) w->sc[j] = PairScales(w->s16, j);
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i*) {
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(Load256(a.bsums), w.s16), 5);
    *vi = _mm256_sub_epi32(DotRuns(w.q, w.sc, a.qs), offset);
  }
};

// spec §9 IQ4_XS: sub-block b is qs[16b..16b+15] (low nibbles, then high) against qs[32b..].
struct IQ4XSOps {
  using Block = BlockIQ4_XS;
  static constexpr bool kMins = false;
  struct W {
    __m256i v[8];    // grid values of sub-block b, signed
    __m256i abs[8];  // |v|
    __m256i sc[8];   // ls_b - 32 as 16 x i16
  };
  static void Load(const Block& x, W* w) {
    const __m256i lut = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlValues)));
    const __m256i low4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 16
    for (int b = 0; b < 8; ++b) {
      const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs + 16 * b));
      const __m256i nib = _mm256_and_si256(
          _mm256_inserti128_si256(_mm256_castsi128_si256(p), _mm_srli_epi16(p, 4), 1), low4);
      w->v[b] = _mm256_shuffle_epi8(lut, nib);
      w->abs[b] = _mm256_abs_epi8(w->v[b]);
    }
    // ls_b = low nibble b of scales_l | (2 bits b of scales_h) << 4, minus 32.
    uint32_t sl;
    std::memcpy(&sl, x.scales_l, 4);
    const __m128i l8 = _mm_cvtsi32_si128(int(sl));
    const __m128i nibbles = _mm_unpacklo_epi8(_mm_and_si128(l8, _mm_set1_epi8(0x0F)),
                                              _mm_and_si128(_mm_srli_epi16(l8, 4), _mm_set1_epi8(0x0F)));
    const __m256i hi = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(x.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
        _mm256_set1_epi32(3));
    const __m256i ls = _mm256_sub_epi32(
        _mm256_or_si256(_mm256_cvtepu8_epi32(nibbles), _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    const __m256i pairs = ScalePairs(ls);
#pragma GCC unroll 16
    for (int b = 0; b < 8; ++b) w->sc[b] = Broadcast16(pairs, b);
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i*) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int b = 0; b < 8; b += 2) {
      const __m256i a0 = Load256(a.qs + 32 * b), a1 = Load256(a.qs + 32 * b + 32);
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs[b], _mm256_sign_epi8(a0, w.v[b])), w.sc[b]));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs[b + 1], _mm256_sign_epi8(a1, w.v[b + 1])), w.sc[b + 1]));
    }
    *vi = _mm256_add_epi32(acc0, acc1);
  }
};

}  // namespace

void GemmQ2_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<Q23KOps<false>>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ3_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<Q23KOps<true>>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<Q45KOps<false>>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<Q45KOps<true>>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ6_K(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<Q6KOps>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_XS(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmKAuto<IQ4XSOps>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx2
