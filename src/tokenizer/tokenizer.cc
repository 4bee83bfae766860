#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "base/log.h"
#include "gguf/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace mla {
namespace {

constexpr std::string_view kEndOfSentence = "<｜end▁of▁sentence｜>";

// Per-thread, direct-mapped cache of pre-tokenized pieces -> ids: most pieces of real text repeat,
// and a hit costs one cache line instead of a BPE run. Lock-free (each thread has its own), bounded
// (2 MB per thread), and shared by all tokenizers, told apart by a per-instance id. Pieces longer
// than 22 bytes or of more than 7 ids are not cached.
struct alignas(64) CacheSlot {
  uint64_t hash;
  uint32_t owner;  // Tokenizer instance id; 0 = empty
  uint8_t length, n_ids;
  char key[22];
  int32_t ids[7];
};
static_assert(sizeof(CacheSlot) == 64);
constexpr size_t kCacheSlots = 1 << 15;
std::atomic<uint32_t> g_next_tokenizer_id{1};

CacheSlot* ThreadCache() {
  thread_local std::unique_ptr<CacheSlot[]> slots;
  if (!slots) {
    slots.reset(new CacheSlot[kCacheSlots]);
    for (size_t i = 0; i < kCacheSlots; ++i) slots[i].owner = 0;
  }
  return slots.get();
}

// A stretch of the input: either text still to pre-tokenize or one special token (§7.6).
struct Fragment {
  int32_t token;  // -1 for text
  size_t begin, length;
};

bool IsSpecialCandidate(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

// The piece of one token with special = true (§7.8).
std::string MakePiece(const std::string& text, TokenType type) {
  switch (type) {
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUserDefined:
      return text;
    case TokenType::kNormal: {
      std::vector<uint32_t> cps;
      unicode::DecodeUtf8(text, &cps);
      std::string out;
      for (uint32_t cp : cps) {
        int b = unicode::CodepointToByte(cp);
        if (b >= 0) {
          out.push_back(char(b));
          continue;
        }
        std::string utf8;
        unicode::AppendUtf8(cp, &utf8);
        out += "[UNK_BYTE_0x";
        for (unsigned char c : utf8) out += Format("%02x", c);
        out += text + "]";
      }
      return out;
    }
    default:
      return std::string();
  }
}

Result<int32_t> OptionalId(const gguf::File& file, const char* key, size_t n_vocab) {
  if (!file.Has(key)) return int32_t(-1);
  MLA_ASSIGN_OR_RETURN(uint64_t id, file.GetU64(key));
  if (id >= n_vocab) {
    return Errorf("%s is %llu but the vocabulary has %zu tokens", key, (unsigned long long)id, n_vocab);
  }
  return int32_t(id);
}

}  // namespace

struct Tokenizer::Impl {
  std::unordered_map<std::string_view, int32_t> token_ids;
  BpeModel bpe;
  std::unique_ptr<PreTokenizer> pre;

  // Special-token candidates (§7.6), longest text first, then ascending id; plus a prefilter that
  // finds which of them occur in a text in one pass: candidates bucketed by their first two bytes
  // (one-byte candidates by their only byte), CSR layout.
  std::vector<int32_t> special;
  std::vector<uint32_t> bucket1_start, bucket2_start;  // 257 and 65537 entries
  std::vector<uint32_t> bucket1, bucket2;               // indices into `special`

  uint32_t cache_owner = 0;  // this instance's id in the per-thread piece caches

