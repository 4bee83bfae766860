// Continuous batching (spec §5.2): one forward pass advances several sessions at once — a decode
// token for some, a prefill chunk for others — so the weights are read once for all of them.
// Each session attends only to its own latent cache. The Batch owns the one workspace the
// passes use; sessions evaluated through it may be made with own_workspace = false.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "model/workspace.h"
#include "runtime/session.h"

namespace mla {

struct BatchItem {
  Session* session = nullptr;
  const int32_t* tokens = nullptr;  // evaluated after the session's tokens
  int64_t n = 0;
  bool logits = false;  // the last token's logits, then at session->logits()
};

class Batch {
 public:
  // Passes of up to n_batch tokens over up to max_seqs sessions.
  static Result<std::unique_ptr<Batch>> Create(const Model& model, ThreadPool& pool,
                                               int64_t n_batch, int64_t max_seqs,
                                               AttentionMode attention = AttentionMode::kAuto);

  // One forward pass over every item. Checks everything first (nothing is computed on error):
  // token counts within n_batch, contexts not full, a session at most once. Afterwards each
  // item that asked for logits has them at item.session->logits(), valid until the next pass.
  Status Decode(const BatchItem* items, int64_t n_items);

  int64_t n_batch() const { return ws_->n_batch; }
  int64_t max_seqs() const { return max_seqs_; }
  int64_t passes() const { return passes_; }  // forward passes run so far

 private:
  Batch(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}
  const Model& model_;
  ThreadPool& pool_;
  int64_t max_seqs_ = 0;
  int64_t passes_ = 0;
  std::unique_ptr<Workspace> ws_;
  std::vector<BatchSeq> seqs_;  // max_seqs entries, reused every pass
};

}  // namespace mla
