#include "model/mla.h"

#include <cstring>

#include "base/profile.h"

#include "ops/matmul.h"
#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "ops/norm.h"

namespace mla {

void MlaAttentionLayer(const ModelConfig& c, const LayerWeights& l, int64_t layer,
                       const ops::Rope& rope, ThreadPool& pool, Workspace& ws, int64_t n) {
  const int64_t D = c.n_embd, H = c.n_head, r_kv = c.kv_lora_rank, d_n = c.n_nope,
                d_r = c.n_rope, d_qk = c.n_qk(), d_v = c.n_v, row = c.latent_row();
  const int64_t half = d_r / 2;
  using profile::Scope, profile::Stage;

  // §3.1 query: q = W_q_b · RMSNorm(W_q_a · x) or q = W_q · x.
  // §3.2 latent: kv = W_kv_a · x = [c | k_pe], computed with the query's first projection (same
  // input, one fork/join).
  const ops::MatMulJob first[2] = {
      c.q_lora_rank > 0 ? ops::MatMulJob{l.attn_q_a, ws.xn, D, n, ws.c_q, c.q_lora_rank}
                        : ops::MatMulJob{l.attn_q, ws.xn, D, n, ws.q, H * d_qk},
      {l.attn_kv_a_mqa, ws.xn, D, n, ws.kv, row}};
  {
    Scope p(Stage::kQkvProjection);
    ops::MatMulBatch(pool, first, 2, ws.act);
    if (c.q_lora_rank > 0) {
      ops::RmsNormRows(ws.c_q, l.attn_q_a_norm, ws.c_q, c.q_lora_rank, n, c.q_lora_rank, c.rms_eps);
      ops::MatMul(pool, l.attn_q_b, ws.c_q, c.q_lora_rank, n, ws.q, H * d_qk, ws.act);
    }
  }

  // c normalised, k_pe rotated; both cached in the row's own sequence cache (§5.2: every row of
  // the batch is written before any token attends).
  {
    Scope p(Stage::kLatentWrite);
    for (int64_t s = 0, t = 0; s < ws.n_seqs; ++s)
      for (int64_t i = 0; i < ws.seqs[s].n; ++i, ++t) {
        float* kv = ws.kv + t * row;
        ops::RmsNorm(kv, l.attn_kv_a_norm, kv, r_kv, c.rms_eps);
        rope.Rotate(kv + r_kv, ws.rope_cos + t * half, ws.rope_sin + t * half);
        ws.seqs[s].cache->Write(layer, ws.seqs[s].row0 + i, kv, ws.cache_pad);
        ws.n_visible[t] = ws.seqs[s].row0 + i + 1;  // causal, own sequence only (§3.8)
      }
  }

  // Attention form per sequence (§3.7): decode rows take the absorbed form, large prefill chunks
  // may take the decompressed one.
  auto decompress = [&](int64_t s, int64_t t0) {
    if (ws.attention != AttentionMode::kAuto) return ws.attention == AttentionMode::kDecompressed;
    const ops::LatentView view = ws.seqs[s].cache->Layer(layer);
    const ops::MlaCost cost =
        ops::EstimateMlaCost(H, r_kv, d_n, d_r, d_v, ws.seqs[s].n, ws.n_visible + t0,
                             ops::MlaRebuildCost(view, l.attn_k_b, l.attn_v_b, d_n, d_v));
    return cost.decompressed < cost.absorbed;
  };
  bool all_absorbed = true;
  for (int64_t s = 0, t = 0; s < ws.n_seqs; t += ws.seqs[s].n, ++s)
    if (decompress(s, t)) all_absorbed = false;

  // §3.5 steps 1-2 for rows [t0, t0 + m): q_abs[h] = k_b[h] · q_nope[h] into the first r_kv
  // values of each qcat head row, the rotated q_pe into the last d_r.
  auto absorb_queries = [&](int64_t t0, int64_t m) {
    Scope p(Stage::kAbsorb);
    ops::MatMulGroups(pool, l.attn_k_b, H, ws.q + t0 * H * d_qk, H * d_qk, d_qk, m,
                      ws.qcat + t0 * H * row, H * row, row, ws.act);
    for (int64_t t = t0; t < t0 + m; ++t)
      for (int64_t h = 0; h < H; ++h) {
        float* pe = ws.qcat + (t * H + h) * row + r_kv;
        std::memcpy(pe, ws.q + (t * H + h) * d_qk + d_n, size_t(d_r) * sizeof(float));
        rope.Rotate(pe, ws.rope_cos + t * half, ws.rope_sin + t * half);
      }
  };
  // Step 6: o[h] = v_b[h] · o_lat[h].
  auto value_heads = [&](int64_t t0, int64_t m) {
    Scope p(Stage::kValueHeads);
    ops::MatMulGroups(pool, l.attn_v_b, H, ws.o_lat + t0 * H * r_kv, H * r_kv, r_kv, m,
                      ws.o + t0 * H * d_v, H * d_v, d_v, ws.act);
  };
  // All-absorbed batches (decode steps) read k_b and v_b once for every row.
  if (all_absorbed) absorb_queries(0, n);

  for (int64_t s = 0, t0 = 0; s < ws.n_seqs; t0 += ws.seqs[s].n, ++s) {
    const int64_t m = ws.seqs[s].n;
    const ops::LatentView view = ws.seqs[s].cache->Layer(layer);
    if (decompress(s, t0)) {
      // §3.6: rebuild per-head K/V from the latent rows; the output is already per head (d_v).
      Scope p(Stage::kAttention);
      for (int64_t t = t0; t < t0 + m; ++t)
        for (int64_t h = 0; h < H; ++h)
          rope.Rotate(ws.q + (t * H + h) * d_qk + d_n, ws.rope_cos + t * half, ws.rope_sin + t * half);
      ops::MlaDecompressedArgs args;
      args.n_tokens = m;
      args.n_head = H;
      args.n_nope = d_n;
      args.n_v = d_v;
      args.q = ws.q + t0 * H * d_qk;
      args.q_stride = H * d_qk;
      args.n_visible = ws.n_visible + t0;
      args.scale = c.attn_scale;
      args.o = ws.o + t0 * H * d_v;
      ops::MlaAttentionDecompressed(pool, view, l.attn_k_b, l.attn_v_b, args, ws.attn_scratch);
      ++ws.n_decompressed;
    } else {
      if (!all_absorbed) absorb_queries(t0, m);
      // Steps 3-5: scores, softmax and the weighted latent sum in one pass.
      ops::MlaAttentionArgs args;
      args.n_tokens = m;
      args.n_head = H;
      args.q = ws.qcat + t0 * H * row;
      args.q_stride = row;
      args.n_visible = ws.n_visible + t0;
      args.scale = c.attn_scale;
      args.o_lat = ws.o_lat + t0 * H * r_kv;
      {
        Scope p(Stage::kAttention);
        ops::MlaAttention(pool, view, args, ws.attn_scratch);
      }
      if (!all_absorbed) value_heads(t0, m);
    }
  }
  if (all_absorbed) value_heads(0, n);
  // Step 7: out = W_o · concat_h o[h].
  Scope p(Stage::kOutputProj);
  ops::MatMul(pool, l.attn_output, ws.o, H * d_v, n, ws.attn_out, D, ws.act);
}

}  // namespace mla