  explicit Impl(BpeModel b) : bpe(std::move(b)) {
    cache_owner = g_next_tokenizer_id.fetch_add(1);
    if (cache_owner == 0) cache_owner = g_next_tokenizer_id.fetch_add(1);  // skip "empty" on wrap-around
  }
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<VocabData> ReadVocabData(const gguf::File& file) {
  VocabData v;
  if (!file.Has("tokenizer.ggml.model")) {
    return Errorf("the file has no tokenizer (key tokenizer.ggml.model is missing)");
  }
  MLA_ASSIGN_OR_RETURN(v.model, file.GetString("tokenizer.ggml.model"));
  if (v.model != "gpt2") {
    return Errorf("tokenizer.ggml.model is '%s'; supported: gpt2 (byte-level BPE)", v.model.c_str());
  }
  if (!file.Has("tokenizer.ggml.pre")) {
    return Errorf("tokenizer.ggml.pre is missing; supported: %s", PreTokenizer::SupportedNames().c_str());
  }
  MLA_ASSIGN_OR_RETURN(v.pre, file.GetString("tokenizer.ggml.pre"));
  if (!PreTokenizer::RegexesFor(v.pre)) {
    return Errorf("tokenizer.ggml.pre is '%s'; supported: %s", v.pre.c_str(), PreTokenizer::SupportedNames().c_str());
  }
  MLA_ASSIGN_OR_RETURN(const std::vector<std::string>* tokens, file.GetStringArray("tokenizer.ggml.tokens"));
  v.tokens = *tokens;
  if (file.Has("tokenizer.ggml.token_type")) {
    MLA_ASSIGN_OR_RETURN(const std::vector<int64_t>* types, file.GetIntArray("tokenizer.ggml.token_type"));
    v.types.reserve(types->size());
    for (int64_t t : *types) v.types.push_back(int32_t(std::clamp<int64_t>(t, -1, 1000)));
  }
  MLA_ASSIGN_OR_RETURN(const std::vector<std::string>* merges, file.GetStringArray("tokenizer.ggml.merges"));
  v.merges = *merges;
  const size_t n = v.tokens.size();
  MLA_ASSIGN_OR_RETURN(v.bos, OptionalId(file, "tokenizer.ggml.bos_token_id", n));
  MLA_ASSIGN_OR_RETURN(v.eos, OptionalId(file, "tokenizer.ggml.eos_token_id", n));
  MLA_ASSIGN_OR_RETURN(v.pad, OptionalId(file, "tokenizer.ggml.padding_token_id", n));
  MLA_ASSIGN_OR_RETURN(v.eot, OptionalId(file, "tokenizer.ggml.eot_token_id", n));
  MLA_ASSIGN_OR_RETURN(v.add_bos, file.GetBoolOr("tokenizer.ggml.add_bos_token", false));
  MLA_ASSIGN_OR_RETURN(v.add_eos, file.GetBoolOr("tokenizer.ggml.add_eos_token", false));
  MLA_ASSIGN_OR_RETURN(v.chat_template, file.GetStringOr("tokenizer.chat_template", ""));
  return v;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::File& file) {
  auto vocab = ReadVocabData(file);
  if (!vocab.ok()) return vocab.status().Wrap("reading the tokenizer of " + file.path());
  return FromVocab(std::move(vocab).value());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromVocab(VocabData v) {
  if (v.model != "gpt2") {
    return Errorf("tokenizer.ggml.model is '%s'; supported: gpt2 (byte-level BPE)", v.model.c_str());
  }
  MLA_ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre, PreTokenizer::ForName(v.pre));
  const size_t n = v.tokens.size();
  if (n == 0) return Errorf("tokenizer.ggml.tokens is empty");
  if (n > size_t(INT32_MAX)) return Errorf("tokenizer.ggml.tokens has %zu entries (too many)", n);
  if (!v.types.empty() && v.types.size() != n) {
    return Errorf("tokenizer.ggml.token_type has %zu entries but tokenizer.ggml.tokens has %zu", v.types.size(), n);
  }
  for (int32_t id : {v.bos, v.eos, v.pad, v.eot}) {
    if (id < -1 || id >= int32_t(n)) return Errorf("special token id %d is outside the vocabulary (%zu tokens)", id, n);
  }

  std::unique_ptr<Tokenizer> t(new Tokenizer);
  t->tokens_ = std::move(v.tokens);
  t->types_.resize(n, TokenType::kNormal);
  for (size_t i = 0; i < v.types.size(); ++i) {
    int32_t ty = v.types[i];
    t->types_[i] = (ty >= 0 && ty <= 6) ? TokenType(ty) : TokenType::kUndefined;
  }
  t->bos_ = v.bos;
  t->eos_ = v.eos;
  t->pad_ = v.pad;
  t->add_bos_ = v.add_bos;
  t->add_eos_ = v.add_eos;
  t->pre_ = v.pre;
  t->chat_template_ = std::move(v.chat_template);

  std::unordered_map<std::string_view, int32_t> token_ids;
  token_ids.reserve(n);
  for (size_t i = 0; i < n; ++i) token_ids[t->tokens_[i]] = int32_t(i);  // later ids win, as llama.cpp
  MLA_ASSIGN_OR_RETURN(BpeModel bpe, BpeModel::Build(t->tokens_, v.merges, token_ids));
  t->impl_ = std::make_unique<Impl>(std::move(bpe));
  Impl& im = *t->impl_;
  im.token_ids = std::move(token_ids);
  im.pre = std::move(pre);

  t->pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) t->pieces_[i] = MakePiece(t->tokens_[i], t->types_[i]);

