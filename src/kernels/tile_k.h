// The loops of the 256-element super-block kernels (Q2_K .. Q6_K, IQ4_XS x Q8_K), shared by
// kquant_avx2.cc and kquant_avx512.cc. Include it only from those files: internal linkage
// throughout, so each ISA keeps its own copy.
//
// GEMV takes 8 weight rows at a time, GEMM decodes each weight super-block once (Ops::Load) for a
// group of up to 8 tokens; Ops::Dot gives 8 int32 lanes summing to the exact I and M of
// kernels_internal.h, and the float steps are the canonical ones (run for 8 rows or 8 tokens in
// the lanes of one register), so any grouping gives the scalar twin's bits.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/kernels_internal.h"
#include "quant/blocks.h"

namespace mla::kernels {
namespace {

inline int32_t HsumEpi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// The 8 six-bit scales and mins of a Q4_K / Q5_K block (spec §9 get_scale_min_k4), as bytes
// sc[0..7] and m[0..7] of two little-endian u64s.
inline void UnpackScalesK4(const uint8_t* q, uint64_t* sc, uint64_t* m) {
  uint32_t a0, a1, a2;
  std::memcpy(&a0, q, 4);
  std::memcpy(&a1, q + 4, 4);
  std::memcpy(&a2, q + 8, 4);
  const uint32_t sc_lo = a0 & 0x3f3f3f3f, m_lo = a1 & 0x3f3f3f3f;
  const uint32_t sc_hi = (a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4);
  const uint32_t m_hi = ((a2 >> 4) & 0x0f0f0f0f) | (((a1 >> 6) & 0x03030303) << 4);
  *sc = sc_lo | uint64_t(sc_hi) << 32;
  *m = m_lo | uint64_t(m_hi) << 32;
}

// The 16 signed 6-bit scales of a Q3_K block (spec §9, minus 32) as 16 bytes: the low 4 bits of
// scale s come from byte s % 8 (low nibble for s < 8, high for s >= 8), the high 2 bits from byte
// 8 + s % 4 at bit 2 * (s / 4).
inline __m128i Q3KScales(const uint8_t* q) {
  uint32_t a0, a1, a2;
  std::memcpy(&a0, q, 4);
  std::memcpy(&a1, q + 4, 4);
  std::memcpy(&a2, q + 8, 4);
  const uint32_t m4 = 0x0F0F0F0F, m2 = 0x03030303;
  const uint32_t s0 = (a0 & m4) | ((a2 & m2) << 4);
  const uint32_t s1 = (a1 & m4) | (((a2 >> 2) & m2) << 4);
  const uint32_t s2 = ((a0 >> 4) & m4) | (((a2 >> 4) & m2) << 4);
  const uint32_t s3 = ((a1 >> 4) & m4) | (((a2 >> 6) & m2) << 4);
  return _mm_sub_epi8(_mm_setr_epi32(int(s0), int(s1), int(s2), int(s3)), _mm_set1_epi8(32));
}

// Prefetches the cache lines of [p, p + bytes) into L2 (a hint: never faults, even past the
// weights). Into L2 rather than L1: more misses can be in flight, which is what DRAM needs.
inline void PrefetchBlock(const uint8_t* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T1);
  _mm_prefetch(reinterpret_cast<const char*>(p + bytes - 1), _MM_HINT_T1);
}

// Lane j of the result = sum of the 8 lanes of v[j].
inline __m256i HsumEach8(const __m256i* v) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

// Ops: using Block; static constexpr bool kMins; struct W; static void Load(const Block&, W*);
// static void Dot(const W&, const quant::BlockQ8_K&, __m256i* i, __m256i* m): 8 int32 lanes
// whose sums are the exact I and M of one super-block (m only for kMins).

// One token, 8 weight rows at a time: per super-block the 8 rows' sums are reduced together and
// their float steps run in the 8 lanes of one register (lane k does row k's canonical scalar
// steps). In a last partial group the missing rows are skipped (their lanes read the last row's
// scales and are dropped).
template <class Ops>
void GemvK(const uint8_t* w, size_t row_bytes, const uint8_t* act, int64_t nb, int64_t r0,
           int64_t r1, float* y) {
  using Block = typename Ops::Block;
  const quant::BlockQ8_K* a = reinterpret_cast<const quant::BlockQ8_K*>(act);
  for (int64_t g = r0; g < r1; g += 8) {
    const int rr = int(std::min<int64_t>(8, r1 - g));
    const Block* row[8];
    for (int k = 0; k < 8; ++k)
      row[k] = reinterpret_cast<const Block*>(w + size_t(g + std::min(k, rr - 1)) * row_bytes);
    __m256 sum_i = _mm256_setzero_ps(), sum_m = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i vi[8], vm[8];
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        vi[k] = vm[k] = _mm256_setzero_si256();
        if (k < rr) {  // the same for the whole call: predicted
          // The same block of the next group's row: 8 short rows are too many streams for the
          // hardware prefetchers when the weights come from DRAM.
          PrefetchBlock(reinterpret_cast<const uint8_t*>(&row[k][b]) + 8 * row_bytes, sizeof(Block));
          typename Ops::W wv;
          Ops::Load(row[k][b], &wv);
          Ops::Dot(wv, a[b], &vi[k], &vm[k]);
        }
      }
      const __m256 ad = _mm256_set1_ps(a[b].d);
      const __m256 d = _mm256_cvtph_ps(_mm_setr_epi16(
          short(row[0][b].d), short(row[1][b].d), short(row[2][b].d), short(row[3][b].d),
          short(row[4][b].d), short(row[5][b].d), short(row[6][b].d), short(row[7][b].d)));
      sum_i = _mm256_fmadd_ps(_mm256_mul_ps(ad, d), _mm256_cvtepi32_ps(HsumEach8(vi)), sum_i);
      if constexpr (Ops::kMins) {
        const __m256 dmin = _mm256_cvtph_ps(_mm_setr_epi16(
            short(row[0][b].dmin), short(row[1][b].dmin), short(row[2][b].dmin), short(row[3][b].dmin),
            short(row[4][b].dmin), short(row[5][b].dmin), short(row[6][b].dmin), short(row[7][b].dmin)));
        sum_m = _mm256_fmadd_ps(_mm256_mul_ps(ad, dmin), _mm256_cvtepi32_ps(HsumEach8(vm)), sum_m);
      }
    }
    alignas(32) float out[8];
    _mm256_store_ps(out, Ops::kMins ? _mm256_sub_ps(sum_i, sum_m) : sum_i);
    for (int k = 0; k < rr; ++k) y[g - r0 + k] = out[k];
  }
}

