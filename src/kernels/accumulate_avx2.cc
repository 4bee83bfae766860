// AVX2 AccumulateRows: 4 output rows x 16 columns of accumulators in registers (accumulate_loop.h),
// f16 and bf16 rows converted in registers.
#include <immintrin.h>

#include "kernels/accumulate_loop.h"

namespace mla::kernels::avx2 {
namespace {

struct V8 {
  using Reg = __m256;
  static constexpr int64_t kLanes = 8;
  static Reg Load(DType type, const uint8_t* row, int64_t j) {
    if (type == DType::F16)
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j)));
    if (type == DType::BF16)
      return _mm256_castsi256_ps(_mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j))), 16));
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + j);
  }
  static Reg LoadF(const float* p) { return _mm256_loadu_ps(p); }
  static void StoreF(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg Set1(float x) { return _mm256_set1_ps(x); }
  static Reg Fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
};

}  // namespace

void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  AccumulateRowsLoop<V8, 4>(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j0, j1);
}

}  // namespace mla::kernels::avx2
