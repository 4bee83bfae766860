// Requantizing a GGUF file to a file type such as Q4_K_M (mla-quantize): every tensor gets the
// type of the mix rules in quant_mix.h, rows are dequantized from the mapped input and
// re-encoded in parallel, one tensor at a time, and all metadata is kept (general.file_type and
// general.quantization_version updated, as llama-quantize does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"

namespace mla::convert {

struct QuantizeOptions {
  std::string input_path;
  std::string output_path;
  std::string type;                       // "Q4_K_M", "q8_0", "bf16", ...
  int threads = 0;                        // 0: all hardware threads
  std::vector<std::string> tensor_types;  // "PATTERN=TYPE" overrides
  std::string output_tensor_type;         // type for output.weight ("" = mix rule)
  std::string token_embedding_type;       // type for token_embd.weight ("" = mix rule)
  bool pure = false;                      // no mix rules
  bool allow_requantize = false;          // permit re-encoding already block-quantized tensors
  bool dry_run = false;                   // only decide the types
  uint64_t split_max_bytes = 0;
  bool progress = true;
};

struct QuantizedTensor {
  std::string name;
  DType from = DType::F32, to = DType::F32;
  std::string reason;  // "kept", "default", "mix", "override", "fallback from ..."
};

struct QuantizeReport {
  std::vector<QuantizedTensor> tensors;  // in output order
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
  uint32_t file_type = 0;
  std::vector<std::string> outputs;
};

Result<QuantizeReport> QuantizeGguf(const QuantizeOptions& options);

}  // namespace mla::convert
