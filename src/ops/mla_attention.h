// Absorbed MLA attention over the latent cache (spec §3.5 steps 3-5): one fused pass of scores,
// online softmax and the weighted sum of latent rows, per token and head.
//
// This is MQA with one shared key row per cached token, [C (n_latent) | K_pe (n_rope)], whose
// first n_latent values are also the value. Each query row is [q_abs (n_latent) | q_pe (n_rope)]
// (q_pe already rotated). Scores and the softmax are f32 (spec §3.9).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "base/thread_pool.h"

namespace mla::ops {

// One layer of the latent cache: row s (the token at position s) at data + s·row_bytes, holding
// row_elems values of `type` (n_latent + n_rope, padded to the type's block size).
struct LatentView {
  DType type = DType::F16;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int64_t n_latent = 0;  // r_kv
  int64_t n_rope = 0;    // d_r
  int64_t row_elems = 0;
};

struct MlaAttentionArgs {
  int64_t n_tokens = 0;
  int64_t n_head = 0;
  // q[(t·n_head + h)·q_stride ...]: [q_abs | q_pe], n_latent + n_rope values.
  const float* q = nullptr;
  int64_t q_stride = 0;
  // Token t attends to cache rows [0, n_visible[t]) (causal mask, spec §3.8).
  const int64_t* n_visible = nullptr;
  float scale = 1;
  // o_lat[(t·n_head + h)·n_latent + c] = Σ_τ softmax_τ(score)·C[τ][c].
  float* o_lat = nullptr;
};

// Per-thread scratch floats MlaAttention needs.
size_t MlaAttentionScratchFloats(const LatentView& cache, int64_t n_head);

// `scratch` holds pool.size() · MlaAttentionScratchFloats(...) floats. The result of each
// (token, head) does not depend on the thread count.
void MlaAttention(ThreadPool& pool, const LatentView& cache, const MlaAttentionArgs& args,
                  float* scratch);

// Converts rows [r0, r0 + n) of the cache to f32 (n × row_elems floats).
void ReadLatentRows(const LatentView& cache, int64_t r0, int64_t n, float* out);

}  // namespace mla::ops
