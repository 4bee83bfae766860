#include "convert/size_label.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mla::convert {

std::string RoundedCount(double n, int min_digits) {
  double scaled;
  char suffix;
  if (n > 1e12) {
    scaled = n * 1e-12;
    suffix = 'T';
  } else if (n > 1e9) {
    scaled = n * 1e-9;
    suffix = 'B';
  } else if (n > 1e6) {
    scaled = n * 1e-6;
    suffix = 'M';
  } else {
    scaled = n * 1e-3;
    suffix = 'K';
  }
  // Digits of the rounded value, leading zeros stripped (Python: len(str(round(x)).lstrip('0'))),
  // rounding half to even as Python's round() does.
  const long long rounded = std::llrint(scaled);
  std::string digits = std::to_string(rounded);
  const size_t nz = digits.find_first_not_of('0');
  const int len = nz == std::string::npos ? 0 : int(digits.size() - nz);
  const int fix = std::max(min_digits - len, 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%c", fix, scaled, suffix);
  return buf;
}

std::string SizeLabel(const std::vector<ShapeEntry>& tensors) {
  // Expert tensors (3-D "_exps.") count one expert's share; everything else counts whole.
  int64_t shared = 0, expert = 0, expert_sum = 0, n_expert_tensors = 0, total = 0;
  for (const ShapeEntry& t : tensors) {
    int64_t size = 1;
    for (int i = 0; i < t.n_dims; ++i) size *= t.ne[i];
    if (t.name.find("_exps.") != std::string::npos && t.n_dims >= 3) {
      const bool bias = t.name.find(".bias") != std::string::npos;
      const int64_t count = bias ? t.ne[1] : t.ne[2];
      if (count > 0) expert += size / count;
      expert_sum += count;
      ++n_expert_tensors;
    } else {
      shared += size;
    }
    total += size;
  }
  const int64_t expert_count = n_expert_tensors > 0 ? expert_sum / n_expert_tensors : 0;
  if (expert_count > 0) return std::to_string(expert_count) + "x" + RoundedCount(double(shared + expert));
  return RoundedCount(double(total));
}

}  // namespace mla::convert
