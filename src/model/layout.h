// Which of the three DeepSeek attention tensor layouts a file uses (spec §2.4). The one place
// that decides it: the config loader, the weight binder and the tools all ask this function.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"

namespace mla {

enum class TensorLayout {
  kLegacy,   // attn_kv_b only (llama.cpp converters May 2024 - Apr 2025)
  kSplit2D,  // attn_kv_b plus 2-D attn_k_b / attn_v_b (PR 11446, ik_llama.cpp)
  kMla,      // 3-D attn_k_b / attn_v_b, head_count_kv = 1, *_mla keys (llama.cpp since Apr 2025)
};

const char* LayoutName(TensorLayout layout);  // "legacy", "split2d", "mla"

// Spec §2.4 "Detection (in this order)". Errors when the file is not deepseek2 or block 0 has
// neither attn_kv_b nor attn_k_b/attn_v_b.
Result<TensorLayout> DetectLayout(const gguf::File& file);

}  // namespace mla
