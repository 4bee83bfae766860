// AVX2 AccumulateRows: 4 output rows x 16 columns of accumulators in registers, one pass over
// the input rows (f16 and bf16 converted in registers). Columns past the last multiple of 16 go to the
// scalar twin (same fused multiply-adds, same bits).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"

namespace mla::kernels::avx2 {
namespace {

inline __m256 Load8(DType type, const uint8_t* row, int64_t j) {
  if (type == DType::F16)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j)));
  if (type == DType::BF16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j))), 16));
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + j);
}

template <int H>
void Block(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p, int64_t ldp,
           float* o, int64_t ldo, int64_t j) {
  __m256 acc[H][2];
  for (int h = 0; h < H; ++h) {
    acc[h][0] = _mm256_loadu_ps(o + h * ldo + j);
    acc[h][1] = _mm256_loadu_ps(o + h * ldo + j + 8);
  }
  for (int64_t i = 0; i < n_rows; ++i) {
    const uint8_t* row = rows + size_t(i) * row_bytes;
    const __m256 x0 = Load8(type, row, j), x1 = Load8(type, row, j + 8);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      const __m256 ph = _mm256_set1_ps(p[h * ldp + i]);
      acc[h][0] = _mm256_fmadd_ps(ph, x0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(ph, x1, acc[h][1]);
    }
  }
  for (int h = 0; h < H; ++h) {
    _mm256_storeu_ps(o + h * ldo + j, acc[h][0]);
    _mm256_storeu_ps(o + h * ldo + j + 8, acc[h][1]);
  }
}

}  // namespace

void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  const int64_t j_end = j0 + (j1 - j0) / 16 * 16;
  for (int64_t h = 0; h < n_out; h += 4) {
    const int64_t hh = std::min<int64_t>(4, n_out - h);
    for (int64_t j = j0; j < j_end; j += 16) {
      const float* ph = p + h * ldp;
      float* oh = o + h * ldo;
      switch (hh) {
        case 4: Block<4>(type, rows, row_bytes, n_rows, ph, ldp, oh, ldo, j); break;
        case 3: Block<3>(type, rows, row_bytes, n_rows, ph, ldp, oh, ldo, j); break;
        case 2: Block<2>(type, rows, row_bytes, n_rows, ph, ldp, oh, ldo, j); break;
        default: Block<1>(type, rows, row_bytes, n_rows, ph, ldp, oh, ldo, j); break;
      }
    }
  }
  if (j_end < j1) scalar::AccumulateRowsF(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j_end, j1);
}

}  // namespace mla::kernels::avx2
