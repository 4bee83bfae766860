#include "model/forward.h"

#include "base/profile.h"

#include <cinttypes>
#include <cstring>

#include "model/mla.h"
#include "model/moe.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "quant/quant.h"

namespace mla {

Status ForwardBatch(const Model& model, ThreadPool& pool, Workspace& ws, const BatchSeq* seqs,
                    int64_t n_seqs) {
  const ModelConfig& c = model.config();
  const Weights& w = model.weights();
  const int64_t D = c.n_embd, V = c.n_vocab;
  if (n_seqs <= 0) return Errorf("batch of %" PRId64 " sequences: expected at least one", n_seqs);
  if (pool.size() > ws.n_threads)
    return Errorf("thread pool of %d threads: the workspace was made for %d", pool.size(),
                  ws.n_threads);
  int64_t n = 0, logit_rows = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const BatchSeq& q = seqs[s];
    if (!q.cache || q.n <= 0)
      return Errorf("sequence %" PRId64 " of the batch: expected a cache and at least one token", s);
    for (int64_t r = 0; r < s; ++r)
      if (seqs[r].cache == q.cache)
        return Errorf("sequences %" PRId64 " and %" PRId64 " of the batch share one cache", r, s);
    if (q.row0 < 0 || q.row0 + q.n > q.cache->n_ctx() || q.pos0 < 0)
      return Errorf("context full: rows %" PRId64 "..%" PRId64 " do not fit a cache of %" PRId64
                    " positions",
                    q.row0, q.row0 + q.n - 1, q.cache->n_ctx());
    for (int64_t t = 0; t < q.n; ++t)
      if (q.tokens[t] < 0 || q.tokens[t] >= V)
        return Errorf("token id %d at batch index %" PRId64 ": expected 0 to %" PRId64,
                      q.tokens[t], n + t, V - 1);
    n += q.n;
    logit_rows += q.logits_all ? q.n : q.logits_last ? 1 : 0;
  }
  if (n > ws.n_batch)
    return Errorf("batch of %" PRId64 " tokens: expected 1 to %" PRId64, n, ws.n_batch);
  if (logit_rows > ws.logit_rows)
    return Errorf("batch asks for %" PRId64 " rows of logits: the workspace holds %" PRId64
                  " (logits for every position need a session made with logits_all)",
                  logit_rows, ws.logit_rows);
  ws.seqs = seqs;
  ws.n_seqs = n_seqs;

  // Embedding rows and the positions' RoPE tables (shared by every layer).
  const int64_t half = c.n_rope / 2;
  for (int64_t s = 0, t = 0; s < n_seqs; ++s)
    for (int64_t i = 0; i < seqs[s].n; ++i, ++t) {
      const int32_t id = seqs[s].tokens[i];
      quant::DequantizeRow(w.token_embd.type, w.token_embd.data + size_t(id) * w.token_embd.row_bytes,
                           ws.x + t * D, D);
      ws.pos[t] = seqs[s].pos0 + i;
      model.rope().CosSin(ws.pos[t], ws.rope_cos + t * half, ws.rope_sin + t * half);
    }

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& l = w.layers[size_t(il)];
    using profile::Scope, profile::Stage;
    // h = x + MLA(RMSNorm(x))
    {
      Scope p(Stage::kNorm);
      ops::RmsNormRows(ws.x, l.attn_norm, ws.xn, D, n, D, c.rms_eps);
    }
    MlaAttentionLayer(c, l, il, model.rope(), pool, ws, n);
    {
      Scope p(Stage::kResidual);
      for (int64_t i = 0; i < n * D; ++i) ws.x[i] += ws.attn_out[i];
    }
    // x' = h + FFN(RMSNorm(h))
    {
      Scope p(Stage::kNorm);
      ops::RmsNormRows(ws.x, l.ffn_norm, ws.xn, D, n, D, c.rms_eps);
    }
    if (c.is_moe_layer(il)) {
      MoeFfn(c, l, pool, ws, n);
    } else {
      Scope p(Stage::kDenseFfn);
      DenseFfn(l, pool, ws, n);
    }
    Scope p(Stage::kResidual);
    for (int64_t i = 0; i < n * D; ++i) ws.x[i] += ws.ffn_out[i];
  }

  if (logit_rows == 0) return Status::Ok();
  // Only the rows that need logits go through the final norm and the output matrix: gather them
  // (in order, so in place is safe) to the front of ws.x.
  int64_t out = 0;
  for (int64_t s = 0, t = 0; s < n_seqs; t += seqs[s].n, ++s) {
    const int64_t first = seqs[s].logits_all ? t : seqs[s].logits_last ? t + seqs[s].n - 1 : t + seqs[s].n;
    for (int64_t r = first; r < t + seqs[s].n; ++r, ++out)
      if (r != out) std::memmove(ws.x + out * D, ws.x + r * D, size_t(D) * sizeof(float));
  }
  profile::Scope p(profile::Stage::kLogits);
  ops::RmsNormRows(ws.x, w.output_norm, ws.xn, D, logit_rows, D, c.rms_eps);
  ops::MatMul(pool, w.output, ws.xn, D, logit_rows, ws.logits, V, ws.act);
  return Status::Ok();
}

Status Forward(const Model& model, ThreadPool& pool, LatentCache& cache, Workspace& ws,
               const int32_t* tokens, int64_t n, int64_t pos0, LogitsMode mode) {
  BatchSeq seq;
  seq.cache = &cache;
  seq.tokens = tokens;
  seq.n = n;
  seq.row0 = pos0;
  seq.pos0 = pos0;
  seq.logits_last = mode == LogitsMode::kLast;
  seq.logits_all = mode == LogitsMode::kAll;
  return ForwardBatch(model, pool, ws, &seq, 1);
}

}  // namespace mla
