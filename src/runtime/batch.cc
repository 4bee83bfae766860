#include "runtime/batch.h"

#include <algorithm>
#include <cinttypes>

#include "model/forward.h"

namespace mla {

Result<std::unique_ptr<Batch>> Batch::Create(const Model& model, ThreadPool& pool,
                                             int64_t n_batch, int64_t max_seqs,
                                             AttentionMode attention) {
  if (max_seqs <= 0 || max_seqs > 4096)
    return Errorf("batch: expected 1 to 4096 sequences, found %" PRId64, max_seqs);
  std::unique_ptr<Batch> b(new Batch(model, pool));
  b->max_seqs_ = max_seqs;
  MLA_ASSIGN_OR_RETURN(b->ws_, Workspace::Create(model.config(), model.weights(), n_batch,
                                                 pool.size(), false, attention, max_seqs));
  b->seqs_.resize(size_t(max_seqs));
  return b;
}

Status Batch::Decode(const BatchItem* items, int64_t n_items) {
  if (n_items <= 0 || n_items > max_seqs_)
    return Errorf("batch: expected 1 to %" PRId64 " sequences, found %" PRId64, max_seqs_, n_items);
  const int64_t V = model_.config().n_vocab;
  int64_t total = 0;
  for (int64_t i = 0; i < n_items; ++i) {
    const BatchItem& it = items[i];
    if (!it.session || it.n <= 0)
      return Errorf("batch item %" PRId64 ": expected a session and at least one token", i);
    if (&it.session->model_ != &model_)
      return Errorf("batch item %" PRId64 ": the session belongs to another model", i);
    Session& s = *it.session;
    if (s.n_past() + it.n > s.n_ctx())
      return Errorf("context full: %" PRId64 " cached + %" PRId64 " new tokens exceed the context of %" PRId64,
                    s.n_past(), it.n, s.n_ctx());
    for (int64_t t = 0; t < it.n; ++t)
      if (it.tokens[t] < 0 || it.tokens[t] >= V)
        return Errorf("token id %d at index %" PRId64 ": expected 0 to %" PRId64, it.tokens[t], t, V - 1);
    total += it.n;
    BatchSeq& q = seqs_[size_t(i)];
    q.cache = s.cache_.get();
    q.tokens = it.tokens;
    q.n = it.n;
    q.row0 = s.n_past();
    q.pos0 = s.pos0_ + s.n_past();
    q.logits_last = it.logits;
    q.logits_all = false;
  }
  if (total > ws_->n_batch)
    return Errorf("batch of %" PRId64 " tokens: expected 1 to %" PRId64, total, ws_->n_batch);
  MLA_RETURN_IF_ERROR(ForwardBatch(model_, pool_, *ws_, seqs_.data(), n_items));
  ++passes_;
  int64_t row = 0;
  for (int64_t i = 0; i < n_items; ++i) {
    Session& s = *items[i].session;
    s.tokens_.insert(s.tokens_.end(), items[i].tokens, items[i].tokens + items[i].n);
    s.last_logits_ = items[i].logits ? ws_->logits + (row++) * V : nullptr;
  }
  return Status::Ok();
}

}  // namespace mla
