// The forward pass: embedding, the layer loop, final norm and output (design.md "How data
// flows"). One batch of tokens of one sequence at consecutive positions.
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

// Evaluates tokens[0 .. n) at positions pos0 .. pos0 + n − 1, writing their cache rows.
// Errors (nothing is computed) when n exceeds the workspace, a token id is out of range, or the
// cache has no room for the positions.
Status Forward(const Model& model, ThreadPool& pool, LatentCache& cache, Workspace& ws,
               const int32_t* tokens, int64_t n, int64_t pos0, LogitsMode mode);

}  // namespace mla
