// Rewriting a legacy (attn_kv_b) or split2d GGUF into the MLA layout without the original
// checkpoint (spec §2.4, §2.5): attn_k_b / attn_v_b are derived from attn_kv_b (or reshaped from
// the 2-D split tensors, whose bytes are already in MLA order), attn_kv_b is dropped, and the
// attention keys are rewritten (head_count_kv = 1, key_length = r_kv + d_r, value_length = r_kv,
// key_length_mla / value_length_mla = the old per-head sizes). Everything else is copied as is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"

namespace mla::convert {

struct UpgradeOptions {
  std::string input_path;
  std::string output_path;
  // Type of the derived attn_k_b / attn_v_b: "auto" keeps attn_kv_b's type when it is F32, F16 or
  // BF16 (exact) and uses Q8_0 for a quantized attn_kv_b (never coarser than the source; spec
  // §2.5); any type name forces it. Rows that do not fit the type's block use F16.
  std::string derived_type = "auto";
  int threads = 0;
  bool progress = true;
};

struct UpgradeReport {
  int64_t layers = 0;        // blocks whose attn_k_b / attn_v_b were derived or reshaped
  bool from_split2d = false;
  DType k_b_type = DType::F32, v_b_type = DType::F32;
  std::vector<std::string> outputs;
};

Result<UpgradeReport> UpgradeToMla(const UpgradeOptions& options);

}  // namespace mla::convert
