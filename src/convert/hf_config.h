// config.json of a DeepSeek-V2/V3 Hugging Face checkpoint, and the GGUF architecture keys it
// becomes (spec §6.1, §2.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "gguf/gguf.h"

namespace mla::convert {

// The GGUF tensor layout to write (spec §2.4): (a) legacy attn_kv_b, (b) attn_kv_b plus 2-D
// attn_k_b/attn_v_b, (c) 3-D attn_k_b/attn_v_b only (the default).
enum class Layout { kLegacy, kSplit2D, kMla };
const char* LayoutName(Layout layout);
Result<Layout> ParseLayout(const std::string& name);  // "legacy", "split2d", "mla"

struct HfConfig {
  std::string architecture;  // "DeepseekV2ForCausalLM" or "DeepseekV3ForCausalLM"
  std::string model_type;    // "deepseek_v2", "deepseek_v3", ...
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;                  // D
  int64_t intermediate_size = 0;            // F
  int64_t moe_intermediate_size = 0;        // F_e
  int64_t num_hidden_layers = 0;            // L (trunk)
  int64_t num_nextn_predict_layers = 0;     // MTP layers stored after the trunk
  int64_t first_k_dense_replace = 0;        // L_d
  int64_t num_attention_heads = 0;          // H
  int64_t num_key_value_heads = 0;          // legacy head_count_kv
  int64_t q_lora_rank = 0;                  // 0: plain q_proj (V2-Lite)
  int64_t kv_lora_rank = 512;               // r_kv
  int64_t qk_nope_head_dim = 0;             // d_n
  int64_t qk_rope_head_dim = 0;             // d_r
  int64_t v_head_dim = 0;                   // d_v
  int64_t n_routed_experts = 0;             // E
  int64_t num_experts_per_tok = 0;          // k
  int64_t n_shared_experts = 0;             // E_s
  std::optional<int64_t> n_group, topk_group;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  bool sigmoid_gating = false;              // scoring_func == "sigmoid"
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 0;
  bool yarn = false;
  double yarn_factor = 1.0;
  int64_t yarn_original_context = 0;
  std::optional<double> yarn_beta_fast, yarn_beta_slow, mscale_all_dim;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1, eos_token_id = -1;  // config.json's, -1 when absent or not one id
  // FP8 checkpoints (quantization_config.quant_method == "fp8"): block size of weight_scale_inv.
  bool fp8 = false;
  int64_t fp8_block_rows = 128, fp8_block_cols = 128;
};

// Parses and checks config.json text. Unknown architectures, missing required fields and values
// out of range are errors naming the field.
Result<HfConfig> ParseHfConfig(const std::string& json_text);
Result<HfConfig> ReadHfConfig(const std::string& dir);  // DIR/config.json

struct ModelKeyOptions {
  Layout layout = Layout::kMla;
  std::string name;            // general.name
  uint32_t file_type = 0;      // general.file_type (llama.cpp LLAMA_FTYPE numbering)
  int64_t mtp_layers = 0;      // MTP blocks kept after the trunk (adds nextn_predict_layers)
};

// general.* and deepseek2.* keys in the order llama.cpp's converter writes them, with the
// layout-dependent attention keys of spec §2.4. Every layout gets the expert-group and YaRN beta
// keys (spec §6.1: so the defaults of §2.6 are never needed). general.size_label and
// general.quantization_version are added by the converter after the tokenizer keys.
std::vector<std::pair<std::string, gguf::Value>> ModelKeys(const HfConfig& cfg,
                                                           const ModelKeyOptions& options);

}  // namespace mla::convert
