#include "model/mla.h"

#include <cstring>

#include "ops/matmul.h"
#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "ops/norm.h"

namespace mla {

void MlaAttentionLayer(const ModelConfig& c, const LayerWeights& l, int64_t layer,
                       const ops::Rope& rope, ThreadPool& pool, LatentCache& cache,
                       Workspace& ws, int64_t n) {
  const int64_t D = c.n_embd, H = c.n_head, r_kv = c.kv_lora_rank, d_n = c.n_nope,
                d_r = c.n_rope, d_qk = c.n_qk(), d_v = c.n_v, row = c.latent_row();
  const int64_t half = d_r / 2;

  // §3.1 query: q = W_q_b · RMSNorm(W_q_a · x) or q = W_q · x.
  if (c.q_lora_rank > 0) {
    ops::MatMul(pool, l.attn_q_a, ws.xn, D, n, ws.c_q, c.q_lora_rank, ws.act);
    ops::RmsNormRows(ws.c_q, l.attn_q_a_norm, ws.c_q, c.q_lora_rank, n, c.q_lora_rank, c.rms_eps);
    ops::MatMul(pool, l.attn_q_b, ws.c_q, c.q_lora_rank, n, ws.q, H * d_qk, ws.act);
  } else {
    ops::MatMul(pool, l.attn_q, ws.xn, D, n, ws.q, H * d_qk, ws.act);
  }

  // §3.2 latent: kv = W_kv_a · x = [c | k_pe]; c normalised, k_pe rotated; both cached (§5.2:
  // every row of the batch is written before any token attends).
  ops::MatMul(pool, l.attn_kv_a_mqa, ws.xn, D, n, ws.kv, row, ws.act);
  for (int64_t t = 0; t < n; ++t) {
    float* kv = ws.kv + t * row;
    ops::RmsNorm(kv, l.attn_kv_a_norm, kv, r_kv, c.rms_eps);
    rope.Rotate(kv + r_kv, ws.rope_cos + t * half, ws.rope_sin + t * half);
    cache.Write(layer, ws.pos[t], kv, ws.cache_pad);
  }

  for (int64_t t = 0; t < n; ++t) ws.n_visible[t] = ws.pos[t] + 1;  // causal (§3.8)
  const ops::LatentView view = cache.Layer(layer);
  bool decompress = ws.attention == AttentionMode::kDecompressed;
  if (ws.attention == AttentionMode::kAuto) {
    const ops::MlaCost cost =
        ops::EstimateMlaCost(H, r_kv, d_n, d_r, d_v, n, ws.n_visible);
    decompress = cost.decompressed < cost.absorbed;
  }

  if (decompress) {
    // §3.6: rebuild per-head K/V from the latent rows; the output is already per head (d_v).
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < H; ++h)
        rope.Rotate(ws.q + (t * H + h) * d_qk + d_n, ws.rope_cos + t * half, ws.rope_sin + t * half);
    ops::MlaDecompressedArgs args;
    args.n_tokens = n;
    args.n_head = H;
    args.n_nope = d_n;
    args.n_v = d_v;
    args.q = ws.q;
    args.q_stride = H * d_qk;
    args.n_visible = ws.n_visible;
    args.scale = c.attn_scale;
    args.o = ws.o;
    ops::MlaAttentionDecompressed(pool, view, l.attn_k_b, l.attn_v_b, args, ws.attn_scratch);
    ++ws.n_decompressed;
  } else {
    // §3.5 step 1: q_abs[h] = k_b[h] · q_nope[h] into the first r_kv values of each qcat head
    // row; step 2: the rotated q_pe into the last d_r.
    ops::MatMulGroups(pool, l.attn_k_b, H, ws.q, H * d_qk, d_qk, n, ws.qcat, H * row, row, ws.act);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < H; ++h) {
        float* pe = ws.qcat + (t * H + h) * row + r_kv;
        std::memcpy(pe, ws.q + (t * H + h) * d_qk + d_n, size_t(d_r) * sizeof(float));
        rope.Rotate(pe, ws.rope_cos + t * half, ws.rope_sin + t * half);
      }
    // Steps 3-5: scores, softmax and the weighted latent sum in one pass.
    ops::MlaAttentionArgs args;
    args.n_tokens = n;
    args.n_head = H;
    args.q = ws.qcat;
    args.q_stride = row;
    args.n_visible = ws.n_visible;
    args.scale = c.attn_scale;
    args.o_lat = ws.o_lat;
    ops::MlaAttention(pool, view, args, ws.attn_scratch);
    // Step 6: o[h] = v_b[h] · o_lat[h].
    ops::MatMulGroups(pool, l.attn_v_b, H, ws.o_lat, H * r_kv, r_kv, n, ws.o, H * d_v, d_v, ws.act);
  }
  // Step 7: out = W_o · concat_h o[h].
  ops::MatMul(pool, l.attn_output, ws.o, H * d_v, n, ws.attn_out, D, ws.act);
}

}  // namespace mla
