// AVX-512 VNNI kernels of the row-interleaved layout (kernels_internal.h BlockR16): each 32-bit
// lane of a 512-bit register is one of the group's 16 rows, so a block is 8 VPDPBUSD per token
// (one per 4 columns, the activation's 4 bytes broadcast), started from the activation's neg_sum,
// then one conversion and one fused multiply-add for all 16 rows.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "kernels/tile_r16.h"

namespace mla::kernels::avx512 {
namespace {

// Weight registers W[j] pair with the activation's quants 4j .. 4j+3 (the chunk order of
// BlockR16: low nibbles are elements 4c.., high nibbles 16 + 4c..).
struct Q4_0Ops {
  using Block = BlockQ4_0R16;
  static void Load(const Block& x, __m512i* w) {
    const __m512i m = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(x.q[c]);
      w[c] = _mm512_and_si512(v, m);
      w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    }
  }
};
struct IQ4_NLOps {
  using Block = BlockQ4_0R16;
  static void Load(const Block& x, __m512i* w) {
    // kIq4nlValues + 128, in every 128-bit lane.
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
        1, 24, 45, 63, 79, 93, 106, 118, char(129), char(141), char(153), char(166), char(181),
        char(197), char(217), char(241)));
    Q4_0Ops::Load(x, w);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) w[j] = _mm512_shuffle_epi8(lut, w[j]);
  }
};
struct Q8_0Ops {
  using Block = BlockQ8_0R16;
  static void Load(const Block& x, __m512i* w) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) w[c] = _mm512_loadu_si512(x.q[c]);
  }
};

template <class Ops>
struct TileOf {
  template <int T>
  struct Tile {
    static void Run(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride,
                    float* y, int64_t ldy) {
      const auto* blk = reinterpret_cast<const typename Ops::Block*>(group);
      __m512 acc[T];
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
      for (int64_t b = 0; b < nb; ++b) {
        __m512i w[8];
        Ops::Load(blk[b], w);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b].d)));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActQ8x32& a = reinterpret_cast<const ActQ8x32*>(act + size_t(t) * act_stride)[b];
          // Two chains so that GEMV is not bound by the latency of one chain of 8.
          __m512i s0 = _mm512_set1_epi32(a.neg_sum), s1 = _mm512_setzero_si512();
#pragma GCC unroll 8
          for (int j = 0; j < 8; j += 2) {
            s0 = _mm512_dpbusd_epi32(s0, w[j], _mm512_set1_epi32(Quad(a, 4 * j)));
            s1 = _mm512_dpbusd_epi32(s1, w[j + 1], _mm512_set1_epi32(Quad(a, 4 * j + 4)));
          }
          const __m512 s = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
          acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a.d)), s, acc[t]);
        }
      }
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
    }
  };
};

constexpr int kTokens = 8;

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

}  // namespace mla::kernels::avx512
