// Pre-tokenizers of the DeepSeek vocabularies (spec §7.3): an ordered regex list; each regex splits
// every current piece into its matches and the gaps between them. Matching reproduces llama.cpp's
// engine (spec §7.4): regexes with \p{..} run on the "collapsed" text (one unit per code point, its
// category class), the others on the code points with non-ASCII whitespace mapped to U+000B. Both
// run here with PCRE2 (32-bit code units, no UTF/UCP, $ = end of piece only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mla {

class PreTokenizer {
 public:
  // `name` is tokenizer.ggml.pre. Unknown names give an error naming the supported ones.
  static Result<std::unique_ptr<PreTokenizer>> ForName(std::string_view name);
  // A custom list (tests); regexes are UTF-8 in the ECMAScript-like syntax of §7.3.
  static Result<std::unique_ptr<PreTokenizer>> FromRegexes(const std::vector<std::string>& regexes);
  // The exact regex list of a supported name (spec §7.3), or nullptr.
  static const std::vector<std::string>* RegexesFor(std::string_view name);
  static std::string SupportedNames();  // "deepseek-llm, deepseek-coder, deepseek-v3"
  ~PreTokenizer();

  // Splits one text fragment (code points) into pieces; *lengths receives the piece lengths in code
  // points (all > 0, summing to cps.size()). Fails only on PCRE2 resource limits.
  Status Split(const std::vector<uint32_t>& cps, std::vector<uint32_t>* lengths) const;
  // Convenience for tests: the pieces of UTF-8 text (invalid bytes become U+FFFD, §7.4).
  Result<std::vector<std::string>> SplitText(std::string_view text) const;

 private:
  PreTokenizer() = default;
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool need_collapsed_ = false;
  bool need_wide_ = false;
};

}  // namespace mla
