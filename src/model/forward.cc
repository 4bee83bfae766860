#include "model/forward.h"

#include <cinttypes>
#include <cstring>

#include "model/mla.h"
#include "model/moe.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "quant/quant.h"

namespace mla {

Status Forward(const Model& model, ThreadPool& pool, LatentCache& cache, Workspace& ws,
               const int32_t* tokens, int64_t n, int64_t pos0, LogitsMode mode) {
  const ModelConfig& c = model.config();
  const Weights& w = model.weights();
  const int64_t D = c.n_embd, V = c.n_vocab;
  if (n <= 0 || n > ws.n_batch)
    return Errorf("batch of %" PRId64 " tokens: expected 1 to %" PRId64, n, ws.n_batch);
  if (pool.size() > ws.n_threads)
    return Errorf("thread pool of %d threads: the workspace was made for %d", pool.size(),
                  ws.n_threads);
  if (mode == LogitsMode::kAll && !ws.logits_all)
    return Status::Error("logits for every position need a session made with logits_all");
  if (pos0 < 0 || pos0 + n > cache.n_ctx())
    return Errorf("context full: positions %" PRId64 "..%" PRId64 " do not fit a cache of %" PRId64
                  " positions",
                  pos0, pos0 + n - 1, cache.n_ctx());
  for (int64_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= V)
      return Errorf("token id %d at batch index %" PRId64 ": expected 0 to %" PRId64, tokens[t], t,
                    V - 1);

  // Embedding rows and the positions' RoPE tables (shared by every layer).
  const int64_t half = c.n_rope / 2;
  for (int64_t t = 0; t < n; ++t) {
    quant::DequantizeRow(w.token_embd.type, w.token_embd.data + size_t(tokens[t]) * w.token_embd.row_bytes,
                         ws.x + t * D, D);
    ws.pos[t] = pos0 + t;
    model.rope().CosSin(ws.pos[t], ws.rope_cos + t * half, ws.rope_sin + t * half);
  }

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = w.layers[size_t(il)];
    // h = x + MLA(RMSNorm(x))
    ops::RmsNormRows(ws.x, l.attn_norm, ws.xn, D, n, D, c.rms_eps);
    MlaAttentionLayer(c, l, il, model.rope(), pool, cache, ws, n);
    for (int64_t i = 0; i < n * D; ++i) ws.x[i] += ws.attn_out[i];
    // x' = h + FFN(RMSNorm(h))
    ops::RmsNormRows(ws.x, l.ffn_norm, ws.xn, D, n, D, c.rms_eps);
    if (c.is_moe_layer(il))
      MoeFfn(c, l, pool, ws, n);
    else
      DenseFfn(l, pool, ws, n);
    for (int64_t i = 0; i < n * D; ++i) ws.x[i] += ws.ffn_out[i];
  }

  if (mode == LogitsMode::kNone) return Status::Ok();
  // Only the rows that need logits go through the final norm and the output matrix.
  const int64_t first = mode == LogitsMode::kAll ? 0 : n - 1;
  const int64_t rows = n - first;
  ops::RmsNormRows(ws.x + first * D, w.output_norm, ws.xn, D, rows, D, c.rms_eps);
  ops::MatMul(pool, w.output, ws.xn, D, rows, ws.logits, V, ws.act);
  return Status::Ok();
}

}  // namespace mla
