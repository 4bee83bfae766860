// AVX2 AccumulateRows: 4 output rows x 16 columns of accumulators in registers (accumulate_loop.h
// over f32_avx2.h's register), f16 and bf16 rows converted in registers.
#include <immintrin.h>

#include "kernels/accumulate_loop.h"
#include "kernels/f32_avx2.h"

namespace mla::kernels::avx2 {

void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  AccumulateRowsLoop<V8, 4>(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j0, j1);
}

}  // namespace mla::kernels::avx2
