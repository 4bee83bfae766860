// AVX-512 VNNI kernels of the row-interleaved layouts (kernels_internal.h BlockR16 and the K-quant
// blocks): each 32-bit lane of a 512-bit register is one of the group's 16 rows. A 32-element block
// is 8 VPDPBUSD per token (one per 4 columns, the activation's 4 bytes broadcast), started from the
// activation's neg_sum, then one conversion and one fused multiply-add for all 16 rows; the K-quants
// (below) keep exact integer sums per super-block and the row-major kernels' float steps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <type_traits>

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
// The K-quant tiles keep 2-4 integer accumulators per token besides the float sums: 4 tokens fill
// the 32 registers.
constexpr int kKTokens = 4;

// The super-block b of T tokens' Q8_K activations, and the float step of the row-major K-quant
// kernels for 16 rows: sum[t] = fma(d_a · f32(d[row]), float(sums[t]), sum[t]).
template <int T>
struct KActs {
  const quant::BlockQ8_K* a[T];
  KActs(const uint8_t* act, size_t act_stride, int64_t b) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const quant::BlockQ8_K*>(act + size_t(t) * act_stride) + b;
  }
  const quant::BlockQ8_K* operator[](int t) const { return a[t]; }
  void AddScaled(const uint16_t* d, const __m512i (&sums)[T], __m512 (&sum)[T]) const {
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      sum[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(a[t]->d), dw), _mm512_cvtepi32_ps(sums[t]), sum[t]);
  }
};

// Every cache line of the block `ahead` blocks after x into L2 (a group's blocks and the groups
// are contiguous). Q5_K reads its quants and its fifth bits as two interleaved runs, which the
// hardware prefetcher does not follow (from DRAM: 10 GB/s without this, 21 with it, kernels_bench
// Gemv/q5_K/avx512/96MiB/r16); Q4_K and Q6_K read each block in memory order and were slower with it.
template <class R16>
inline void PrefetchBlock(const R16* x, int ahead) {
  const char* p = reinterpret_cast<const char*>(x + ahead);
  for (size_t off = 0; off < sizeof(R16); off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
}

// Q4_K / Q5_K (BlockQ4_KR16 / BlockQ5_KR16) against Q8_K: per super-block and token, the exact
// integer sums of the row-major kernel in 16 lanes — M = Σ_s min_s·bsum_s, I = Σ_s scale_s·Σ q·a
// (VPDPBUSD per sub-block, then VPMULLD by the scales) — then the same two float chains. Q5_K's
// fifth bits are OR-ed into bit 4 of each level. The quants are read in memory order (the
// hardware prefetcher follows one stream; chunks taken 512 bytes apart halved the rate from DRAM);
// a sub-block's sum is split over J accumulators so that even one token has 8 independent
// VPDPBUSD chains.
template <class R16, int T>
struct Q45_KTile {
  static constexpr int J = T == 1 ? 4 : T == 2 ? 2 : 1;
  static constexpr bool kFifthBit = std::is_same_v<R16, BlockQ5_KR16>;
  // Bit `from` of every byte of v moved to bit 4 (the rest cleared).
  static __m512i BitTo4(__m512i v, int from) {
    const __m512i b4 = _mm512_set1_epi8(0x10);
    if (from <= 4) return _mm512_and_si512(_mm512_slli_epi16(v, 4 - from), b4);
    return _mm512_and_si512(_mm512_srli_epi16(v, from - 4), b4);
  }
  static void Run(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride, float* y,
                  int64_t ldy) {
    const auto* blk = reinterpret_cast<const R16*>(group);
    const __m512i low4 = _mm512_set1_epi8(0x0F), low6 = _mm512_set1_epi32(63);
    const __m512i nib = _mm512_set1_epi32(0x0F), top2 = _mm512_set1_epi32(0x30);
    __m512 sum_i[T], sum_m[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) sum_i[t] = sum_m[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const R16& x = blk[b];
      if constexpr (kFifthBit) PrefetchBlock(&x, 2);
      const KActs<T> a(act, act_stride, b);
      const __m512i w0 = _mm512_loadu_si512(x.scales[0]), w1 = _mm512_loadu_si512(x.scales[1]);
      const __m512i w2 = _mm512_loadu_si512(x.scales[2]);
      // quant::GetScaleMinK4 in 16 lanes: s < 4 from the low 6 bits of word 0 (scale) / 1 (min),
      // s >= 4 from a nibble of word 2 and the top 2 bits of word 0 / 1.
      auto scale = [&](int s) {
        if (s < 4) return _mm512_and_si512(_mm512_srli_epi32(w0, 8 * s), low6);
        return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 8 * (s - 4)), nib),
                               _mm512_and_si512(_mm512_srli_epi32(w0, 8 * (s - 4) + 2), top2));
      };
      auto min = [&](int s) {
        if (s < 4) return _mm512_and_si512(_mm512_srli_epi32(w1, 8 * s), low6);
        return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 8 * (s - 4) + 4), nib),
                               _mm512_and_si512(_mm512_srli_epi32(w1, 8 * (s - 4) + 2), top2));
      };
      // M and its float chain first, so the min registers are free for the main loop.
      {
        __m512i m[T];
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) m[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s) {
          const __m512i ms = min(s);
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t)
            m[t] = _mm512_add_epi32(
                m[t], _mm512_mullo_epi32(ms, _mm512_set1_epi32(a[t]->bsums[2 * s] + a[t]->bsums[2 * s + 1])));
        }
        a.AddScaled(x.dmin, m, sum_m);
      }
      __m512i isum[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {  // sub-blocks 2u (low nibbles) and 2u + 1 (high), chunks in order
        __m512i lo[J][T], hi[J][T];
#pragma GCC unroll 4
        for (int j = 0; j < J; ++j)
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) lo[j][t] = hi[j][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
          const __m512i v = _mm512_loadu_si512(x.q[8 * u + k]);
          __m512i wl = _mm512_and_si512(v, low4), wh = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
          if constexpr (kFifthBit) {
            const __m512i h = _mm512_loadu_si512(x.qh[k]);  // fifth bits of elements 4k.. of every sub-block
            wl = _mm512_or_si512(wl, BitTo4(h, 2 * u));
            wh = _mm512_or_si512(wh, BitTo4(h, 2 * u + 1));
          }
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            int32_t ql, qh;
            std::memcpy(&ql, a[t]->qs + 64 * u + 4 * k, 4);
            std::memcpy(&qh, a[t]->qs + 64 * u + 32 + 4 * k, 4);
            lo[k % J][t] = _mm512_dpbusd_epi32(lo[k % J][t], wl, _mm512_set1_epi32(ql));
            hi[k % J][t] = _mm512_dpbusd_epi32(hi[k % J][t], wh, _mm512_set1_epi32(qh));
          }
        }
        const __m512i sl = scale(2 * u), sh = scale(2 * u + 1);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
