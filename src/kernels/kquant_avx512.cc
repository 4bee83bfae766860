// AVX-512 kernels of the 256-element super-block types (Q2_K .. Q6_K, IQ4_XS x Q8_K): 64 levels
// per 512-bit register, exact int32 sums per super-block. Q2_K .. Q6_K:
// maddubs (unsigned levels x activations) then VPDPWSSD by the i16 sub-block scales. IQ4_XS: grid
// values + 128 (unsigned) through VPDPBUSD, times the scales, minus 128 * scale * bsums.
// GCC 12's AVX-512 intrinsics fill unused lanes from a deliberately self-initialized
// _mm512_undefined_*(), which -Wuninitialized reports at every use; the warning is about the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/tile_k.h"

namespace mla::kernels::avx512 {
namespace {

using quant::BlockIQ4_XS;
using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m512i Load512(const void* p) { return _mm512_loadu_si512(p); }
// 4 registers of 64 unsigned levels against activations qs[64i ..]: the i16 sums of product pairs
// (maddubs) times their i16 scales, summed in int32 (two accumulators: shorter dependency chains).
inline __m512i DotRuns(const __m512i* q, const __m512i* sc, const int8_t* a) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  acc0 = _mm512_dpwssd_epi32(acc0, _mm512_maddubs_epi16(q[0], Load512(a)), sc[0]);
  acc1 = _mm512_dpwssd_epi32(acc1, _mm512_maddubs_epi16(q[1], Load512(a + 64)), sc[1]);
  acc0 = _mm512_dpwssd_epi32(acc0, _mm512_maddubs_epi16(q[2], Load512(a + 128)), sc[2]);
  acc1 = _mm512_dpwssd_epi32(acc1, _mm512_maddubs_epi16(q[3], Load512(a + 192)), sc[3]);
  return _mm512_add_epi32(acc0, acc1);
}

// 16 int32 lanes -> 8 with the same total.
inline __m256i Fold(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}
// 32 bytes at p in both halves, the low half's 16-bit lanes shifted right by a, the high half's by
// b (a broadcast load and one variable shift: no cross-lane shuffle).
inline __m512i ShiftedHalves(const void* p, int a, int b) {
  const __m512i counts = _mm512_inserti64x4(_mm512_set1_epi16(short(a)), _mm256_set1_epi16(short(b)), 1);
  return _mm512_srlv_epi16(_mm512_broadcast_i64x4(Load256(p)), counts);
}
// Byte-shuffle control that fills 128-bit lane L with word w[L] (8 copies); built at compile time.
struct alignas(64) WordPicker {
  int8_t b[64];
};
constexpr WordPicker MakePicker(int w0, int w1, int w2, int w3) {
  const int w[4] = {w0, w1, w2, w3};
  WordPicker p{};
  for (int i = 0; i < 64; ++i) p.b[i] = int8_t(2 * w[i / 16] + (i & 1));
  return p;
}
constexpr WordPicker kWords0123 = MakePicker(0, 1, 2, 3), kWords4567 = MakePicker(4, 5, 6, 7);
constexpr WordPicker kWordPairs[4] = {MakePicker(0, 0, 1, 1), MakePicker(2, 2, 3, 3),
                                      MakePicker(4, 4, 5, 5), MakePicker(6, 6, 7, 7)};
inline __m512i Picker(const WordPicker& p) { return _mm512_load_si512(p.b); }

// The i16 multipliers of 4 registers of 64 levels, one scale per 16 levels: register i gets
// scales 4i .. 4i+3, one per 128-bit lane (in-lane byte shuffles of the broadcast scales).
inline void ScalesPer16(__m256i s16, __m512i* sc) {
  const __m512i lo = _mm512_broadcast_i32x4(_mm256_castsi256_si128(s16));       // scales 0..7
  const __m512i hi = _mm512_broadcast_i32x4(_mm256_extracti128_si256(s16, 1));  // 8..15
  const __m512i first = Picker(kWords0123), second = Picker(kWords4567);
  sc[0] = _mm512_shuffle_epi8(lo, first);
  sc[1] = _mm512_shuffle_epi8(lo, second);
  sc[2] = _mm512_shuffle_epi8(hi, first);
  sc[3] = _mm512_shuffle_epi8(hi, second);
}

// spec §9 Q2_K / Q3_K: register 2c+p holds the 64 levels 128c + 64p + (0..63): bits 4p, 4p+1 then
// 4p+2, 4p+3 of qs[32c .. 32c+31] (sub-blocks 8c+4p .. 8c+4p+3); the Q3_K high bit of the 32
// levels 128c + 32j + (0..31) is bit 4c+j of hmask[0..31].
template <bool kQ3>
struct Q23KOps {
  using Block = std::conditional_t<kQ3, BlockQ3_K, BlockQ2_K>;
  static constexpr bool kMins = !kQ3;
  struct W {
    __m512i q[4];   // unsigned levels (Q3_K: level + 4)
    __m512i sc[4];  // i16: scales 4i .. 4i+3, 8 lanes each
    __m256i s16;    // Q2_K: the 16 mins; Q3_K: the 16 signed scales (for the +4 of the levels)
  };
  static void Load(const Block& x, W* w) {
    const __m512i two_bits = _mm512_set1_epi8(3);
    __m512i hh;  // Q3_K: hmask, and hmask >> 1 in the high half
    if constexpr (kQ3) hh = ShiftedHalves(x.hmask, 0, 1);
#pragma GCC unroll 2
    for (int c = 0; c < 2; ++c) {
#pragma GCC unroll 2
      for (int p = 0; p < 2; ++p) {
        const int j = 2 * p;
        __m512i v = _mm512_and_si512(ShiftedHalves(x.qs + 32 * c, 2 * j, 2 * j + 2), two_bits);
        if constexpr (kQ3) {
          // Bits 4c+j (first 32 levels) and 4c+j+1 (next 32) of hmask, as masks.
          const __mmask64 k = _mm512_test_epi8_mask(hh, _mm512_set1_epi8(char(1 << (4 * c + j))));
          v = _mm512_mask_add_epi8(v, k, v, _mm512_set1_epi8(4));
        }
        w->q[2 * c + p] = v;
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
    ScalesPer16(s16, w->sc);
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    const __m512i acc = DotRuns(w.q, w.sc, a.qs);
    const __m256i bs = _mm256_madd_epi16(Load256(a.bsums), w.s16);
    if constexpr (kQ3) {
      *vi = _mm256_sub_epi32(Fold(acc), _mm256_slli_epi32(bs, 2));
    } else {
      *vi = Fold(acc);
      *vm = bs;
    }
  }
};

// Register u holds sub-blocks 2u (low nibbles of qs[32u..]) and 2u+1 (high nibbles), which meet
// activations qs[64u .. 64u+63] in order.
template <bool kFifthBit>
struct Q45KOps {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  static constexpr bool kMins = true;
  struct W {
    __m512i q[4];   // unsigned levels
    __m512i sc[4];  // i16: scale 2u (lanes 0..15), 2u+1 (16..31)
    __m256i mins;   // m0, m0, m1, m1, ... (pairs with bsums)
  };
  static void Load(const Block& x, W* w) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i hb;  // bit 2u of lanes 0..31 = bit 2u of qh; of lanes 32..63 = bit 2u+1
    if constexpr (kFifthBit) hb = ShiftedHalves(x.qh, 0, 1);
#pragma GCC unroll 16
    for (int u = 0; u < 4; ++u) {
      w->q[u] = _mm512_and_si512(ShiftedHalves(x.qs + 32 * u, 0, 4), low4);
      if constexpr (kFifthBit) {
        const __mmask64 k = _mm512_test_epi8_mask(hb, _mm512_set1_epi8(char(1 << (2 * u))));
        w->q[u] = _mm512_mask_add_epi8(w->q[u], k, w->q[u], _mm512_set1_epi8(16));
      }
    }
    uint64_t sc, m;
    UnpackScalesK4(x.scales, &sc, &m);
    const __m512i sc8 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
#pragma GCC unroll 16
    for (int u = 0; u < 4; ++u) w->sc[u] = _mm512_shuffle_epi8(sc8, Picker(kWordPairs[u]));
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(m)));
    w->mins = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    const __m512i acc = DotRuns(w.q, w.sc, a.qs);
    *vi = Fold(acc);
    *vm = _mm256_madd_epi16(Load256(a.bsums), w.mins);
  }
};

