// A Session is one sequence's state (spec §5.3): its tokens, their latent cache rows and the
// scratch of the forward pass, all allocated when the session is made. Decode evaluates tokens
// after the current ones in batches of n_batch; Truncate drops a suffix (retries, multi-turn).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "model/forward.h"
#include "model/latent_cache.h"
#include "model/model.h"
#include "model/workspace.h"

namespace mla {

struct SessionOptions {
  int64_t n_ctx = 4096;           // positions in the latent cache
  int64_t n_batch = 512;          // tokens per forward pass (prefill chunk)
  DType cache_type = DType::F16;  // f32, f16, bf16 or q8_0
  bool logits_all = false;        // allow Decode(..., all_logits) (n_batch × V logits buffer)
  AttentionMode attention = AttentionMode::kAuto;  // absorbed / decompressed MLA (tests, benches)
  // false: no scratch of its own; the session is only evaluated through a Batch (server slots
  // share one batch workspace).
  bool own_workspace = true;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> Create(const Model& model, ThreadPool& pool,
                                                 const SessionOptions& options);

  // Evaluates tokens[0 .. n) at positions n_past() ... Afterwards logits() is the last token's
  // distribution. With all_logits (a logits_all session) the logits of every token are written
  // to all_logits[t·V ...]. Errors before computing anything when the tokens do not fit the
  // context ("context full") or an id is out of range.
  Status Decode(const int32_t* tokens, int64_t n, float* all_logits = nullptr);
  Status Decode(const std::vector<int32_t>& tokens, float* all_logits = nullptr) {
    return Decode(tokens.data(), int64_t(tokens.size()), all_logits);
  }

  // Logits of the last evaluated token (n_vocab floats); null before the first Decode and after
  // a Truncate.
  const float* logits() const { return last_logits_; }
  int64_t n_vocab() const { return model_.config().n_vocab; }

  // Keeps the first n tokens (n ≤ n_past()). Cache rows depend only on earlier tokens, so
  // nothing is recomputed (spec §5.3).
  Status Truncate(int64_t n);
  // Context shift (spec §5.4): moves the tokens at positions [from, n_past) by delta < 0, after
  // dropping [from + delta, from). Cached rope keys are re-rotated by delta; the latent part is
  // position-free.
  Status Shift(int64_t from, int64_t delta);

  // Starts an empty session at position `pos` instead of 0 (its first token's RoPE position;
  // cache rows still start at 0). For tests of the context shift.
  Status StartAt(int64_t pos);
  // Moves every cached token by delta (spec §5.4): rope keys re-rotated, nothing dropped.
  Status Reposition(int64_t delta);
  // RoPE position of cached row 0 (0 unless StartAt / Reposition moved it).
  int64_t pos0() const { return pos0_; }

  int64_t n_past() const { return int64_t(tokens_.size()); }
  int64_t n_ctx() const { return cache_->n_ctx(); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const SessionOptions& options() const { return options_; }
  const LatentCache& cache() const { return *cache_; }
  size_t scratch_bytes() const { return ws_ ? ws_->bytes : 0; }
  // Layer passes that used the decompressed attention form so far (AttentionMode::kAuto).
  int64_t decompressed_passes() const { return ws_ ? ws_->n_decompressed : 0; }

 private:
  friend class Batch;
  // Re-rotates rows [first, last) by delta and stores them at row + move (spec §5.4).
  void RotateRows(int64_t first, int64_t last, int64_t delta, int64_t move);
  Session(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}
  const Model& model_;
  ThreadPool& pool_;
  SessionOptions options_;
  std::unique_ptr<LatentCache> cache_;
  std::unique_ptr<Workspace> ws_;
  std::vector<int32_t> tokens_;  // reserved to n_ctx
  const float* last_logits_ = nullptr;
  int64_t pos0_ = 0;
};

}  // namespace mla
