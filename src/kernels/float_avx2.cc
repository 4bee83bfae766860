// AVX2 float kernels: F32, F16 and BF16 weights against f32 activations in the canonical 16-lane
// order of kernels_internal.h (two 8-lane registers per dot product, one FMA per element, the tail
// zero-padded), bit-identical to the scalar twins. F16 converts with F16C, BF16 by a 16-bit shift.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels::avx2 {
namespace {

inline float Reduce16(__m256 lo, __m256 hi) {
  const __m256 v = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Loads 16 weights starting at element i as f32 (lanes 0-7, 8-15); Tail loads the last n - i < 16
// of them zero-padded.
struct F32Ops {
  static constexpr int kBytes = 4;  // per weight
  static void Load(const uint8_t* row, int64_t i, __m256* lo, __m256* hi) {
    const float* p = reinterpret_cast<const float*>(row) + i;
    *lo = _mm256_loadu_ps(p);
    *hi = _mm256_loadu_ps(p + 8);
  }
  static void Tail(const uint8_t* row, int64_t i, int64_t n, __m256* lo, __m256* hi) {
    alignas(32) float f[16] = {};
    std::memcpy(f, reinterpret_cast<const float*>(row) + i, size_t(n - i) * sizeof(float));
    *lo = _mm256_load_ps(f);
    *hi = _mm256_load_ps(f + 8);
  }
};

struct F16Ops {
  static constexpr int kBytes = 2;
  static void Load(const uint8_t* row, int64_t i, __m256* lo, __m256* hi) {
    const __m128i* p = reinterpret_cast<const __m128i*>(row + 2 * i);
    *lo = _mm256_cvtph_ps(_mm_loadu_si128(p));
    *hi = _mm256_cvtph_ps(_mm_loadu_si128(p + 1));
  }
  static void Tail(const uint8_t* row, int64_t i, int64_t n, __m256* lo, __m256* hi) {
    alignas(32) uint16_t h[16] = {};
    std::memcpy(h, row + 2 * i, size_t(n - i) * 2);
    Load(reinterpret_cast<const uint8_t*>(h), 0, lo, hi);
  }
};

struct BF16Ops {
  static constexpr int kBytes = 2;
  static __m256 Widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static void Load(const uint8_t* row, int64_t i, __m256* lo, __m256* hi) {
    const __m128i* p = reinterpret_cast<const __m128i*>(row + 2 * i);
    *lo = Widen(_mm_loadu_si128(p));
    *hi = Widen(_mm_loadu_si128(p + 1));
  }
  static void Tail(const uint8_t* row, int64_t i, int64_t n, __m256* lo, __m256* hi) {
    alignas(32) uint16_t h[16] = {};
    std::memcpy(h, row + 2 * i, size_t(n - i) * 2);
    Load(reinterpret_cast<const uint8_t*>(h), 0, lo, hi);
  }
};

inline void LoadAct(const float* a, int64_t i, int64_t n, __m256* lo, __m256* hi) {
  if (i + 16 <= n) {
    *lo = _mm256_loadu_ps(a + i);
    *hi = _mm256_loadu_ps(a + i + 8);
  } else {
    F32Ops::Tail(reinterpret_cast<const uint8_t*>(a), i, n, lo, hi);
  }
}

template <class Ops, int R, int T>
void Tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t n,
          float* y, int64_t ldy) {
  __m256 acc[R][T][2];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    __m256 wl[R], wh[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      if (i + 16 <= n)
        Ops::Load(w + size_t(r) * row_bytes, i, &wl[r], &wh[r]);
      else
        Ops::Tail(w + size_t(r) * row_bytes, i, n, &wl[r], &wh[r]);
      // The next tile's rows (see tile_q32.h); a line per row per step (F16/BF16: twice).
      _mm_prefetch(reinterpret_cast<const char*>(w + size_t(r + R) * row_bytes) + i * Ops::kBytes, _MM_HINT_T1);
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      __m256 al, ah;
      LoadAct(reinterpret_cast<const float*>(act + size_t(t) * act_stride), i, n, &al, &ah);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        acc[r][t][0] = _mm256_fmadd_ps(wl[r], al, acc[r][t][0]);
        acc[r][t][1] = _mm256_fmadd_ps(wh[r], ah, acc[r][t][1]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * ldy + r] = Reduce16(acc[r][t][0], acc[r][t][1]);
}

// Weight rows per block of the GEMM loops.
constexpr int64_t kRowBlock = 64;

using TileFn = void (*)(const uint8_t*, size_t, const uint8_t*, size_t, int64_t, float*, int64_t);

template <class Ops, int RMAX, int TMAX>
struct Tiles {
  template <int... I>
  static constexpr std::array<TileFn, RMAX * TMAX> Make(std::integer_sequence<int, I...>) {
    return {&Tile<Ops, I / TMAX + 1, I % TMAX + 1>...};
  }
  static constexpr std::array<TileFn, RMAX * TMAX> kFns =
      Make(std::make_integer_sequence<int, RMAX * TMAX>());
};

template <class Ops, int RMAX, int TMAX>
void GemmTiled(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
               int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const uint8_t* a = static_cast<const uint8_t*>(act);
  // Blocks of kRowBlock rows (kept in L2) x all tokens, token tiles outside row tiles: the
  // activations stream once per block, the block's weights stay in cache across token tiles.
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t rb1 = std::min(r1, rb + kRowBlock);
    for (int64_t t = 0; t < n_tokens; t += TMAX) {
      const int tt = int(std::min<int64_t>(TMAX, n_tokens - t));
      for (int64_t r = rb; r < rb1; r += RMAX) {
        const int rr = int(std::min<int64_t>(RMAX, rb1 - r));
        Tiles<Ops, RMAX, TMAX>::kFns[(rr - 1) * TMAX + (tt - 1)](
            w + size_t(r) * row_bytes, row_bytes, a + size_t(t) * act_stride, act_stride, n,
            y + t * ldy + (r - r0), ldy);
      }
    }
  }
}

// GEMV: 4 rows (8 accumulators); GEMM: 2 rows x 2 tokens (16 registers in all).
template <class Ops>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  if (n_tokens == 1)
    GemmTiled<Ops, 4, 1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
  else
    GemmTiled<Ops, 2, 2>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace

void AccumulateF32(const float* w, const float* a, int64_t n, float* acc16) {
  __m256 lo = _mm256_loadu_ps(acc16), hi = _mm256_loadu_ps(acc16 + 8);
  for (int64_t i = 0; i < n; i += 16) {
    __m256 wl, wh, al, ah;
    LoadAct(w, i, n, &wl, &wh);
    LoadAct(a, i, n, &al, &ah);
    lo = _mm256_fmadd_ps(wl, al, lo);
    hi = _mm256_fmadd_ps(wh, ah, hi);
  }
  _mm256_storeu_ps(acc16, lo);
  _mm256_storeu_ps(acc16 + 8, hi);
}

void GemmF32(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<F32Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<F16Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmBF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BF16Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx2
