#include "server/reasoning.h"

#include <algorithm>

namespace mla::server {
namespace {
constexpr std::string_view kOpen = "<think>", kClose = "</think>";

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t PartialTag(const std::string& s, std::string_view tag) {
  for (size_t k = std::min(tag.size() - 1, s.size()); k > 0; --k)
    if (s.compare(s.size() - k, k, tag.data(), k) == 0) return k;
  return 0;
}
}  // namespace

void ThinkSplitter::Push(std::string_view text, std::string* reasoning, std::string* content) {
  held_.append(text);
  for (;;) {
    if (in_think_) {
      const size_t end = held_.find(kClose);
      if (end == std::string::npos) break;
      reasoning->append(held_, 0, end);
      held_.erase(0, end + kClose.size());
      in_think_ = false;
      seen_text_ = true;
      continue;
    }
    if (!seen_text_) {
      // Leading whitespace, then maybe <think>.
      const size_t first = held_.find_first_not_of(" \t\r\n");
      if (first == std::string::npos) return;
      std::string_view rest(held_.data() + first, held_.size() - first);
      if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest) return;
      seen_text_ = true;
      if (rest.substr(0, kOpen.size()) == kOpen) {
        held_.erase(0, first + kOpen.size());
        in_think_ = true;
        continue;
      }
    }
    break;
  }
  if (!in_think_) {  // past the reasoning: everything is content
    content->append(held_);
    held_.clear();
    return;
  }
  const size_t hold = PartialTag(held_, kClose);
  reasoning->append(held_, 0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
}

void ThinkSplitter::Flush(std::string* reasoning, std::string* content) {
  (in_think_ ? reasoning : content)->append(held_);
  held_.clear();
}

}  // namespace mla::server