  if (v.eos >= 0) t->eog_ids_.push_back(v.eos);
  if (v.eot >= 0 && v.eot != v.eos) t->eog_ids_.push_back(v.eot);
  for (size_t i = 0; i < n; ++i) {
    if (t->tokens_[i] == kEndOfSentence && int32_t(i) != v.eos && int32_t(i) != v.eot) t->eog_ids_.push_back(int32_t(i));
  }

  for (size_t i = 0; i < n; ++i) {
    if (IsSpecialCandidate(t->types_[i]) && !t->tokens_[i].empty()) im.special.push_back(int32_t(i));
  }
  std::stable_sort(im.special.begin(), im.special.end(), [&](int32_t a, int32_t b) {
    return t->tokens_[size_t(a)].size() > t->tokens_[size_t(b)].size();
  });
  im.bucket1_start.assign(257, 0);
  im.bucket2_start.assign(65537, 0);
  auto key2 = [&](const std::string& s) { return (uint32_t(uint8_t(s[0])) << 8) | uint8_t(s[1]); };
  for (int32_t id : im.special) {
    const std::string& s = t->tokens_[size_t(id)];
    if (s.size() == 1) im.bucket1_start[uint8_t(s[0]) + 1]++;
    else im.bucket2_start[key2(s) + 1]++;
  }
  for (size_t i = 1; i < im.bucket1_start.size(); ++i) im.bucket1_start[i] += im.bucket1_start[i - 1];
  for (size_t i = 1; i < im.bucket2_start.size(); ++i) im.bucket2_start[i] += im.bucket2_start[i - 1];
  im.bucket1.resize(im.bucket1_start.back());
  im.bucket2.resize(im.bucket2_start.back());
  std::vector<uint32_t> fill1(im.bucket1_start.begin(), im.bucket1_start.end() - 1);
  std::vector<uint32_t> fill2(im.bucket2_start.begin(), im.bucket2_start.end() - 1);
  for (size_t k = 0; k < im.special.size(); ++k) {
    const std::string& s = t->tokens_[size_t(im.special[k])];
    if (s.size() == 1) im.bucket1[fill1[uint8_t(s[0])]++] = uint32_t(k);
    else im.bucket2[fill2[key2(s)]++] = uint32_t(k);
  }
  return t;
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& im = *impl_;
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);

