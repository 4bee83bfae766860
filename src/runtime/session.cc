#include "runtime/session.h"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <vector>

namespace mla {

Result<std::unique_ptr<Session>> Session::Create(const Model& model, ThreadPool& pool,
                                                 const SessionOptions& options) {
  std::unique_ptr<Session> s(new Session(model, pool));
  s->options_ = options;
  if (options.n_ctx <= 0 || options.n_ctx > (int64_t(1) << 32))
    return Errorf("context size: expected 1 to 2^32 positions, found %" PRId64, options.n_ctx);
  MLA_ASSIGN_OR_RETURN(s->cache_, LatentCache::Create(model.config(), options.cache_type, options.n_ctx));
  const int64_t n_batch = std::min(options.n_batch, options.n_ctx);
  if (options.own_workspace) {
    MLA_ASSIGN_OR_RETURN(s->ws_, Workspace::Create(model.config(), model.weights(), n_batch,
                                                   pool.size(), options.logits_all,
                                                   options.attention));
  }
  s->tokens_.reserve(size_t(options.n_ctx));
  return s;
}

Status Session::Decode(const int32_t* tokens, int64_t n, float* all_logits) {
  if (n <= 0) return Errorf("decode: expected at least one token, found %" PRId64, n);
  if (n_past() + n > n_ctx())
    return Errorf("context full: %" PRId64 " cached + %" PRId64 " new tokens exceed the context of %" PRId64,
                  n_past(), n, n_ctx());
  if (!ws_) return Status::Error("decode: this session has no workspace; evaluate it through a Batch");
  if (all_logits && !options_.logits_all)
    return Status::Error("decode: logits for every position need a session made with logits_all");
  const int64_t V = n_vocab();
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      return Errorf("token id %d at index %" PRId64 ": expected 0 to %" PRId64, tokens[i], i, V - 1);

  last_logits_ = nullptr;
  for (int64_t start = 0; start < n; start += ws_->n_batch) {
    const int64_t m = std::min(ws_->n_batch, n - start);
    const bool last = start + m == n;
    const LogitsMode mode = all_logits ? LogitsMode::kAll : last ? LogitsMode::kLast : LogitsMode::kNone;
    BatchSeq seq;
    seq.cache = cache_.get();
    seq.tokens = tokens + start;
    seq.n = m;
    seq.row0 = n_past();
    seq.pos0 = pos0_ + n_past();
    seq.logits_last = mode == LogitsMode::kLast;
    seq.logits_all = mode == LogitsMode::kAll;
    Status st = ForwardBatch(model_, pool_, *ws_, &seq, 1);
    if (!st.ok()) return st;
    tokens_.insert(tokens_.end(), tokens + start, tokens + start + m);
    if (all_logits) std::memcpy(all_logits + start * V, ws_->logits, size_t(m * V) * sizeof(float));
    if (last) last_logits_ = mode == LogitsMode::kAll ? ws_->logits + (m - 1) * V : ws_->logits;
  }
  return Status::Ok();
}

Status Session::Truncate(int64_t n) {
  if (n < 0 || n > n_past())
    return Errorf("truncate: expected 0 to %" PRId64 " tokens, found %" PRId64, n_past(), n);
  tokens_.resize(size_t(n));
  if (n == 0) pos0_ = 0;
  last_logits_ = nullptr;
  return Status::Ok();
}

void Session::RotateRows(int64_t first, int64_t last, int64_t delta, int64_t move) {
  // Rotation by delta composes with the stored rotation by p (spec §5.4); cos/sin of delta·ω
  // come from the same YaRN frequencies. Done in f32 on dequantized rows, so a q8_0 cache is
  // requantized (a small loss per shift); the latent part of an f32/f16/bf16 row round-trips
  // exactly.
  const ModelConfig& c = model_.config();
  const ops::Rope& rope = model_.rope();
  const size_t half = size_t(c.n_rope / 2);
  std::vector<float> cos_t(half), sin_t(half);
  std::vector<float> row(static_cast<size_t>(LatentCache::RowElems(cache_->type(), c.latent_row())));
  std::vector<float> pad(row.size());
  rope.CosSin(delta, cos_t.data(), sin_t.data());
  for (int64_t il = 0; il < c.n_layer; ++il)
    for (int64_t p = first; p < last; ++p) {
      cache_->Read(il, p, row.data());
      rope.Rotate(row.data() + c.kv_lora_rank, cos_t.data(), sin_t.data());
      cache_->Write(il, p + move, row.data(), pad.data());
    }
}

Status Session::Shift(int64_t from, int64_t delta) {
  if (delta >= 0 || from + delta < 0 || from > n_past())
    return Errorf("shift: expected delta < 0 and 0 <= from + delta, from <= %" PRId64
                  "; found from %" PRId64 ", delta %" PRId64,
                  n_past(), from, delta);
  RotateRows(from, n_past(), delta, delta);
  tokens_.erase(tokens_.begin() + (from + delta), tokens_.begin() + from);
  last_logits_ = nullptr;
  return Status::Ok();
}

Status Session::StartAt(int64_t pos) {
  if (n_past() != 0 || pos < 0)
    return Errorf("start at position %" PRId64 ": expected an empty session and pos >= 0 (%" PRId64
                  " tokens cached)",
                  pos, n_past());
  pos0_ = pos;
  return Status::Ok();
}

Status Session::Reposition(int64_t delta) {
  if (pos0_ + delta < 0)
    return Errorf("reposition by %" PRId64 ": the first token would move to position %" PRId64,
                  delta, pos0_ + delta);
  if (delta == 0) return Status::Ok();
  RotateRows(0, n_past(), delta, 0);
  pos0_ += delta;
  last_logits_ = nullptr;
  return Status::Ok();
}

}  // namespace mla
