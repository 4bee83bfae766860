// MLA attention in the decompressed form (spec §3.6), computed from the same latent cache: per
// head, K_nope and V are rebuilt from the cached latent rows (K_nope[τ] = W_UK·C[τ],
// V[τ] = W_UV·C[τ]), then ordinary attention with d_qk-wide keys and d_v-wide values.
//
// It costs H·T·r_kv·(d_n + d_v) multiply-adds to rebuild K/V per batch, but each query-key pair
// then costs d_qk + d_v instead of 2·r_kv + d_r (spec §3.7), so for large prefill batches it can
// be the cheaper form; the caller decides (model/mla.cc). The result equals the absorbed form up
// to rounding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "ops/matmul.h"
#include "ops/mla_attention.h"

namespace mla::ops {

struct MlaDecompressedArgs {
  int64_t n_tokens = 0;
  int64_t n_head = 0;
  int64_t n_nope = 0;  // d_n
  int64_t n_v = 0;     // d_v
  // q[t·q_stride + h·(d_n + d_r) ...]: [q_nope | q_pe], q_pe already rotated.
  const float* q = nullptr;
  int64_t q_stride = 0;
  const int64_t* n_visible = nullptr;  // token t attends to cache rows [0, n_visible[t])
  float scale = 1;
  // o[(t·n_head + h)·d_v + j]: the attention output per head (no v_b product needed).
  float* o = nullptr;
};

// Per-thread scratch floats for batches of up to max_tokens tokens.
size_t MlaDecompressedScratchFloats(const LatentView& cache, const Matrix& k_b, const Matrix& v_b,
                                    int64_t n_nope, int64_t n_v, int64_t max_tokens);

// k_b: H matrices of r_kv rows × d_n (ggml {d_n, r_kv, H}); v_b: H matrices of d_v rows × r_kv.
// `scratch` holds pool.size() · MlaDecompressedScratchFloats(...) floats. Work is split by head;
// results do not depend on the thread count.
void MlaAttentionDecompressed(ThreadPool& pool, const LatentView& cache, const Matrix& k_b,
                              const Matrix& v_b, const MlaDecompressedArgs& args, float* scratch);

// Multiply-adds of each form for a batch (spec §3.7), for choosing between them. The rebuild's
// count is weighted by `rebuild_cost`, its cost per multiply-add relative to the attention's
// (MlaRebuildCost); the decompressed form also stages each head's W_UK / W_UV once per batch
// (dequantized, transposed, requantized), which costs about as much as kMlaStageCost attention
// multiply-adds per weight (attention_bench Prefill/f16/t2/ctx1/m1: 1.2 ms for V2-Lite's 2.1 M
// weights per layer, against ≈ 85 G multiply-adds/s absorbed; without it the first token of a
// generation, one row deep, took the decompressed form at ~8 ms per layer).
constexpr double kMlaStageCost = 48;
struct MlaCost {
  double absorbed = 0, decompressed = 0;
};
MlaCost EstimateMlaCost(int64_t n_head, int64_t kv_lora_rank, int64_t n_nope, int64_t n_rope,
                        int64_t n_v, int64_t n_tokens, const int64_t* n_visible,
                        double rebuild_cost = 1.0);

// The relative cost of the rebuild that MlaAttentionDecompressed runs for these weights and
// cache: 1 for the f32 / bf16 rebuild, less for the integer one (measured).
double MlaRebuildCost(const LatentView& cache, const Matrix& k_b, const Matrix& v_b, int64_t n_nope,
                      int64_t n_v);

}  // namespace mla::ops