// spec §9 Q6_K: register 2c holds quarters 0, 1 of half c, register 2c+1 quarters 2, 3; they meet
// activations qs[128c ..] and qs[128c + 64 ..]. Each run of 16 levels has its own scale.
struct Q6KOps {
  using Block = BlockQ6_K;
  static constexpr bool kMins = false;
  struct W {
    __m512i q[4];   // levels in [0, 63]
    __m512i sc[4];  // i16: scales 4i .. 4i+3, 8 lanes each
    __m256i s16;    // the 16 scales as i16 (for the -32 offset)
  };
  static void Load(const Block& x, W* w) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), hi2 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 16
    for (int c = 0; c < 2; ++c) {
      const __m512i l = Load512(x.ql + 64 * c);
      const __m512i hh = ShiftedHalves(x.qh + 32 * c, 0, 2);
      w->q[2 * c] = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(_mm512_slli_epi16(hh, 4), hi2));
      w->q[2 * c + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), _mm512_and_si512(hh, hi2));
    }
    w->s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    ScalesPer16(w->s16, w->sc);
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    const __m512i acc = DotRuns(w.q, w.sc, a.qs);
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(Load256(a.bsums), w.s16), 5);
    *vi = _mm256_sub_epi32(Fold(acc), offset);
  }
};

