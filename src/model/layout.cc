#include "model/layout.h"

namespace mla {

const char* LayoutName(TensorLayout layout) {
  switch (layout) {
    case TensorLayout::kLegacy: return "legacy";
    case TensorLayout::kSplit2D: return "split2d";
    case TensorLayout::kMla: return "mla";
  }
  return "?";
}

Result<TensorLayout> DetectLayout(const gguf::File& file) {
  MLA_ASSIGN_OR_RETURN(std::string arch, file.GetStringOr("general.architecture", ""));
  if (arch != "deepseek2")
    return Errorf("expected general.architecture 'deepseek2', found '%s'", arch.c_str());
  MLA_ASSIGN_OR_RETURN(uint64_t k_mla, file.GetU64Or("deepseek2.attention.key_length_mla", 0));
  MLA_ASSIGN_OR_RETURN(uint64_t v_mla, file.GetU64Or("deepseek2.attention.value_length_mla", 0));
  if (k_mla != 0 && v_mla != 0) return TensorLayout::kMla;
  const bool has_kv_b = file.FindTensor("blk.0.attn_kv_b.weight") != nullptr;
  const bool has_k_b = file.FindTensor("blk.0.attn_k_b.weight") != nullptr;
  if (has_kv_b && has_k_b) return TensorLayout::kSplit2D;
  if (has_kv_b) return TensorLayout::kLegacy;
  return Status::Error(
      "cannot detect the attention layout: expected blk.0.attn_kv_b.weight or the *_mla keys with "
      "attn_k_b/attn_v_b, found neither");
}

}  // namespace mla
