#include "runtime/bench_cost.h"

#include <string>
#include <unordered_set>

namespace mla {

namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// "blk.12." of "blk.12.attn_kv_b.weight", or "" outside blocks.
std::string BlockPrefix(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return "";
  const size_t dot = name.find('.', 4);
  return dot == std::string::npos ? "" : name.substr(0, dot + 1);
}

}  // namespace

double TokenCost::GenerationBytes(int64_t n, int64_t depth) const {
  // Σ_{i<n} DecodeBytes(depth + i + 1)
  const double nn = double(n);
  return nn * weight_bytes + cache_bytes_per_pos * (nn * double(depth) + nn * (nn + 1) / 2);
}

double TokenCost::PromptMacs(int64_t n, int64_t depth) const {
  const double nn = double(n);
  return nn * (matmul_macs + router_macs) +
         attn_macs_per_pos * (nn * double(depth) + nn * (nn + 1) / 2);
}

TokenCost ComputeTokenCost(const std::vector<gguf::TensorInfo>& tensors, const ModelConfig& c,
                           double cache_bytes_per_token) {
  TokenCost cost;
  std::unordered_set<std::string> has_pair;  // blocks with attn_k_b (split2d / mla)
  for (const auto& t : tensors)
    if (EndsWith(t.name, "attn_k_b.weight")) has_pair.insert(BlockPrefix(t.name));
  const double expert_share =
      c.n_expert > 0 ? double(c.n_expert_used) / double(c.n_expert) : 0.0;
  for (const auto& t : tensors) {
    const double elems = double(t.nelements());
    cost.n_params += uint64_t(t.nelements());
    cost.tensor_bytes += t.nbytes;
    if (t.name == "token_embd.weight") {
      cost.weight_bytes += double(t.row_bytes());
      continue;
    }
    if (EndsWith(t.name, "attn_kv_b.weight") && has_pair.count(BlockPrefix(t.name))) continue;
    const bool expert = t.name.find("_exps.") != std::string::npos;
    const double share = expert ? expert_share : 1.0;
    cost.weight_bytes += double(t.nbytes) * share;
    if (t.n_dims < 2) continue;  // norms, biases
    if (t.name.find("ffn_gate_inp.") != std::string::npos)
      cost.router_macs += elems;
    else
      cost.matmul_macs += elems * share;
  }
  cost.cache_bytes_per_pos = cache_bytes_per_token;
  // spec §10.4 absorbed: per head and visible position, scores over r_kv + d_r and the weighted
  // sum over r_kv.
  cost.attn_macs_per_pos =
      double(c.n_layer) * double(c.n_head) * double(2 * c.kv_lora_rank + c.n_rope);
  return cost;
}

}  // namespace mla
