#include "ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "ops/vec.h"

namespace mla::ops {

void Softmax(float* x, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  if (max == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0;
    return;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void Sigmoid(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void OnlineSoftmaxChunk(float* s, int64_t n, float scale, float* max, float* sum, float* o, int64_t n_out) {
  const float m = std::max(*max, kernels::MaxValue(s, n) * scale);
  const float rescale = std::exp(*max - m);
  if (rescale != 1.0f) Scale(o, rescale, n_out);
  *sum = *sum * rescale + kernels::ExpSum(s, n, scale, m);
  *max = m;
}

}  // namespace mla::ops
