// Mixture of experts exactly as DeepSeek's reference (spec §4.2, §4.3): router scores (softmax
// or sigmoid), the selection bias used for choosing only, group-limited top-k, weights from the
// unbiased scores, optional normalisation, the routed scale, shared experts.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/weights.h"

namespace mla {

struct Workspace;

struct RouterParams {
  GatingFunc gating = GatingFunc::kSoftmax;
  int64_t n_expert = 0;      // E
  int64_t n_used = 0;        // k
  int64_t n_group = 1;       // G
  int64_t n_group_used = 1;  // G_k
  bool norm = false;         // expert_weights_norm
  float scale = 1;           // expert_weights_scale
};
RouterParams RouterFromConfig(const ModelConfig& c);

// Scratch Route needs (floats, int32s).
int64_t RouteScratchFloats(const RouterParams& p);
int64_t RouteScratchInts(const RouterParams& p);

// One token: router logits[E] (and the selection bias[E], or null) to the k chosen experts,
// best first (ties: lower index), and their weights.
void Route(const RouterParams& p, const float* logits, const float* bias, int32_t* experts,
           float* weights, float* fscratch, int32_t* iscratch);

// Dense SwiGLU FFN (spec §4.1) on ws.xn rows, result in ws.ffn_out.
void DenseFfn(const LayerWeights& l, ThreadPool& pool, Workspace& ws, int64_t n_tokens);
// Batches with at most this many (token, expert) rows run all experts' products in two fork/joins
// (decode); larger ones loop over the experts with one GEMM each (prefill).
inline constexpr int64_t kMoeFusedRows = 30;
// MoE FFN (spec §4.2) on ws.xn rows, result in ws.ffn_out. Tokens are grouped per expert so
// each expert's weights are read once per batch.
void MoeFfn(const ModelConfig& c, const LayerWeights& l, ThreadPool& pool, Workspace& ws,
            int64_t n_tokens);

}  // namespace mla
