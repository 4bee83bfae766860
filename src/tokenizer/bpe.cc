#include "tokenizer/bpe.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace mla {
namespace {

uint64_t MergeKey(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

uint64_t HashKey(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

// Symbol ids during Build: vocabulary texts map to their token id; other strings get new ids.
struct Interner {
  const std::unordered_map<std::string_view, int32_t>& token_ids;
  int32_t n_vocab;
  std::vector<std::string>* extra_text;
  std::unordered_map<std::string, int32_t> extra_ids;
  int32_t Get(std::string_view s) {
    auto t = token_ids.find(s);
    if (t != token_ids.end()) return t->second;
    std::string key(s);
    auto it = extra_ids.find(key);
    if (it != extra_ids.end()) return it->second;
    int32_t id = n_vocab + int32_t(extra_text->size());
    extra_text->push_back(key);
    extra_ids.emplace(std::move(key), id);
    return id;
  }
};

}  // namespace

Result<BpeModel> BpeModel::Build(const std::vector<std::string>& tokens, const std::vector<std::string>& merges,
                                 const std::unordered_map<std::string_view, int32_t>& token_ids) {
  BpeModel m;
  m.n_vocab_ = int32_t(tokens.size());
  Interner interner{token_ids, m.n_vocab_, &m.extra_text_, {}};
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToCodepoint(uint8_t(b)), &s);
    m.byte_sym_[b] = interner.Get(s);
  }
  struct Rule {
    int32_t left, right, result;
  };
  std::vector<Rule> rules;
  rules.reserve(merges.size());
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& line = merges[i];
    size_t pos = line.find(' ', 1);  // the first space after position 0 (§7.5)
    if (pos == std::string::npos) {
      return Errorf("tokenizer.ggml.merges[%zu] is '%s': expected two symbols separated by a space", i,
                    line.c_str());
    }
    std::string_view left(line.data(), pos), right(line.data() + pos + 1, line.size() - pos - 1);
    int32_t l = interner.Get(left), r = interner.Get(right);
    joined.assign(left);
    joined.append(right);
    int32_t res = interner.Get(joined);
    rules.push_back({l, r, res});
  }
  size_t cap = 16;
  while (cap < rules.size() * 2) cap <<= 1;
  m.merge_table_.assign(cap, MergeSlot{});
  m.merge_mask_ = cap - 1;
  for (size_t i = 0; i < rules.size(); ++i) {
    uint64_t key = MergeKey(rules[i].left, rules[i].right);
    for (uint64_t h = HashKey(key) & m.merge_mask_;; h = (h + 1) & m.merge_mask_) {
      MergeSlot& s = m.merge_table_[h];
      if (s.key == key) break;  // a repeated rule keeps its first (lowest) rank
      if (s.key == kEmpty) {
        s = {key, int32_t(i), rules[i].result};
        break;
      }
    }
  }
  for (int b = 0; b < 256; ++b) {
    char c = char(b);
    auto it = token_ids.find(std::string_view(&c, 1));
    m.single_byte_token_[b] = it != token_ids.end() ? it->second : -1;
  }
  return m;
}

const BpeModel::MergeSlot* BpeModel::FindMerge(int32_t left, int32_t right) const {
  uint64_t key = MergeKey(left, right);
  for (uint64_t h = HashKey(key) & merge_mask_;; h = (h + 1) & merge_mask_) {
    const MergeSlot& s = merge_table_[h];
    if (s.key == key) return &s;
    if (s.key == kEmpty) return nullptr;
  }
}

namespace {

struct Symbol {
  int32_t sym, prev, next;
};
struct Pair {
  int32_t rank, left, left_sym, right_sym;
};
// Heap order: the top is the lowest rank, then the leftmost pair (§7.5 step 3).
struct Later {
  bool operator()(const Pair& a, const Pair& b) const { return a.rank > b.rank || (a.rank == b.rank && a.left > b.left); }
};

// Per-thread work buffers, reused across pieces (no allocation per piece once warm).
struct BpeScratch {
  std::vector<Symbol> symbols;
  std::vector<Pair> heap;
  void Trim() {  // do not keep the memory of one huge piece forever
    if (symbols.capacity() > (1u << 20)) std::vector<Symbol>().swap(symbols);
    if (heap.capacity() > (1u << 21)) std::vector<Pair>().swap(heap);
  }
};

}  // namespace

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>* out) const {
  const int32_t n = int32_t(piece.size());
  if (n == 0) return;
  if (n == 1) {
    // One byte: its symbol is final.
    int32_t sym = byte_sym_[uint8_t(piece[0])];
    if (sym < n_vocab_) {
      out->push_back(sym);
    } else if (single_byte_token_[uint8_t(piece[0])] >= 0) {
      out->push_back(single_byte_token_[uint8_t(piece[0])]);
    }
    return;
  }
  thread_local BpeScratch scratch;
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Pair>& heap = scratch.heap;
  symbols.resize(size_t(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) symbols[size_t(i)] = {byte_sym_[uint8_t(piece[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1};
  auto try_push = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = symbols[size_t(left)].next;
    if (right < 0) return;
    const MergeSlot* m = FindMerge(symbols[size_t(left)].sym, symbols[size_t(right)].sym);
    if (!m) return;
    heap.push_back({m->rank, left, symbols[size_t(left)].sym, symbols[size_t(right)].sym});
    std::push_heap(heap.begin(), heap.end(), Later{});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Later{});
    Pair p = heap.back();
    heap.pop_back();
    Symbol& left = symbols[size_t(p.left)];
    // Outdated when either side has merged since the pair was queued (§7.5 step 3). A merged-away
    // symbol is unlinked, so `left.next` is always the current right neighbour.
    if (left.sym != p.left_sym || left.next < 0 || symbols[size_t(left.next)].sym != p.right_sym) continue;
    Symbol& right = symbols[size_t(left.next)];
    left.sym = FindMerge(p.left_sym, p.right_sym)->result;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = p.left;
    right.sym = -1;
    try_push(left.prev);
    try_push(p.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next) {
    int32_t sym = symbols[size_t(i)].sym;
    if (sym < n_vocab_) {
      out->push_back(sym);
      continue;
    }
    // Not in the vocabulary (inconsistent vocab): llama.cpp tries each byte of the symbol's text
    // as a one-character token and drops what it cannot find (§7.5 step 4).
    for (char c : extra_text_[size_t(sym - n_vocab_)]) {
      if (single_byte_token_[uint8_t(c)] >= 0) out->push_back(single_byte_token_[uint8_t(c)]);
    }
  }
  scratch.Trim();
}

}  // namespace mla
