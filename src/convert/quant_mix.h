// Quantization mixes: which ggml type each tensor gets for a file type such as Q4_K_M, following
// the rules llama.cpp's llama-quantize applies (so files made here hold the same types per tensor
// as files users already know; fixtures README §8 lists them for ds3-small).
//
// The rules, per tensor, in order:
//  1. Only tensors whose name ends in "weight", with 2 or more dimensions, that are not norms
//     ("_norm.weight") and not routers ("ffn_gate_inp.weight") are quantized; others keep their type.
//  2. A user override (--tensor-type PATTERN=TYPE, first regex that matches the name) wins.
//  3. Otherwise, for quantized file types, the mix rules adjust the default type by tensor role
//     (output, attention value/kv_b, attn_output, ffn_down with llama.cpp's use_more_bits layer
//     pattern, and the 8-expert bumps).
//  4. Rows that do not fit the chosen type's block fall back: Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL (spec §2.5), and to F16 when even a
//     32-element block does not fit.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"

namespace mla::convert {

// A file type of llama.cpp's LLAMA_FTYPE numbering (the value of general.file_type).
struct FileType {
  const char* name;     // "Q4_K_M"
  uint32_t id;          // LLAMA_FTYPE_MOSTLY_Q4_K_M = 15
  DType default_type;   // Q4_K
};

// Every file type this engine can write, in id order.
const std::vector<FileType>& FileTypes();
// Case-insensitive; accepts llama-quantize's aliases Q3_K / Q4_K / Q5_K (= the _M mixes).
Result<FileType> ParseFileType(std::string_view name);
bool IsBlockQuantized(DType type);  // true for the block types (Q4_0 ... IQ4_XS)

// Rule 1.
bool AllowsQuantization(const std::string& name, int n_dims);

// What the rules need to know about the model (from its GGUF metadata).
struct MixModel {
  int64_t n_layer = 0;    // {arch}.block_count
  int64_t n_expert = 0;   // {arch}.expert_count (0: dense)
  int64_t n_head = 1, n_head_kv = 1;
};

struct TensorDesc {
  std::string name;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  DType type = DType::F32;  // the type it has now (kept when rule 1 says no)
};

struct MixOptions {
  FileType ftype{"F32", 0, DType::F32};
  std::vector<std::pair<std::string, DType>> overrides;  // (regex, type), first match wins
  std::optional<DType> output_type;      // --output-tensor-type
  std::optional<DType> token_embd_type;  // --token-embedding-type
  bool pure = false;                     // no mix rules: every quantizable tensor gets the default
};

// Parses "PATTERN=TYPE" (TYPE a ggml type name such as bf16, q8_0).
Result<std::pair<std::string, DType>> ParseTensorTypeOverride(const std::string& spec);

struct TypeChoice {
  DType type = DType::F32;
  bool fallback = false;  // rule 4 applied
  std::string reason;     // "mix", "override", "fallback from q4_K", "kept", ... for logs
};

// Applies the rules over a whole file: construct with every tensor of the file (the attention
// counters of llama.cpp need the totals), then call Choose for each tensor in the file's order.
class MixPlanner {
 public:
  static Result<MixPlanner> Create(const MixOptions& options, const MixModel& model,
                                   const std::vector<TensorDesc>& all);
  Result<TypeChoice> Choose(const TensorDesc& t);

 private:
  MixOptions options_;
  MixModel model_;
  std::vector<std::pair<std::regex, DType>> patterns_;
  bool has_output_ = false;
  int n_attention_wv_ = 0, i_attention_wv_ = 0, i_ffn_down_ = 0;

  DType MixRule(const TensorDesc& t, DType type, Status* status);
};

// Orders tensors as llama-quantize writes them: tensors outside blocks first, then by block index,
// each group by name (std::map order of llama.cpp's loader).
void SortLikeLlamaQuantize(std::vector<std::string>* names);

}  // namespace mla::convert
