// AVX2 kernels of the row-interleaved layout (kernels_internal.h BlockR16): a group's 16 rows
// are done as two halves of 8 (one 32-bit lane per row; AVX2 has 16 registers). Without VNNI a
// 4-byte lane product is maddubs + madd: Q4_0's unsigned nibbles directly (started from neg_sum),
// Q8_0 and IQ4_NL as signed levels with the sign moved onto the activation (|w| <= 128, so the
// 16-bit pair sums cannot saturate). The integer block sums are exact, so the results equal the
// AVX-512 and scalar ones bit for bit.
#include <immintrin.h>

#include "kernels/tile_r16.h"

namespace mla::kernels::avx2 {
namespace {

inline __m256i LanePairs(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Load(block, half, w): W[j] for rows 8·half .. 8·half+7, paired with activation quants 4j...
// Dot(w, a_quad) -> 8 lane sums; kStartNeg: whether the sums start from the activation neg_sum.
struct Q4_0Ops {
  using Block = BlockQ4_0R16;
  static constexpr bool kStartNeg = true;
  static void Load(const Block& x, int half, __m256i* w) {
    const __m256i m = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q[c] + 32 * half));
      w[c] = _mm256_and_si256(v, m);
      w[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    }
  }
  static __m256i Dot(__m256i w, __m256i a) { return LanePairs(w, a); }
};
struct SignedOps {
  static constexpr bool kStartNeg = false;
  static __m256i Dot(__m256i w, __m256i a) {
    return LanePairs(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
  }
};
struct IQ4_NLOps : SignedOps {
  using Block = BlockQ4_0R16;
  static void Load(const Block& x, int half, __m256i* w) {
    const __m256i lut = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38,
                                         53, 69, 89, 113, -127, -104, -83, -65, -49, -35, -22, -10,
                                         1, 13, 25, 38, 53, 69, 89, 113);
    Q4_0Ops::Load(x, half, w);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) w[j] = _mm256_shuffle_epi8(lut, w[j]);
  }
};
struct Q8_0Ops : SignedOps {
  using Block = BlockQ8_0R16;
  static void Load(const Block& x, int half, __m256i* w) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c)
      w[c] = _mm256_xor_si256(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q[c] + 32 * half)),
          _mm256_set1_epi8(char(0x80)));  // back to the signed level
  }
};

template <class Ops>
struct TileOf {
  template <int T>
  struct Tile {
    static void Run(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride,
                    float* y, int64_t ldy) {
      const auto* blk = reinterpret_cast<const typename Ops::Block*>(group);
      for (int half = 0; half < 2; ++half) {
        __m256 acc[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
          __m256i w[8];
          Ops::Load(blk[b], half, w);
          const __m256 dw = _mm256_cvtph_ps(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].d + 8 * half)));
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            const ActQ8x32& a = reinterpret_cast<const ActQ8x32*>(act + size_t(t) * act_stride)[b];
            __m256i s = Ops::kStartNeg ? _mm256_set1_epi32(a.neg_sum) : _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j)
              s = _mm256_add_epi32(s, Ops::Dot(w[j], _mm256_set1_epi32(Quad(a, 4 * j))));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(s), acc[t]);
          }
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ldy + 8 * half, acc[t]);
      }
    }
  };
};

constexpr int kTokens = 4;

}  // namespace

void GemmQ4_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<Q4_0Ops>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ8_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<Q8_0Ops>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_NLR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<IQ4_NLOps>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx2
