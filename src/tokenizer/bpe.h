// Byte-level BPE merges by rank (spec §7.5), on interned symbols: every string that can occur as a
// symbol (vocabulary texts, both sides of every merge, every merge result) gets an integer id (a
// vocabulary text: its token id; any other string: an id from n_vocab up), and a merge rule becomes
// (left id, right id) -> (rank, result id). Symbols are therefore compared by id, never by string,
// while behaving exactly like llama.cpp's string-keyed algorithm.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace mla {

class BpeModel {
 public:
  // `tokens` are the vocabulary texts (byte-encoded alphabet), `merges` the "left right" rules in
  // rank order. `token_ids` maps a text to its id (later ids win on duplicate texts).
  static Result<BpeModel> Build(const std::vector<std::string>& tokens, const std::vector<std::string>& merges,
                                const std::unordered_map<std::string_view, int32_t>& token_ids);

  // Appends the ids of one pre-tokenized piece, given as its raw UTF-8 bytes (the byte-level
  // encoding of §7.2 is applied here).
  void Encode(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  struct MergeSlot {
    uint64_t key = kEmpty;  // (left << 32) | right
    int32_t rank = 0;
    int32_t result = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  const MergeSlot* FindMerge(int32_t left, int32_t right) const;

  int32_t n_vocab_ = 0;
  std::vector<std::string> extra_text_;  // symbols that are no vocabulary text, id n_vocab_ + index
  int32_t byte_sym_[256] = {};         // symbol of the one-character string of each byte
  std::vector<MergeSlot> merge_table_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;
  int32_t single_byte_token_[256] = {};  // token of each 1-byte text or -1 (missing-symbol fallback)
};

}  // namespace mla