// Up to 8 tokens per decoded super-block; the 8 tokens' sums are reduced together and their float
// steps run in the 8 lanes of one register (lane t does token t's canonical scalar steps).
template <class Ops>
void GemmK8(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int tt,
            int64_t nb, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  using Block = typename Ops::Block;
  const quant::BlockQ8_K* a[8];
  for (int t = 0; t < 8; ++t)
    a[t] = reinterpret_cast<const quant::BlockQ8_K*>(act + size_t(std::min(t, tt - 1)) * act_stride);
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w + size_t(r) * row_bytes);
    __m256 sum_i = _mm256_setzero_ps(), sum_m = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      typename Ops::W wv;
      Ops::Load(row[b], &wv);
      __m256i vi[8], vm[8];
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) {
        vi[t] = vm[t] = _mm256_setzero_si256();
        if (t < tt) Ops::Dot(wv, a[t][b], &vi[t], &vm[t]);  // the same for the whole call
      }
      const __m256 ad = _mm256_setr_ps(a[0][b].d, a[1][b].d, a[2][b].d, a[3][b].d, a[4][b].d,
                                       a[5][b].d, a[6][b].d, a[7][b].d);
      sum_i = _mm256_fmadd_ps(_mm256_mul_ps(ad, _mm256_set1_ps(_cvtsh_ss(row[b].d))),
                              _mm256_cvtepi32_ps(HsumEach8(vi)), sum_i);
      if constexpr (Ops::kMins)
        sum_m = _mm256_fmadd_ps(_mm256_mul_ps(ad, _mm256_set1_ps(_cvtsh_ss(row[b].dmin))),
                                _mm256_cvtepi32_ps(HsumEach8(vm)), sum_m);
    }
    alignas(32) float out[8];
    _mm256_store_ps(out, Ops::kMins ? _mm256_sub_ps(sum_i, sum_m) : sum_i);
    for (int t = 0; t < tt; ++t) y[t * ldy + (r - r0)] = out[t];
  }
}

template <class Ops>
void GemmKAuto(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
               int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / quant::kQK_K;
  const uint8_t* a = static_cast<const uint8_t*>(act);
  if (n_tokens == 1) {
    GemvK<Ops>(w, row_bytes, a, nb, r0, r1, y);
    return;
  }
  // Token groups outermost: a group's activations (8 rows) stay in cache across all weight rows.
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 8) {
    const int tt = int(std::min<int64_t>(8, n_tokens - t0));
    GemmK8<Ops>(w, row_bytes, a + size_t(t0) * act_stride, act_stride, tt, nb, r0, r1, y + t0 * ldy, ldy);
  }
}

}  // namespace
}  // namespace mla::kernels
