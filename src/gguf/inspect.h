// What `mla-gguf info` shows about a file: metadata (long arrays summarised), the tensor table,
// totals per tensor type, and the attention layout line supplied by the caller (the layout
// detector lives in the model layer, above this one).
#pragma once

#include <string>

#include "gguf/gguf.h"

namespace mla::gguf {

struct LayoutLine {
  bool known = false;
  std::string name;    // "mla", "split2d", "legacy" when known
  std::string reason;  // why not, when unknown
};

// Plain text, one item per line. Arrays longer than `max_items` show their first items.
std::string InfoText(const File& file, const LayoutLine& layout, size_t max_items = 8);
// One JSON object with the same information (arrays: count plus the first `max_items` items).
std::string InfoJson(const File& file, const LayoutLine& layout, size_t max_items = 8);

}  // namespace mla::gguf
