// Hugging Face tensor names -> GGUF tensors (spec §6.2, §6.3, §2.7): which output tensors exist,
// their ggml shapes, and how each one's rows are read from the checkpoint (copied, stacked from
// the routed experts, or split out of kv_b_proj). Planning checks everything before a byte is
// written: unknown or missing tensors, shapes against config.json, FP8 scales.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "convert/hf_config.h"
#include "convert/safetensors.h"

namespace mla::convert {

enum class Recipe {
  kCopy,          // one HF tensor [out, in] -> ggml {in, out} (1-D stays 1-D)
  kStackExperts,  // E HF tensors [out, in] -> ggml {in, out, E}, expert e = slice e
  kSplitK,        // kv_b_proj [H*(d_n+d_v), r_kv] -> k_b, per head the d_n rows transposed
  kSplitV,        // kv_b_proj -> v_b, per head the d_v rows as they are
};

// A checkpoint tensor and, for FP8 weights, its weight_scale_inv.
struct Source {
  const StTensor* weight = nullptr;
  const StTensor* scale = nullptr;
};

struct PlannedTensor {
  std::string name;  // GGUF name
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  Recipe recipe = Recipe::kCopy;
  std::vector<Source> sources;  // one, or E for kStackExperts
  DType type = DType::F32;      // output type, chosen by the caller

  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t nelements() const { return ne[0] * nrows(); }
};

struct TensorPlan {
  std::vector<PlannedTensor> tensors;  // in writing order
  int64_t mtp_layers_kept = 0;
  int64_t hf_tensors_dropped = 0;  // MTP tensors left out
  bool has_source_fp8 = false, has_source_bf16 = false, has_source_f16 = false;
};

struct PlanOptions {
  Layout layout = Layout::kMla;
  bool keep_mtp = false;
};

Result<TensorPlan> PlanTensors(const HfConfig& cfg, const Checkpoint& ckpt, const PlanOptions& options);

// Reads rows [row0, row0 + nrows) of a planned tensor (each ne[0] floats, ggml row order) as f32,
// dequantizing FP8 with its block scales. `cfg` gives the kv_b geometry and FP8 block size.
Status ReadRows(const PlannedTensor& t, const HfConfig& cfg, int64_t row0, int64_t nrows, float* dst);

}  // namespace mla::convert
