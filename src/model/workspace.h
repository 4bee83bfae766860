// Every buffer one forward pass of up to n_batch tokens needs, carved from one allocation made
// when a session is created (design.md: no allocation in the hot path). Plain pointers: the
// forward pass reads like the math, `ws.q`, `ws.o_lat`, ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace mla {

// Which form of MLA attention a batch uses (spec §3.5 absorbed, §3.6 decompressed). kAuto picks
// the one with fewer multiply-adds for the batch (spec §3.7): absorbed for decode, decompressed
// for large prefill batches. The others exist for tests and benchmarks.
enum class AttentionMode { kAuto, kAbsorbed, kDecompressed };

class LatentCache;

// One sequence's part of a forward batch (spec §5.2): n tokens written to cache rows
// row0 .. row0 + n − 1 of its own cache and rotated for positions pos0 .. pos0 + n − 1. Token t
// attends to rows [0, row0 + t] of that cache only, so sequences never see each other.
// Rows and positions differ after a context shift re-positions a sequence (spec §5.4).
struct BatchSeq {
  LatentCache* cache = nullptr;
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  int64_t row0 = 0;
  int64_t pos0 = 0;
  bool logits_last = false;  // logits of the sequence's last token
  bool logits_all = false;   // logits of each of its tokens (rows in order)
};

struct Workspace {
  // Creates buffers for batches of up to n_batch tokens on n_threads threads; with logits_all
  // the logits buffer holds n_batch rows, else one.
  static Result<std::unique_ptr<Workspace>> Create(const ModelConfig& c, const Weights& w,
                                                   int64_t n_batch, int n_threads,
                                                   bool logits_all,
                                                   AttentionMode attention = AttentionMode::kAuto,
                                                   int64_t logit_rows = 0);

  int64_t n_batch = 0;
  int64_t n_embd = 0;
  int n_threads = 0;
  bool logits_all = false;
  int64_t logit_rows = 1;  // rows of the logits buffer (logits_all: n_batch; batches: one per sequence)
  AttentionMode attention = AttentionMode::kAuto;
  size_t bytes = 0;
  int64_t n_decompressed = 0;  // batches × layers that used the decompressed form (statistics)

  // The sequences of the batch being evaluated (set by Forward; rows are in this order).
  const BatchSeq* seqs = nullptr;
  int64_t n_seqs = 0;

  // Residual stream and its normalised copy [n × D]; attention output [n × D].
  float* x = nullptr;
  float* xn = nullptr;
  float* attn_out = nullptr;
  // Positions and RoPE tables of the batch [n], [n × d_r/2].
  int64_t* pos = nullptr;
  int64_t* n_visible = nullptr;
  float* rope_cos = nullptr;
  float* rope_sin = nullptr;
  // Attention (spec §3.1-3.5): c_q [n × r_q], q [n × H·d_qk], kv [n × (r_kv + d_r)],
  // qcat [n × H × (r_kv + d_r)] = [q_abs | q_pe] per head, o_lat [n × H × r_kv], o [n × H × d_v].
  float* c_q = nullptr;
  float* q = nullptr;
  float* kv = nullptr;
  float* qcat = nullptr;
  float* o_lat = nullptr;
  float* o = nullptr;
  float* cache_pad = nullptr;   // one padded cache row
  float* attn_scratch = nullptr;  // per thread: the larger of the two attention forms' needs
  size_t attn_scratch_floats = 0;  // per thread
  // FFN: gate/up [n × max width], output [n × D]; MoE routing and grouping.
  float* ffn_g = nullptr;
  float* ffn_u = nullptr;
  float* ffn_out = nullptr;
  float* router_logits = nullptr;   // [n × E]
  int32_t* expert_ids = nullptr;    // [n × k]
  float* expert_weights = nullptr;  // [n × k]
  float* route_f = nullptr;
  int32_t* route_i = nullptr;
  int64_t* expert_count = nullptr;  // [E + 1]
  int64_t* expert_fill = nullptr;   // [E]
  int64_t* expert_rows = nullptr;   // [n × k]
  float* moe_x = nullptr;           // gathered rows [n × D]
  float* moe_y = nullptr;           // expert / shared output [n × D] (fused: routed rows, then shared)
  float* moe_g = nullptr;           // fused experts (moe.cc): gate then SiLU·up, routed rows then shared
  float* moe_u = nullptr;
  // Activation scratch for every matmul (the largest need).
  uint8_t* act = nullptr;
  // Logits [rows × V].
  float* logits = nullptr;

 private:
  std::unique_ptr<uint8_t[]> storage_;
};

}  // namespace mla
