// tokenizer.json + tokenizer_config.json of a Hugging Face checkpoint -> the GGUF tokenizer keys
// (spec §6.6, §2.2): byte-level BPE ("gpt2"), tokens with types, merges, special ids, flags and
// the chat template. The pre-tokenizer name is chosen by comparing the Split regexes of
// tokenizer.json with the lists the engine's tokenizer implements (spec §7.3, NOTES "Conversion").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "gguf/gguf.h"

namespace mla::convert {

struct VocabOptions {
  int64_t vocab_size = 0;    // config.json vocab_size: ids without a token become [PAD<id>]
  std::string pre_override;  // tokenizer.ggml.pre to write instead of the detected one
  // Ids from config.json (bos_token_id / eos_token_id), used when tokenizer_config.json names none.
  int64_t config_bos = -1, config_eos = -1;
};

// Reads DIR/tokenizer.json (required), DIR/tokenizer_config.json and DIR/chat_template.jinja
// (optional) and returns the tokenizer.* keys in the order llama.cpp's converter writes them.
Result<std::vector<std::pair<std::string, gguf::Value>>> TokenizerKeys(const std::string& dir,
                                                                       const VocabOptions& options);

// Same from the texts (tokenizer_config / chat_template may be empty); for tests.
Result<std::vector<std::pair<std::string, gguf::Value>>> TokenizerKeysFromText(
    const std::string& tokenizer_json, const std::string& tokenizer_config_json,
    const std::string& chat_template_file, const VocabOptions& options);

// The pre-tokenizer name whose regex list equals the Split regexes of a tokenizer.json
// "pre_tokenizer" section (given as JSON text); an error names what was found.
Result<std::string> IdentifyPreTokenizer(const std::string& pre_tokenizer_json);

}  // namespace mla::convert
