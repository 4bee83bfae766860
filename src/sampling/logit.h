// Conventions shared by the sampler chain and the logprobs: how odd logits are read and how
// candidates are ordered. Internal to the sampling layer.
#pragma once

#include <cfloat>
#include <cmath>

namespace mla::sampling {

// NaN cannot be ordered: it counts as "impossible" (-inf). +inf would turn l - max into NaN: it
// becomes the largest finite float, which keeps it the certain choice.
inline float SanitizeLogit(float l) {
  if (std::isnan(l)) return -INFINITY;
  if (l == INFINITY) return FLT_MAX;
  return l;
}

// Higher value first, lower id first on ties: every sort and selection is deterministic, and
// greedy picks the lowest id among equal maxima. `value` reads the score of a candidate.
template <typename C, typename V>
bool Better(const C& a, const C& b, V value) {
  return value(a) > value(b) || (value(a) == value(b) && a.id < b.id);
}

}  // namespace mla::sampling
