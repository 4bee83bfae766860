// general.size_label as gguf-py computes it from the tensors of a file: "8x361K" for a model
// with 8 routed experts (shared + one expert's parameters), "7.2B" for a dense one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mla::convert {

struct ShapeEntry {
  std::string name;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
};

std::string SizeLabel(const std::vector<ShapeEntry>& tensors);
// gguf-py's model_weight_count_rounded_notation: 361234 -> "361K", 3512345 -> "3.5M".
std::string RoundedCount(double count, int min_digits = 2);

}  // namespace mla::convert
