// ModelConfig: every hyper-parameter of a deepseek2 GGUF, read in one place (spec §2.1, §2.4,
// §2.6) for all three tensor layouts and for older files with missing keys. The forward pass
// reads this; it never re-derives shapes from tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/gguf.h"
#include "model/layout.h"
#include "ops/rope.h"

namespace mla {

enum class GatingFunc { kSoftmax = 1, kSigmoid = 2 };  // GGUF expert_gating_func ids
const char* GatingName(GatingFunc g);

// One --override-kv entry: KEY=TYPE:VALUE with TYPE int, float, bool or str (llama.cpp's syntax).
struct KvOverride {
  std::string key;
  gguf::Value value;
};
Result<KvOverride> ParseKvOverride(const std::string& text);

struct ModelConfig {
  TensorLayout layout = TensorLayout::kMla;
  std::string name;  // general.name (may be empty)

  int64_t n_embd = 0;           // D
  int64_t n_layer = 0;          // L: trunk blocks (block_count − nextn_predict_layers)
  int64_t n_nextn = 0;          // MTP blocks stored after the trunk (not run)
  int64_t n_head = 0;           // H
  int64_t n_vocab = 0;          // V
  int64_t n_ctx_train = 0;      // context_length
  int64_t q_lora_rank = 0;      // r_q; 0 = plain attn_q (decided by the tensors, spec §2.3)
  int64_t kv_lora_rank = 0;     // r_kv
  int64_t n_nope = 0;           // d_n
  int64_t n_rope = 0;           // d_r
  int64_t n_v = 0;              // d_v
  float rms_eps = 1e-6f;

  ops::RopeParams rope;              // d_r, base, YaRN parameters
  double yarn_log_multiplier = 0;    // 0.1 · mscale_all_dim (spec §3.4)
  float attn_scale = 0;              // M² / sqrt(d_qk)

  int64_t n_ff = 0;              // F, dense FFN width
  int64_t n_leading_dense = 0;   // L_d
  int64_t n_expert = 0;          // E
  int64_t n_expert_used = 0;     // k
  int64_t n_expert_shared = 0;   // E_s
  int64_t n_ff_exp = 0;          // F_e
  float expert_weights_scale = 1;
  bool expert_weights_norm = false;
  GatingFunc gating = GatingFunc::kSoftmax;
  int64_t n_group = 1;           // G
  int64_t n_group_used = 1;      // G_k
  bool has_expert_bias = false;  // exp_probs_b present (selection bias, V3 family)

  // Things the loader decided on its own (defaults for missing keys), for the load log.
  std::vector<std::string> warnings;

  int64_t n_qk() const { return n_nope + n_rope; }           // d_qk
  int64_t latent_row() const { return kv_lora_rank + n_rope; }  // one cache row (576 for V3)
  bool is_moe_layer(int64_t il) const { return il >= n_leading_dense; }
};

// Reads the config from `file` with `overrides` applied on top of its metadata.
Result<ModelConfig> LoadConfig(const gguf::File& file, const std::vector<KvOverride>& overrides);

// One-line summary for the load log.
std::string DescribeConfig(const ModelConfig& c);

}  // namespace mla
