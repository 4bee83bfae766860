// Full-size GGUF files of real DeepSeek shapes with random weights (spec §1.2, §2), so anyone can
// benchmark without downloading a model: every weight matrix holds random quants with a fixed
// block scale (0.0025), norms are 1, routers ~N(0, 0.02). Written streaming (a few MB per thread
// at a time), deterministic for a seed whatever the thread count, in any writable type and in any
// of the three attention layouts (spec §2.4). The three layouts hold the same model: attn_v_b's
// bytes are attn_kv_b's value rows, and attn_kv_b's key rows are attn_k_b transposed (spec §2.5),
// re-quantized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "convert/hf_config.h"
#include "gguf/gguf.h"

namespace mla::convert {

// The HF config of a named shape: "v2-lite", "v2" or "v3" (spec §1.2).
Result<HfConfig> SynthShapeConfig(const std::string& shape);
// The names SynthShapeConfig accepts, for help texts: "v2-lite|v2|v3".
const char* SynthShapeNames();

struct SynthOptions {
  std::string shape = "v2-lite";
  std::string output_path;
  // A ggml type name ("q4_0", "q8_0", "q4_K", "bf16", ...): every weight matrix in that type
  // (token_embd and output included; rows that do not fit a 256-block fall back as llama-quantize
  // does, spec §2.5). Or a llama.cpp file type with a mix ("Q4_K_M") when `mix` is set.
  std::string type = "q4_0";
  bool mix = false;
  Layout layout = Layout::kMla;
  int64_t layers = 0;  // 0: the shape's layer count
  int64_t vocab = 0;   // 0: the shape's vocabulary size (smaller values make test files small)
  int64_t experts = 0;  // 0: the shape's routed expert count (must stay >= experts per token)
  uint64_t seed = 1;
  float block_scale = 0.0025f;
  // A GGUF whose tokenizer.* keys are copied (its token count must equal the vocabulary size);
  // empty: a built-in byte-level vocabulary (256 byte tokens, a few merges, BOS/EOS, padding).
  std::string vocab_from;
  int threads = 0;  // 0: all hardware threads
  bool progress = true;
};

struct SynthReport {
  HfConfig config;          // the shape actually written (layers / vocab overrides applied)
  std::string file_type;    // general.file_type's name
  int64_t n_tensors = 0;
  int64_t n_params = 0;     // elements of all tensors
  uint64_t bytes_written = 0;  // tensor data
  std::vector<std::string> outputs;
};

Result<SynthReport> WriteSyntheticModel(const SynthOptions& options);

// The tensors WriteSyntheticModel would write (names, types, shapes, sizes; no data), and the
// shape with overrides applied. Nothing is written; output_path may be empty.
Result<std::vector<gguf::TensorInfo>> PlanSyntheticModel(const SynthOptions& options,
                                                         HfConfig* config = nullptr);

// Fills `n` elements (a multiple of the block size) of `type` with random quants: every f16 block
// scale is `d` (K-quant dmin too; Q4_1/Q5_1 mins centre the values), every other byte uniform;
// float types get values uniform in [-8d, 8d). No field is ever NaN or infinite. `state` is a
// splitmix64 state, advanced. Exposed for tests.
Status FillRandomBlocks(DType type, void* dst, int64_t n, float d, uint64_t* state);

}  // namespace mla::convert