  // §7.6: which candidates occur at all (one pass), then split longest-first.
  std::vector<Fragment> fragments{{-1, 0, text.size()}};
  if (!im.special.empty()) {
    std::vector<uint8_t> present(im.special.size(), 0);
    bool any = false;
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    auto consider = [&](uint32_t k, size_t pos) {
      int32_t id = im.special[k];
      if (!parse_special && types_[size_t(id)] != TokenType::kUserDefined) return;
      const std::string& tok = tokens_[size_t(id)];
      if (!present[k] && text.compare(pos, tok.size(), tok) == 0) present[k] = 1, any = true;
    };
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t j = im.bucket1_start[s[i]]; j < im.bucket1_start[s[i] + 1]; ++j) consider(im.bucket1[j], i);
      if (i + 1 < n) {
        uint32_t key = (uint32_t(s[i]) << 8) | s[i + 1];
        for (uint32_t j = im.bucket2_start[key]; j < im.bucket2_start[key + 1]; ++j) consider(im.bucket2[j], i);
      }
    }
    if (any) {
      std::vector<Fragment> next;
      for (size_t k = 0; k < im.special.size(); ++k) {
        if (!present[k]) continue;
        const int32_t id = im.special[k];
        const std::string& tok = tokens_[size_t(id)];
        next.clear();
        for (const Fragment& f : fragments) {
          if (f.token >= 0) {
            next.push_back(f);
            continue;
          }
          std::string_view body = text.substr(f.begin, f.length);
          size_t cursor = 0;
          for (size_t m = body.find(tok); m != std::string_view::npos; m = body.find(tok, cursor)) {
            if (m > cursor) next.push_back({-1, f.begin + cursor, m - cursor});
            next.push_back({id, f.begin + m, tok.size()});
            cursor = m + tok.size();
          }
          if (cursor < body.size()) next.push_back({-1, f.begin + cursor, body.size() - cursor});
        }
        fragments.swap(next);
      }
    }
  }

  std::vector<uint32_t> cps, lengths;
  std::string piece;
  CacheSlot* cache = ThreadCache();
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    cps.clear();
    unicode::DecodeUtf8(text.substr(f.begin, f.length), &cps);
    MLA_RETURN_IF_ERROR(im.pre->Split(cps, &lengths));
    size_t start = 0;
    for (uint32_t len : lengths) {
      piece.clear();
      for (size_t i = start; i < start + len; ++i) unicode::AppendUtf8(cps[i], &piece);
      start += len;
      CacheSlot* slot = nullptr;
      uint64_t hash = 0;
      if (piece.size() <= sizeof(slot->key)) {
        hash = std::hash<std::string_view>{}(piece);
        slot = &cache[hash & (kCacheSlots - 1)];
        if (slot->owner == im.cache_owner && slot->hash == hash && slot->length == piece.size() &&
            std::memcmp(slot->key, piece.data(), piece.size()) == 0) {
          out.insert(out.end(), slot->ids, slot->ids + slot->n_ids);
          continue;
        }
      }
      const size_t before = out.size();
      im.bpe.Encode(piece, &out);
      const size_t n_ids = out.size() - before;
      if (slot && n_ids <= std::size(slot->ids)) {
        slot->owner = im.cache_owner;
        slot->hash = hash;
        slot->length = uint8_t(piece.size());
        slot->n_ids = uint8_t(n_ids);
        std::memcpy(slot->key, piece.data(), piece.size());
        std::copy(out.begin() + std::ptrdiff_t(before), out.end(), slot->ids);
      }
    }
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool special) const {
  if (id < 0 || id >= n_vocab()) return std::string();
  TokenType t = types_[size_t(id)];
  if (!special && (t == TokenType::kControl || t == TokenType::kUnknown)) return std::string();
  return pieces_[size_t(id)];
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) continue;
    TokenType t = types_[size_t(id)];
    if (!special && (t == TokenType::kControl || t == TokenType::kUnknown)) continue;
    out += pieces_[size_t(id)];
  }
  return out;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  auto it = impl_->token_ids.find(text);
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= n_vocab()) return kEmpty;
  return tokens_[size_t(id)];
}

TokenType Tokenizer::GetTokenType(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return TokenType::kUndefined;
  return types_[size_t(id)];
}

size_t Utf8CompletePrefix(std::string_view bytes) {
  const size_t n = bytes.size();
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  size_t i = n;
  int continuation = 0;
  while (i > 0 && continuation < 4 && (uint8_t(bytes[i - 1]) & 0xC0) == 0x80) --i, ++continuation;
  if (i == 0 || continuation > 3) return n;
  int need = unicode::Utf8SequenceLength(uint8_t(bytes[i - 1]));
  if (need > 1 && continuation < need - 1) return i - 1;  // incomplete: hold the lead byte onwards
  return n;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool special) : tokenizer_(tokenizer), special_(special) {}

std::string StreamDecoder::Push(int32_t id) {
  pending_ += tokenizer_.TokenToPiece(id, special_);
  size_t ready = Utf8CompletePrefix(pending_);
  std::string out = pending_.substr(0, ready);
  pending_.erase(0, ready);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace mla
