// The forward pass: embedding, the layer loop, final norm and output (design.md "How data
// flows"). One batch holds tokens of one or more sequences (spec §5.2): the projections and the
// FFN run over all rows at once, so the weights are read once per batch; attention runs per
// sequence over its own latent cache.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/latent_cache.h"
#include "model/model.h"
#include "model/workspace.h"

namespace mla {

enum class LogitsMode {
  kNone,  // no logits (a prefill chunk that is not the last)
  kLast,  // logits of the last token: ws.logits[0 .. V)
  kAll,   // logits of every token: ws.logits[t·V ...] (needs a logits_all workspace)
};

// Evaluates the sequences' tokens in one pass, writing their cache rows. The logits asked for
// (each sequence's last row, or all its rows) are packed in sequence order into ws.logits.
// Errors (nothing is computed) when the rows exceed the workspace, a token id is out of range,
// a cache has no room for the rows, or a cache appears twice.
Status ForwardBatch(const Model& model, ThreadPool& pool, Workspace& ws, const BatchSeq* seqs,
                    int64_t n_seqs);

// One sequence: tokens[0 .. n) at positions (and cache rows) pos0 .. pos0 + n − 1.
Status Forward(const Model& model, ThreadPool& pool, LatentCache& cache, Workspace& ws,
               const int32_t* tokens, int64_t n, int64_t pos0, LogitsMode mode);

}  // namespace mla
