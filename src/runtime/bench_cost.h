// What one token costs, read off a model's tensors: the bytes a decode step reads (dense weights,
// the k active experts of each MoE layer, the latent cache) and the multiply-adds it does
// (spec §10.2–§10.4). mla-bench divides measured speeds by these to report effective bandwidth
// and the multiply-add rate.
#pragma once

#include <cstdint>
#include <vector>

#include "gguf/gguf.h"
#include "model/config.h"

namespace mla {

struct TokenCost {
  // Per token, independent of the context: every tensor read in full except token_embd (one
  // row), the routed experts (k of E) and attn_kv_b when the file also has attn_k_b/attn_v_b
  // (split2d: the MLA pair is what runs). Norms, routers and biases count in their file type.
  double weight_bytes = 0;
  double cache_bytes_per_pos = 0;  // latent cache read per visible position, all layers
  // Weight-matrix multiply-adds per token (experts k of E; routers and token_embd excluded,
  // as in spec §10.2 "active matmul weights").
  double matmul_macs = 0;
  double router_macs = 0;
  double attn_macs_per_pos = 0;    // absorbed attention core per visible position (spec §10.4)
  uint64_t n_params = 0;           // elements of all tensors
  uint64_t tensor_bytes = 0;       // bytes of all tensors

  // One decode step with T visible positions (the cached ones plus itself).
  double DecodeBytes(double T) const { return weight_bytes + T * cache_bytes_per_pos; }
  double DecodeMacs(double T) const { return matmul_macs + router_macs + T * attn_macs_per_pos; }
  // n tokens generated one at a time after `depth` cached ones: the sums of the above.
  double GenerationBytes(int64_t n, int64_t depth) const;
  // n prompt tokens evaluated after `depth` cached ones (token i sees depth + i + 1 positions).
  double PromptMacs(int64_t n, int64_t depth) const;
};

// `cache_bytes_per_token` is LatentCache::BytesPerToken(config, cache type).
TokenCost ComputeTokenCost(const std::vector<gguf::TensorInfo>& tensors, const ModelConfig& config,
                           double cache_bytes_per_token);

}  // namespace mla
