#include "ops/topk.h"

#include <cmath>

namespace mla::ops {

bool RanksBefore(float a, int64_t ia, float b, int64_t ib) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na != nb) return nb;  // a number beats NaN
  if (!na && a != b) return a > b;
  return ia < ib;
}

void TopK(const float* v, int64_t n, int64_t k, int32_t* idx) {
  // Insertion into a sorted list of k: n·k comparisons, fine for router sizes (n ≤ a few hundred).
  int64_t filled = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t pos = filled;
    while (pos > 0 && RanksBefore(v[i], i, v[idx[pos - 1]], idx[pos - 1])) --pos;
    if (pos >= k) continue;
    const int64_t last = filled < k ? filled : k - 1;
    for (int64_t j = last; j > pos; --j) idx[j] = idx[j - 1];
    idx[pos] = int32_t(i);
    if (filled < k) ++filled;
  }
}

}  // namespace mla::ops
