// Multi-head latent attention for one layer over a batch (spec §3): query path, latent path with
// the cache write, attention over the latent cache — absorbed (§3.5), or decompressed (§3.6) when
// that costs fewer multiply-adds for the batch (ws.attention) — and the output projection.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/latent_cache.h"
#include "model/weights.h"
#include "model/workspace.h"
#include "ops/rope.h"

namespace mla {

// Reads ws.xn (the attn_norm'ed input, n rows of the sequences ws.seqs), ws.rope_cos /
// ws.rope_sin; writes each sequence's rows into its own cache, attends per sequence over that
// cache only, then writes ws.attn_out (n × D).
void MlaAttentionLayer(const ModelConfig& c, const LayerWeights& l, int64_t layer,
                       const ops::Rope& rope, ThreadPool& pool, Workspace& ws, int64_t n);

}  // namespace mla
