// The model's tensors bound to the roles the forward pass uses (spec §2.3, §2.4). Weights are
// used in place from the mapping; copies are made only for documented transforms, counted in
// bytes_allocated:
//  - attn_k_b / attn_v_b derived from attn_kv_b for legacy files (spec §2.5), once at load;
//  - 1-D vectors (norms, selection bias) stored in a type other than f32 are widened to f32.
// Matrices of the types with row-interleaved kernels (kernels.h) are repacked at load
// into buffers of their own (counted in bytes_repacked; the mapping's pages of those tensors are
// released, so the weights are never held twice), unless disabled.
// Every layout ends up with the MLA pair: there is no non-absorbed cache mode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/huge_buffer.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "ops/matmul.h"

namespace mla {

// The routed experts of one projection: expert e is rows [e·stride + offset, … + rows).
// ffn_*_exps {n_in, rows, E} has stride = rows, offset 0; the fused ffn_gate_up_exps
// {D, 2·F_e, E} gives gate (offset 0) and up (offset F_e) with stride 2·F_e.
struct ExpertMatrix {
  ops::Matrix all;
  int64_t rows = 0;
  int64_t stride = 0;
  int64_t offset = 0;
  ops::Matrix Expert(int64_t e) const { return all.Rows(e * stride + offset, rows); }
};

struct LayerWeights {
  const float* attn_norm = nullptr;
  const float* attn_q_a_norm = nullptr;   // q LoRA only
  const float* attn_kv_a_norm = nullptr;
  const float* ffn_norm = nullptr;

  ops::Matrix attn_q;         // {D, H·d_qk}, plain query (r_q = 0)
  ops::Matrix attn_q_a;       // {D, r_q}
  ops::Matrix attn_q_b;       // {r_q, H·d_qk}
  ops::Matrix attn_kv_a_mqa;  // {D, r_kv + d_r}
  ops::Matrix attn_k_b;       // H matrices of r_kv rows × d_n  (ggml {d_n, r_kv, H})
  ops::Matrix attn_v_b;       // H matrices of d_v rows × r_kv  (ggml {r_kv, d_v, H})
  ops::Matrix attn_output;    // {H·d_v, D}

  // Dense FFN (layer < L_d).
  ops::Matrix ffn_gate, ffn_up, ffn_down;
  // MoE (layer >= L_d).
  ops::Matrix ffn_gate_inp;             // router {D, E}
  const float* exp_probs_b = nullptr;   // selection bias {E}, or null
  ExpertMatrix ffn_gate_exps, ffn_up_exps, ffn_down_exps;
  ops::Matrix ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp;  // empty when E_s = 0
};

struct Weights {
  ops::Matrix token_embd;  // {D, V}; row t = embedding of token t
  ops::Matrix output;      // {D, V}; token_embd when the file has no output.weight (tied)
  const float* output_norm = nullptr;
  std::vector<LayerWeights> layers;

  // Load-log facts.
  DType derived_type = DType::F32;  // type of derived attn_k_b/attn_v_b (legacy files)
  bool derived = false;
  size_t bytes_allocated = 0;  // derived tensors + widened vectors
  size_t bytes_mapped = 0;     // tensor bytes used in place from the mapping
  size_t bytes_repacked = 0;   // of which copied into the interleaved layout (repacked)
  int tensors_repacked = 0;
  // Tensor count per type, for "types: f32 11, q4_K 20, ..." in the log.
  std::vector<std::pair<DType, int>> type_counts;

  std::vector<HugeBuffer> repacked;  // the interleaved matrices
  // Owned copies (see header comment).
  std::vector<std::unique_ptr<uint8_t[]>> owned;
};

// Binds and checks every tensor against `config` (shapes, types, presence).
struct BindOptions {
  bool repack = true;  // interleave the rows of matrices CanInterleave allows (kernels.h)
  int n_threads = 1;   // threads for the repacking
};
Result<std::unique_ptr<Weights>> BindWeights(const gguf::File& file, const ModelConfig& config,
                                             const BindOptions& options = {});

// Spec §2.5: from attn_kv_b dequantized to f32 (r_kv × H·(d_n + d_v) values, row o = output o),
// k_b[(h·r_kv + c)·d_n + d] = kvb[(h·P + d)·r_kv + c] and
// v_b[(h·d_v + j)·r_kv + c] = kvb[(h·P + d_n + j)·r_kv + c], P = d_n + d_v.
void SplitKvB(const float* kvb, int64_t kv_lora_rank, int64_t n_head, int64_t n_nope, int64_t n_v,
              float* k_b, float* v_b);

// The type derived k_b/v_b are kept in for an attn_kv_b of `source` type: the same float type,
// or f16 for quantized sources (holds their dequantized values to 2^-11 relative; f32 if any
// value is beyond f16 range, see `max_abs`).
DType DerivedKvType(DType source, float max_abs);

}  // namespace mla