#pragma GCC unroll 4
          for (int j = 1; j < J; ++j) {
            lo[0][t] = _mm512_add_epi32(lo[0][t], lo[j][t]);
            hi[0][t] = _mm512_add_epi32(hi[0][t], hi[j][t]);
          }
          isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[0][t], sl),
                                                               _mm512_mullo_epi32(hi[0][t], sh)));
        }
      }
      a.AddScaled(x.d, isum, sum_i);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, _mm512_sub_ps(sum_i[t], sum_m[t]));
  }
};

// Q6_K (BlockQ6_KR16) against Q8_K: levels q = 6-bit unsigned (VPDPBUSD), v = q - 32, so per
// 16-element sub-block g, Σ v·a = Σ q·a - 32·bsum_g; I = Σ_g scale_g·(that) with the signed 8-bit
// scales (VPMULLD), then the row-major kernel's float chain. The quants are read in memory order,
// three words per (half c, elements 4l.. of each quarter); for T = 1 and 2 a sub-block's sum is
// split over J accumulators (8 independent chains).
template <int T>
struct Q6_KTile {
  static constexpr int J = T == 1 ? 2 : 1;
  static void Run(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride, float* y,
                  int64_t ldy) {
    const auto* blk = reinterpret_cast<const BlockQ6_KR16*>(group);
    const __m512i low4 = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x30);
    __m512 sum[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) sum[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_KR16& x = blk[b];
      const KActs<T> a(act, act_stride, b);
      __m512i isum[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 2
      for (int c = 0; c < 2; ++c)
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {  // l = 4h .. 4h+3: sub-blocks 8c + 2k + h of quarters k
          __m512i acc[4][J][T];
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
            for (int j = 0; j < J; ++j)
#pragma GCC unroll 8
              for (int t = 0; t < T; ++t) acc[k][j][t] = _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            const int l = 4 * h + i;
            const __m512i A = _mm512_loadu_si512(x.q[8 * c + l][0]), B = _mm512_loadu_si512(x.q[8 * c + l][1]);
            const __m512i H = _mm512_loadu_si512(x.q[8 * c + l][2]);
            const __m512i w[4] = {
                _mm512_or_si512(_mm512_and_si512(A, low4), _mm512_and_si512(_mm512_slli_epi16(H, 4), two)),
                _mm512_or_si512(_mm512_and_si512(B, low4), _mm512_and_si512(_mm512_slli_epi16(H, 2), two)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), low4), _mm512_and_si512(H, two)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(B, 4), low4),
                                _mm512_and_si512(_mm512_srli_epi16(H, 2), two))};
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k)
#pragma GCC unroll 8
              for (int t = 0; t < T; ++t) {
                int32_t q;
                std::memcpy(&q, a[t]->qs + 128 * c + 32 * k + 4 * l, 4);
                acc[k][i % J][t] = _mm512_dpbusd_epi32(acc[k][i % J][t], w[k], _mm512_set1_epi32(q));
              }
          }
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            const int g = 8 * c + 2 * k + h;
            // Scale g: byte g % 4 of word g / 4, sign-extended.
            const __m512i sw = _mm512_loadu_si512(x.scales[g / 4]);
            const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(sw, 24 - 8 * (g % 4)), 24);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
