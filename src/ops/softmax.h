// Softmax and sigmoid over small vectors (router scores, spec §4.2), in f32 with the row maximum
// subtracted first (spec §3.9).
#pragma once

#include <cstdint>

namespace mla::ops {

// In place. An all −∞ row gives all zeros.
void Softmax(float* x, int64_t n);
// In place: x = 1 / (1 + e^(−x)).
void Sigmoid(float* x, int64_t n);

}  // namespace mla::ops
