// Hugging Face DeepSeek-V2/V3 checkpoint -> GGUF, on the CPU, streaming (spec §6).
//
// Reads config.json, every safetensors shard (F32, F16, BF16, FP8 E4M3 with 128x128 block
// scales), tokenizer.json and tokenizer_config.json; writes the MLA layout by default (or the
// legacy / split2d layouts), with kv_b_proj split into attn_k_b / attn_v_b and the routed experts
// stacked. Memory stays bounded by the largest output tensor (plus a few MB per thread): tensors
// are read from the mapped shards, encoded and written one at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "convert/hf_config.h"

namespace mla::convert {

struct ConvertOptions {
  std::string input_dir;
  std::string output_path;
  Layout layout = Layout::kMla;
  // "auto" (f32 for F32 checkpoints, f16 for F16, bf16 for BF16/FP8), "f32", "f16", "bf16", or any
  // mla-quantize type ("q8_0", "q4_k_m", ...) using the same mix rules.
  std::string outtype = "auto";
  bool keep_mtp = false;          // keep the MTP layer(s) as blk.L.* / blk.L.nextn.* (spec §2.7)
  std::string name;               // general.name; default: the folder's name
  std::string tokenizer_pre;      // tokenizer.ggml.pre override (default: detected from tokenizer.json)
  std::vector<std::string> tensor_types;  // "PATTERN=TYPE" overrides
  int threads = 0;                // 0: all hardware threads
  uint64_t split_max_bytes = 0;   // split the output into shards of at most this much data
  bool progress = true;
};

struct ConvertReport {
  int64_t n_tensors = 0;
  int64_t mtp_tensors_dropped = 0;
  uint64_t bytes_written = 0;       // tensor data
  uint64_t largest_tensor_bytes = 0;
  std::string file_type;            // "F32", "Q4_K_M", ...
  std::vector<std::string> outputs;
};

Result<ConvertReport> ConvertCheckpoint(const ConvertOptions& options);

}  // namespace mla::convert