#pragma GCC unroll 2
              for (int j = 1; j < J; ++j) acc[k][0][t] = _mm512_add_epi32(acc[k][0][t], acc[k][j][t]);
              const __m512i p = _mm512_sub_epi32(acc[k][0][t], _mm512_set1_epi32(32 * a[t]->bsums[g]));
              isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p, sc));
            }
          }
        }
      a.AddScaled(x.d, isum, sum);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, sum[t]);
  }
};

// IQ4_XS (BlockIQ4_XSR16) against Q8_K: the grid values + 128 (unsigned, VPSHUFB as IQ4_NL) in
// VPDPBUSD, so per 32-element sub-block Σ v·a = Σ (v + 128)·a - 128·bsum; I = Σ_b (ls_b - 32)·that
// (VPMULLD), then the row-major kernel's float chain. The quants are read in memory order.
template <int T>
struct IQ4_XSTile {
  static void Run(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride, float* y,
                  int64_t ldy) {
    const auto* blk = reinterpret_cast<const BlockIQ4_XSR16*>(group);
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
        1, 24, 45, 63, 79, 93, 106, 118, char(129), char(141), char(153), char(166), char(181),
        char(197), char(217), char(241)));  // kIq4nlValues + 128
    const __m512i low4 = _mm512_set1_epi8(0x0F), nib = _mm512_set1_epi32(0x0F), two = _mm512_set1_epi32(3);
    __m512 sum[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) sum[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockIQ4_XSR16& x = blk[b];
      const KActs<T> a(act, act_stride, b);
      const __m512i sl = _mm512_loadu_si512(x.scales_l[0]);
      const __m512i sh = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.scales_h)));
      __m512i isum[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int s = 0; s < 8; ++s) {
        __m512i lo[T], hi[T];
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int m = 0; m < 4; ++m) {
          const __m512i v = _mm512_loadu_si512(x.q[4 * s + m]);
          const __m512i wl = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
          const __m512i wh = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            int32_t ql, qh;
            std::memcpy(&ql, a[t]->qs + 32 * s + 4 * m, 4);
            std::memcpy(&qh, a[t]->qs + 32 * s + 16 + 4 * m, 4);
            lo[t] = _mm512_dpbusd_epi32(lo[t], wl, _mm512_set1_epi32(ql));
            hi[t] = _mm512_dpbusd_epi32(hi[t], wh, _mm512_set1_epi32(qh));
          }
        }
        // quant::IQ4XSScale in 16 lanes.
        const __m512i ls = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(sl, 8 * (s / 2) + 4 * (s % 2)), nib),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(sh, 2 * s), two), 4));
        const __m512i scale = _mm512_sub_epi32(ls, _mm512_set1_epi32(32));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const __m512i p = _mm512_sub_epi32(_mm512_add_epi32(lo[t], hi[t]),
                                             _mm512_set1_epi32(128 * (a[t]->bsums[2 * s] + a[t]->bsums[2 * s + 1])));
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p, scale));
        }
      }
      a.AddScaled(x.d, isum, sum);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, sum[t]);
  }
};

template <int T>
using Q4_KTile = Q45_KTile<BlockQ4_KR16, T>;
template <int T>
using Q5_KTile = Q45_KTile<BlockQ5_KR16, T>;

}  // namespace

void GemmQ4_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<Q4_0Ops>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ8_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<Q8_0Ops>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<Q4_KTile, kKTokens, quant::kQK_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<Q5_KTile, kKTokens, quant::kQK_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ6_KR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<Q6_KTile, kKTokens, quant::kQK_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_XSR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<IQ4_XSTile, kKTokens, quant::kQK_K>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_NLR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<TileOf<IQ4_NLOps>::Tile, kTokens>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx512
