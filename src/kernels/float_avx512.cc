// AVX-512 float kernels. F32, F16 and BF16 weights against f32 activations: the canonical 16-lane
// order of kernels_internal.h in one 512-bit register (masked, zero-filled loads for the tail),
// bit-identical to the scalar twins. BF16 x BF16: VDPBF16PS, two products per lane per step,
// matched by scalar::GemmBF16xBF16's emulation.
// GCC 12's AVX-512 intrinsics fill unused lanes from a deliberately self-initialized
// _mm512_undefined_*(), which -Wuninitialized reports at every use; the warning is about the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/kernels_internal.h"

namespace mla::kernels::avx512 {
namespace {

// Reduce16 of kernels_internal.h on one register.
inline float Reduce16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[t·ldy + r] = Reduce16(acc[r][t]) for an R x T tile. A full 4 x 4 tile reduces all sixteen
// registers together (45 shuffles and adds instead of 16 x 7): each level adds the same lane
// pairs as Reduce16 (upper half to lower 256, 128, then lanes 2-3 to 0-1, then 1 to 0), two or
// four registers per instruction, so every sum has Reduce16's bits.
template <int R, int T>
inline void StoreTile(__m512 (&acc)[R][T], float* y, int64_t ldy) {
  if constexpr (R == 4 && T == 4) {
    __m512 p[8], q[4], h[2];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {  // registers 2k, 2k+1 in r-major order: [8 sums of a | 8 of b]
      const __m512 a = acc[(2 * k) / 4][(2 * k) % 4], b = acc[(2 * k + 1) / 4][(2 * k + 1) % 4];
      p[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)  // registers 4k..4k+3: four sums each, one per 128-bit lane
      q[k] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * k], p[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(p[2 * k], p[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int k = 0; k < 2; ++k)
      h[k] = _mm512_add_ps(_mm512_shuffle_ps(q[2 * k], q[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm512_shuffle_ps(q[2 * k], q[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    // Lane 4L + m holds register 4m + L, i.e. (r = m, t = L): token t's four rows are lanes 4t..4t+3.
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(h[0], h[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(h[0], h[1], _MM_SHUFFLE(3, 1, 3, 1)));
    _mm_storeu_ps(y, _mm512_castps512_ps128(z));
    _mm_storeu_ps(y + ldy, _mm512_extractf32x4_ps(z, 1));
    _mm_storeu_ps(y + 2 * ldy, _mm512_extractf32x4_ps(z, 2));
    _mm_storeu_ps(y + 3 * ldy, _mm512_extractf32x4_ps(z, 3));
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) y[t * ldy + r] = Reduce16(acc[r][t]);
  }
}

inline __mmask16 TailMask16(int64_t left) { return __mmask16(left >= 16 ? 0xFFFF : (1u << left) - 1); }

// 16 weights from element i as f32; the masked versions read only the elements that exist (the
// rest are 0), for the tail of a row.
struct F32Ops {
  static constexpr int kBytes = 4;  // per weight
  static __m512 Load(const uint8_t* row, int64_t i) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
  static __m512 Load(const uint8_t* row, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + i);
  }
};
struct F16Ops {
  static constexpr int kBytes = 2;
  static __m512 Load(const uint8_t* row, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
  }
  static __m512 Load(const uint8_t* row, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * i));
  }
};
struct BF16Ops {
  static constexpr int kBytes = 2;
  static __m512 Widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 Load(const uint8_t* row, int64_t i) {
    return Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
  }
  static __m512 Load(const uint8_t* row, int64_t i, __mmask16 m) {
    return Widen(_mm256_maskz_loadu_epi16(m, row + 2 * i));
  }
};

// One step of 16 elements for an R x T tile (Masked: the row's last, partial step).
template <class Ops, int R, int T, bool kMasked>
inline void Step(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride,
                 int64_t i, __mmask16 m, __m512 (&acc)[R][T]) {
  __m512 wv[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    wv[r] = kMasked ? Ops::Load(w + size_t(r) * row_bytes, i, m) : Ops::Load(w + size_t(r) * row_bytes, i);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)  // the next tile's rows (see tile_q32.h)
    _mm_prefetch(reinterpret_cast<const char*>(w + size_t(r + R) * row_bytes) + i * Ops::kBytes, _MM_HINT_T1);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const float* a = reinterpret_cast<const float*>(act + size_t(t) * act_stride) + i;
    const __m512 av = kMasked ? _mm512_maskz_loadu_ps(m, a) : _mm512_loadu_ps(a);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
  }
}

template <class Ops, int R, int T>
void Tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t n,
          float* y, int64_t ldy) {
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) Step<Ops, R, T, false>(w, row_bytes, act, act_stride, i, 0, acc);
  if (i < n) Step<Ops, R, T, true>(w, row_bytes, act, act_stride, i, TailMask16(n - i), acc);
  StoreTile(acc, y, ldy);
}

// BF16 x BF16: 32 elements per step, VDPBF16PS.
struct BF16PairOps {};
template <int R, int T>
void TileBF16Pairs(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride,
                   int64_t n, float* y, int64_t ldy) {
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 32) {
    const int64_t left = n - i;
    const __mmask32 m = left >= 32 ? 0xFFFFFFFFu : __mmask32((1u << left) - 1);
    __m512bh wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + size_t(r) * row_bytes + 2 * i);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)  // the next tile's rows (see tile_q32.h)
      _mm_prefetch(reinterpret_cast<const char*>(w + size_t(r + R) * row_bytes + 2 * i), _MM_HINT_T1);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(m, act + size_t(t) * act_stride + 2 * i);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], a);
    }
  }
  StoreTile(acc, y, ldy);
}

template <class Ops, int R, int T>
struct TileOf {
  static constexpr auto kFn = &Tile<Ops, R, T>;
};
template <int R, int T>
struct TileOf<BF16PairOps, R, T> {
  static constexpr auto kFn = &TileBF16Pairs<R, T>;
};

// Weight rows per block of the GEMM loops.
constexpr int64_t kRowBlock = 64;

using TileFn = void (*)(const uint8_t*, size_t, const uint8_t*, size_t, int64_t, float*, int64_t);

template <class Ops, int RMAX, int TMAX>
struct Tiles {
  template <int... I>
  static constexpr std::array<TileFn, RMAX * TMAX> Make(std::integer_sequence<int, I...>) {
    return {TileOf<Ops, I / TMAX + 1, I % TMAX + 1>::kFn...};
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

// GEMV: 4 rows; GEMM: 4 rows x 4 tokens (16 accumulators of 32 registers).
template <class Ops>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  if (n_tokens == 1)
    GemmTiled<Ops, 4, 1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
  else
    GemmTiled<Ops, 4, 4>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace

void AccumulateF32(const float* w, const float* a, int64_t n, float* acc16) {
  __m512 acc = _mm512_loadu_ps(acc16);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), acc);
  if (i < n) {
    const __mmask16 m = TailMask16(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, a + i), acc);
  }
  _mm512_storeu_ps(acc16, acc);
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
void GemmBF16xBF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BF16PairOps>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx512
