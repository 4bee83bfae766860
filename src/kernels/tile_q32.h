// The tile loop of the 32-element-block kernels (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL x ActQ8x32),
// shared by q32_avx2.cc and q32_avx512.cc, which both work on 256-bit registers and differ only in how a
// block's 8 lane sums are formed (maddubs+madd vs VNNI). Include it only from those files: it has
// internal linkage throughout so each ISA keeps its own copy (no COMDAT merging across ISAs).
//
// A tile is R weight rows x T tokens; its R*T accumulators stay in registers and each weight
// block is decoded once per tile, then used for T tokens. The float steps follow the canonical
// order of kernels_internal.h exactly, so every tile shape gives the same bits as GEMV and as the
// scalar twin.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/kernels_internal.h"

namespace mla::kernels {
namespace {

// Reduce8 of kernels_internal.h on one register.
inline float HsumPs(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An f16 value as 8 f32 lanes (broadcast the 16 bits, then one conversion).
inline __m256 BroadcastF16(const uint16_t& h) { return _mm256_cvtph_ps(_mm_set1_epi16(short(h))); }

// 16 packed bytes -> 32 bytes: the low nibbles (elements 0..15) then the high ones (16..31).
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i xx = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
  return _mm256_and_si256(xx, _mm256_set1_epi8(0x0F));
}

// Ops: using Block; static constexpr bool kMins (Q4_1 / Q5_1: blocks have a min m); struct W (a
// decoded block); static W Load(const Block&);
// static __m256i Dot(const W&, __m256i act_qs, __m256i act_neg_sums) -> the 8 lane sums p_j.
template <class Ops, int R, int T>
void TileQ32(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride,
             int64_t nb, float* y, int64_t ldy) {
  using Block = typename Ops::Block;
  __m256 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    typename Ops::W wv[R];
    __m256 dw[R], mw[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const Block& blk = reinterpret_cast<const Block*>(w + size_t(r) * row_bytes)[b];
      // The same block R rows on (the next tile): R interleaved short rows are too many streams
      // for the hardware prefetchers when the weights come from DRAM. Into L2 (more misses in
      // flight); a hint, so reading past the weights is harmless.
      _mm_prefetch(reinterpret_cast<const char*>(&blk) + R * row_bytes, _MM_HINT_T1);
      wv[r] = Ops::Load(blk);
      dw[r] = BroadcastF16(blk.d);
      if constexpr (Ops::kMins) mw[r] = BroadcastF16(blk.m);
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const ActQ8x32& a = reinterpret_cast<const ActQ8x32*>(act + size_t(t) * act_stride)[b];
      const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
      const __m256i neg = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.neg_sums));
      const __m256 ad = _mm256_broadcast_ss(&a.d);
      __m256 sum_a;  // min types: neg_sums holds the plain lane sums of a; times d_a
      if constexpr (Ops::kMins) sum_a = _mm256_mul_ps(_mm256_cvtepi32_ps(neg), ad);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m256i p = Ops::Dot(wv[r], aq, neg);
        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], ad), _mm256_cvtepi32_ps(p), acc[r][t]);
        if constexpr (Ops::kMins) acc[r][t] = _mm256_fmadd_ps(mw[r], sum_a, acc[r][t]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * ldy + r] = HsumPs(acc[r][t]);
}

// Byte j = 0x10 where bit j of the little-endian u32 at qh is set (the fifth bits of Q5_0 / Q5_1).
inline __m256i FifthBitsAvx2(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(h)), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                                  2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Weight rows per block of the GEMM loops.
constexpr int64_t kRowBlock = 64;

using TileFn = void (*)(const uint8_t*, size_t, const uint8_t*, size_t, int64_t, float*, int64_t);

template <class Ops, int RMAX, int TMAX>
struct TileTable {
  template <int... I>
  static constexpr std::array<TileFn, RMAX * TMAX> Make(std::integer_sequence<int, I...>) {
    return {&TileQ32<Ops, I / TMAX + 1, I % TMAX + 1>...};
  }
  static constexpr std::array<TileFn, RMAX * TMAX> kFns =
      Make(std::make_integer_sequence<int, RMAX * TMAX>());
};

// Rows in tiles of up to RMAX, tokens in tiles of up to TMAX (edges use smaller tiles).
template <class Ops, int RMAX, int TMAX>
void GemmQ32(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / 32;
  const uint8_t* a = static_cast<const uint8_t*>(act);
  // Blocks of kRowBlock rows (kept in L2) x all tokens, token tiles outside row tiles: the
  // activations stream once per block, the block's weights stay in cache across token tiles.
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t rb1 = std::min(r1, rb + kRowBlock);
    for (int64_t t = 0; t < n_tokens; t += TMAX) {
      const int tt = int(std::min<int64_t>(TMAX, n_tokens - t));
      for (int64_t r = rb; r < rb1; r += RMAX) {
        const int rr = int(std::min<int64_t>(RMAX, rb1 - r));
        TileTable<Ops, RMAX, TMAX>::kFns[(rr - 1) * TMAX + (tt - 1)](
            w + size_t(r) * row_bytes, row_bytes, a + size_t(t) * act_stride, act_stride, nb,
            y + t * ldy + (r - r0), ldy);
      }
    }
  }
}

}  // namespace
}  // namespace mla::kernels