// spec §9 IQ4_XS: register i holds sub-blocks 2i, 2i+1 as 128-bit lanes [lo(2i), hi(2i), lo(2i+1),
// hi(2i+1)], against activations qs[64i .. 64i+63].
struct IQ4XSOps {
  using Block = BlockIQ4_XS;
  static constexpr bool kMins = false;
  struct W {
    __m512i u[4];    // grid values + 128
    __m512i sc[4];   // i32: ls - 32 of sub-block 2i (lanes 0..7), 2i+1 (8..15)
    __m256i sc32;    // the 8 scales as i32
  };
  static void Load(const Block& x, W* w) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
        1, 24, 45, 63, 79, 93, 106, 118, char(129), char(141), char(153), char(166), char(181),
        char(197), char(217), char(241)));
    const __m512i shifts = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
#pragma GCC unroll 16
    for (int i = 0; i < 4; ++i) {
      const __m512i p = _mm512_castsi256_si512(Load256(x.qs + 32 * i));
      const __m512i dup = _mm512_shuffle_i64x2(p, p, 0x50);  // 128-bit lanes 0, 0, 1, 1
      const __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(dup, shifts), _mm512_set1_epi8(0x0F));
      w->u[i] = _mm512_shuffle_epi8(lut, nib);
    }
    uint32_t sl;
    std::memcpy(&sl, x.scales_l, 4);
    const uint64_t ls = _pdep_u64(sl, 0x0F0F0F0F0F0F0F0FULL) | _pdep_u64(x.scales_h, 0x3030303030303030ULL);
    w->sc32 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(ls))), _mm256_set1_epi32(32));
#pragma GCC unroll 16
    for (int i = 0; i < 4; ++i)
      w->sc[i] = _mm512_permutexvar_epi32(
          _mm512_setr_epi32(2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i + 1,
                            2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1),
          _mm512_castsi256_si512(w->sc32));
  }
  static void Dot(const W& w, const BlockQ8_K& a, __m256i* vi, __m256i* vm) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i += 2) {
      const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u[i], Load512(a.qs + 64 * i));
      const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u[i + 1], Load512(a.qs + 64 * i + 64));
      acc0 = _mm512_add_epi32(acc0, _mm512_mullo_epi32(p0, w.sc[i]));
      acc1 = _mm512_add_epi32(acc1, _mm512_mullo_epi32(p1, w.sc[i + 1]));
    }
    const __m512i acc = _mm512_add_epi32(acc0, acc1);
    // Sum over sub-blocks of scale * (sum of its activations), for the +128 of the levels.
    const __m256i pair_sums = _mm256_madd_epi16(Load256(a.bsums), _mm256_set1_epi16(1));
    const __m256i offset = _mm256_slli_epi32(_mm256_mullo_epi32(pair_sums, w.sc32), 7);
    *vi = _mm256_sub_epi32(Fold(acc), offset);
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

}  // namespace mla::kernels::avx512
