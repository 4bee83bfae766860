// Small f32 vector loops shared by the attention kernels (activations only: weights always go
// through kernels.h). Written with 8 independent lanes so the compiler vectorises them; the
// summation order is fixed, so results never depend on threads.
#pragma once

#include <cstdint>

namespace mla::ops {

inline float Dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// o *= s
inline void Scale(float* __restrict o, float s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) o[i + j] *= s;
  for (; i < n; ++i) o[i] *= s;
}

// o += p·x
inline void Axpy(float* __restrict o, float p, const float* __restrict x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) o[i + j] += p * x[i + j];
  for (; i < n; ++i) o[i] += p * x[i];
}

}  // namespace mla::ops
