// Small f32 vector loops on activations, shared by the attention and MoE code (weights always go
// through kernels.h). Written with 8 independent lanes so the compiler vectorises them; the
// summation order is fixed, so results never depend on threads.
#pragma once

#include <cstdint>

namespace mla::ops {

// o *= s
inline void Scale(float* __restrict o, float s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) o[i + j] *= s;
  for (; i < n; ++i) o[i] *= s;
}

// o += s·x (a multiply, then an add: the bits of the plain loop)
inline void AddScaled(float* __restrict o, float s, const float* __restrict x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) o[i + j] += s * x[i + j];
  for (; i < n; ++i) o[i] += s * x[i];
}

}  // namespace mla::ops
