// RMSNorm (spec §1.3, §3.9): y_i = x_i · w_i / sqrt(mean_j(x_j²) + eps).
#pragma once

#include <cstdint>

namespace mla::ops {

// `y` may equal `x`. The mean of squares is accumulated in double (the spec asks for at least
// f32; double makes the result independent of the summation order).
void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps);

// RmsNorm on n_rows rows; row r starts at r·ld in both x and y.
void RmsNormRows(const float* x, const float* w, float* y, int64_t n, int64_t n_rows, int64_t ld,
                 float eps);

}  // namespace mla::ops
