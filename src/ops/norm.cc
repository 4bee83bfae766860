#include "ops/norm.h"

#include <cmath>

namespace mla::ops {

void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
  const float scale = float(1.0 / std::sqrt(sum / double(n) + double(eps)));
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void RmsNormRows(const float* x, const float* w, float* y, int64_t n, int64_t n_rows, int64_t ld,
                 float eps) {
  for (int64_t r = 0; r < n_rows; ++r) RmsNorm(x + r * ld, w, y + r * ld, n, eps);
}

}  // namespace mla::ops
