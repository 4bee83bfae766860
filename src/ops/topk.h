// Top-k selection with the engine's tie rule (spec §4.3): larger value first, and among equal
// values the lower index first. NaN ranks below every number (and −∞).
#pragma once

#include <cstdint>

namespace mla::ops {

// Writes the indices of the k largest of v[0..n) to idx[0..k), best first. Requires k ≤ n.
void TopK(const float* v, int64_t n, int64_t k, int32_t* idx);

// True when (a, ia) ranks before (b, ib) under the rule above.
bool RanksBefore(float a, int64_t ia, float b, int64_t ib);

}  // namespace mla::ops
