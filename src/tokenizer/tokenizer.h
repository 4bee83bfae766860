// Byte-level BPE tokenizer for DeepSeek vocabularies stored in GGUF (spec §7), reproducing
// llama.cpp's tokenizer exactly (its test vectors in fixtures/vocab are the oracle).
//
// Encode:  split at special tokens (§7.6) -> pre-tokenize each text fragment with the
//          pre-type's regex list (§7.3, with llama.cpp's engine behaviour §7.4) -> byte-encode
//          each piece (§7.2) -> BPE merges by rank (§7.5).
// Decode:  per-token pieces (§7.8), concatenated bytes; StreamDecoder for incremental output.
//
// A Tokenizer is immutable after construction and safe to use from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mla {

namespace gguf {
class File;
}

// GGUF token types (`tokenizer.ggml.token_type`, spec §2.2).
enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

// Everything the tokenizer reads from a GGUF file, already extracted. FromGguf fills it from the
// `tokenizer.*` keys; tests and tools may build one directly.
struct VocabData {
  std::string model;  // tokenizer.ggml.model; only "gpt2" is supported
  std::string pre;    // tokenizer.ggml.pre: deepseek-llm, deepseek-coder or deepseek-v3
  std::vector<std::string> tokens;
  std::vector<int32_t> types;   // empty = all NORMAL
  std::vector<std::string> merges;  // "left right", rank = index
  int32_t bos = -1, eos = -1, pad = -1, eot = -1;  // -1 = absent
  bool add_bos = false, add_eos = false;
  std::string chat_template;  // tokenizer.chat_template (Jinja text), may be empty
};

// Reads the tokenizer keys of a GGUF file (only metadata: tensor data is never touched).
Result<VocabData> ReadVocabData(const gguf::File& file);

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const gguf::File& file);
  static Result<std::unique_ptr<Tokenizer>> FromVocab(VocabData vocab);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: prepend BOS when add_bos() (and append EOS when the vocab asks for it).
  // parse_special: CONTROL/UNKNOWN token texts in `text` become their ids; USER_DEFINED token texts
  // are matched either way (spec §7.6). Invalid UTF-8 is accepted (each bad byte = U+FFFD, §7.4).
  // Fails only when a regex hits PCRE2's resource limits on a pathological piece.
  Result<std::vector<int32_t>> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes of one token (§7.8); may be part of a UTF-8 character. CONTROL/UNKNOWN tokens give
  // their text only when `special`. Ids out of range give "".
  std::string TokenToPiece(int32_t id, bool special) const;
  // Concatenated pieces: the exact original bytes for ids that Encode produced from valid UTF-8.
  std::string Decode(const std::vector<int32_t>& ids, bool special) const;

  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t pad() const { return pad_; }
  int32_t n_vocab() const { return int32_t(tokens_.size()); }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // EOS, EOT (if the file names one) and any token whose text is <｜end▁of▁sentence｜> (§7.7).
  bool IsEndOfGeneration(int32_t id) const;
  // Id of the token whose vocabulary text is exactly `text` (later ids win on duplicates).
  std::optional<int32_t> FindToken(std::string_view text) const;
  // Raw vocabulary text of a token (byte-encoded alphabet for NORMAL tokens); "" when out of range.
  const std::string& TokenText(int32_t id) const;
  TokenType GetTokenType(int32_t id) const;
  const std::string& pre() const { return pre_; }
  const std::string& chat_template() const { return chat_template_; }

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::vector<std::string> pieces_;  // TokenToPiece(id, special = true) for every id
  std::vector<int32_t> eog_ids_;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  std::string pre_;
  std::string chat_template_;
};

// Incremental detokenizer for streaming output: never emits part of a UTF-8 character. Bytes of an
// incomplete trailing sequence are held until the sequence completes; bytes that can never become
// valid UTF-8 are passed through as they are (raw), so nothing is lost or stuck (§7.8).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false);
  // Text that became complete with this token (possibly empty).
  std::string Push(int32_t id);
  // Everything still held (an incomplete sequence at the end of the stream), then reset.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool special_;
  std::string pending_;
};

// Length of the longest prefix of `bytes` that does not end inside an incomplete-but-still-valid
// UTF-8 sequence (what a streaming writer may emit now). Exposed for tests and the server.
size_t Utf8CompletePrefix(std::string_view bytes);

}  // namespace mla
