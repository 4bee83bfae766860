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
  MLA_ASSIGN_OR_RETURN(s->ws_, Workspace::Create(model.config(), model.weights(), n_batch,
                                                 pool.size(), options.logits_all,
                                                 options.attention));
  s->tokens_.reserve(size_t(options.n_ctx));
  return s;
}

Status Session::Decode(const int32_t* tokens, int64_t n, float* all_logits) {
  if (n <= 0) return Errorf("decode: expected at least one token, found %" PRId64, n);
  if (n_past() + n > n_ctx())
    return Errorf("context full: %" PRId64 " cached + %" PRId64 " new tokens exceed the context of %" PRId64,
                  n_past(), n, n_ctx());
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
    Status st = Forward(model_, pool_, *cache_, *ws_, tokens + start, m, n_past(), mode);
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
  last_logits_ = nullptr;
  return Status::Ok();
}

Status Session::Shift(int64_t from, int64_t delta) {
  const ModelConfig& c = model_.config();
  if (delta >= 0 || from + delta < 0 || from > n_past())
    return Errorf("shift: expected delta < 0 and 0 <= from + delta, from <= %" PRId64
                  "; found from %" PRId64 ", delta %" PRId64,
                  n_past(), from, delta);
  // Rotation by delta composes with the stored rotation by p (spec §5.4). Done in f32 on
  // dequantized rows, so a q8_0 cache is requantized (a small loss per shift).
  const ops::Rope& rope = model_.rope();
  const int64_t half = c.n_rope / 2;
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
  std::vector<float> row(static_cast<size_t>(LatentCache::RowElems(cache_->type(), c.latent_row())));
  std::vector<float> pad(row.size());
  rope.CosSin(delta, cos_t.data(), sin_t.data());
  for (int64_t il = 0; il < c.n_layer; ++il) {
    for (int64_t p = from; p < n_past(); ++p) {
      cache_->Read(il, p, row.data());
      rope.Rotate(row.data() + c.kv_lora_rank, cos_t.data(), sin_t.data());
      cache_->Write(il, p + delta, row.data(), pad.data());
    }
  }
  tokens_.erase(tokens_.begin() + (from + delta), tokens_.begin() + from);
  last_logits_ = nullptr;
  return Status::Ok();
}

}  // namespace mla
