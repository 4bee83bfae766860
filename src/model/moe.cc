#include "model/moe.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "base/profile.h"
#include "model/workspace.h"
#include "ops/activation.h"
#include "ops/matmul.h"
#include "ops/softmax.h"
#include "ops/vec.h"
#include "ops/topk.h"

namespace mla {

RouterParams RouterFromConfig(const ModelConfig& c) {
  return RouterParams{c.gating,          c.n_expert,           c.n_expert_used, c.n_group,
                      c.n_group_used,    c.expert_weights_norm, c.expert_weights_scale};
}

int64_t RouteScratchFloats(const RouterParams& p) { return 2 * p.n_expert + p.n_group; }
int64_t RouteScratchInts(const RouterParams& p) { return p.n_group; }

void Route(const RouterParams& p, const float* logits, const float* bias, int32_t* experts,
           float* weights, float* fscratch, int32_t* iscratch) {
  const int64_t E = p.n_expert;
  float* score = fscratch;
  float* sel = fscratch + E;
  std::memcpy(score, logits, size_t(E) * sizeof(float));
  if (p.gating == GatingFunc::kSoftmax)
    ops::Softmax(score, E);
  else
    ops::Sigmoid(score, E);
  for (int64_t e = 0; e < E; ++e) sel[e] = bias ? score[e] + bias[e] : score[e];

  if (p.n_group > 1) {
    // Group score: the maximum without a selection bias (V2 "group_limited_greedy"), the sum of
    // the two largest biased scores with one (V3 "noaux_tc"); spec §4.2 / §4.4 difference 1.
    const int64_t size = E / p.n_group;
    float* gscore = fscratch + 2 * E;
    for (int64_t g = 0; g < p.n_group; ++g) {
      const float* s = sel + g * size;
      if (!bias) {
        float m = s[0];
        for (int64_t i = 1; i < size; ++i) m = std::max(m, s[i]);
        gscore[g] = m;
      } else {
        int32_t top2[2];
        const int64_t n2 = std::min<int64_t>(2, size);
        ops::TopK(s, size, n2, top2);
        gscore[g] = n2 == 2 ? s[top2[0]] + s[top2[1]] : s[top2[0]];
      }
    }
    int32_t* keep = iscratch;
    ops::TopK(gscore, p.n_group, p.n_group_used, keep);
    for (int64_t g = 0; g < p.n_group; ++g) {
      const bool kept = std::find(keep, keep + p.n_group_used, int32_t(g)) != keep + p.n_group_used;
      if (!kept)
        std::fill_n(sel + g * size, size, -std::numeric_limits<float>::infinity());
    }
  }
  ops::TopK(sel, E, p.n_used, experts);

  // Weights from the unbiased scores (the bias only chooses).
  float sum = 0;
  for (int64_t j = 0; j < p.n_used; ++j) {
    weights[j] = score[experts[j]];
    sum += weights[j];
  }
  if (p.norm && sum != 0)  // spec §4.4 difference 3: plain division, guard only against 0
    for (int64_t j = 0; j < p.n_used; ++j) weights[j] /= sum;
  for (int64_t j = 0; j < p.n_used; ++j) weights[j] *= p.scale;
}

namespace {

// out = down · (SiLU(gate · x) ⊙ (up · x)) for n rows of x.
void SwiGlu(ThreadPool& pool, const ops::Matrix& gate, const ops::Matrix& up,
            const ops::Matrix& down, const float* x, int64_t ldx, int64_t n, float* g, float* u,
            float* out, int64_t ldo, uint8_t* scratch) {
  const int64_t F = gate.n_out;
  const ops::MatMulJob gate_up[2] = {{gate, x, ldx, n, g, F}, {up, x, ldx, n, u, F}};
  ops::MatMulBatch(pool, gate_up, 2, scratch);  // one quantized x for both
  ops::SiluMul(g, u, g, n * F);
  ops::MatMul(pool, down, g, F, n, out, ldo, scratch);
}

// ffn_out[token of slot] += weight(slot) · y[i] for the m slots [begin, begin + m) of one expert.
void AddWeighted(Workspace& ws, int64_t k, int64_t D, int64_t begin, int64_t m, const float* y_rows) {
  for (int64_t i = 0; i < m; ++i) {
    const int64_t slot = ws.expert_rows[begin + i];
    ops::AddScaled(ws.ffn_out + (slot / k) * D, ws.expert_weights[slot], y_rows + i * D, D);
  }
}

// Decode and small batches: every chosen expert's gate and up (and the shared experts') in one
// fork/join, then every down in another, instead of three per expert. Each product and the sums
// are the ones of the per-expert loop, in the same order, so the results are the same bits.
void FusedExperts(const ModelConfig& c, const LayerWeights& l, ThreadPool& pool, Workspace& ws,
                  int64_t n, const int64_t* count) {
  const int64_t D = c.n_embd, E = c.n_expert, k = c.n_expert_used, F = c.n_ff_exp;
  const int64_t R = n * k, Fs = F * c.n_expert_shared;
  const bool shared = !l.ffn_gate_shexp.empty();
  for (int64_t i = 0; i < R; ++i)
    std::memcpy(ws.moe_x + i * D, ws.xn + (ws.expert_rows[i] / k) * D, size_t(D) * sizeof(float));
  float* g = ws.moe_g;  // [R × F] routed rows, then [n × Fs] shared
  float* u = ws.moe_u;
  float* y = ws.moe_y;  // [R × D] routed rows, then [n × D] shared
  ops::MatMulJob up[ops::kMaxMatMulJobs], down[ops::kMaxMatMulJobs];
  int n_up = 0, n_down = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = count[e], m = count[e + 1] - begin;
    if (m == 0) continue;
    up[n_up++] = {l.ffn_gate_exps.Expert(e), ws.moe_x + begin * D, D, m, g + begin * F, F};
    up[n_up++] = {l.ffn_up_exps.Expert(e), ws.moe_x + begin * D, D, m, u + begin * F, F};
    down[n_down++] = {l.ffn_down_exps.Expert(e), g + begin * F, F, m, y + begin * D, D};
  }
  if (shared) {
    up[n_up++] = {l.ffn_gate_shexp, ws.xn, D, n, g + R * F, Fs};
    up[n_up++] = {l.ffn_up_shexp, ws.xn, D, n, u + R * F, Fs};
    down[n_down++] = {l.ffn_down_shexp, g + R * F, Fs, n, y + R * D, D};
  }
  ops::MatMulBatch(pool, up, n_up, ws.act);
  ops::SiluMul(g, u, g, R * F + (shared ? n * Fs : 0));
  ops::MatMulBatch(pool, down, n_down, ws.act);
  std::fill_n(ws.ffn_out, n * D, 0.0f);
  for (int64_t e = 0; e < E; ++e)
    if (count[e + 1] > count[e]) AddWeighted(ws, k, D, count[e], count[e + 1] - count[e], y + count[e] * D);
  if (shared)
    for (int64_t i = 0; i < n * D; ++i) ws.ffn_out[i] += y[R * D + i];
}

}  // namespace

void DenseFfn(const LayerWeights& l, ThreadPool& pool, Workspace& ws, int64_t n) {
  SwiGlu(pool, l.ffn_gate, l.ffn_up, l.ffn_down, ws.xn, ws.n_embd, n, ws.ffn_g, ws.ffn_u,
         ws.ffn_out, ws.n_embd, ws.act);
}

void MoeFfn(const ModelConfig& c, const LayerWeights& l, ThreadPool& pool, Workspace& ws,
            int64_t n) {
  const int64_t D = c.n_embd, E = c.n_expert, k = c.n_expert_used;
  const RouterParams rp = RouterFromConfig(c);

  using profile::Scope, profile::Stage;
  std::optional<Scope> stage(std::in_place, Stage::kRouter);
  // Router in f32 (spec §4.4 difference 5), then the choice per token.
  ops::MatMul(pool, l.ffn_gate_inp, ws.xn, D, n, ws.router_logits, E, ws.act);
  for (int64_t t = 0; t < n; ++t)
    Route(rp, ws.router_logits + t * E, l.exp_probs_b, ws.expert_ids + t * k,
          ws.expert_weights + t * k, ws.route_f, ws.route_i);

  // Group (token, slot) pairs per expert, tokens in increasing order within an expert.
  int64_t* count = ws.expert_count;
  std::fill_n(count, E + 1, 0);
  for (int64_t i = 0; i < n * k; ++i) ++count[ws.expert_ids[i] + 1];
  for (int64_t e = 0; e < E; ++e) count[e + 1] += count[e];  // now start offsets
  int64_t* fill = ws.expert_fill;
  std::copy_n(count, E, fill);
  for (int64_t i = 0; i < n * k; ++i) ws.expert_rows[fill[ws.expert_ids[i]]++] = i;
  stage.emplace(Stage::kExperts);

  if (n * k <= kMoeFusedRows && 2 * std::min(n * k, E) + 2 <= ops::kMaxMatMulJobs) {
    FusedExperts(c, l, pool, ws, n, count);
    return;
  }

  // Routed experts, in expert order: each token sums its k outputs in increasing expert index,
  // whatever the batch (prefill and decode agree).
  std::fill_n(ws.ffn_out, n * D, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = count[e], m = count[e + 1] - begin;
    if (m == 0) continue;
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = ws.expert_rows[begin + i] / k;
      std::memcpy(ws.moe_x + i * D, ws.xn + t * D, size_t(D) * sizeof(float));
    }
    SwiGlu(pool, l.ffn_gate_exps.Expert(e), l.ffn_up_exps.Expert(e), l.ffn_down_exps.Expert(e),
           ws.moe_x, D, m, ws.ffn_g, ws.ffn_u, ws.moe_y, D, ws.act);
    AddWeighted(ws, k, D, begin, m, ws.moe_y);
  }

  // Shared experts: one wider SwiGLU, neither weighted nor scaled.
  if (!l.ffn_gate_shexp.empty()) {
    SwiGlu(pool, l.ffn_gate_shexp, l.ffn_up_shexp, l.ffn_down_shexp, ws.xn, D, n, ws.ffn_g,
           ws.ffn_u, ws.moe_y, D, ws.act);
    for (int64_t i = 0; i < n * D; ++i) ws.ffn_out[i] += ws.moe_y[i];
  }
}

}  // namespace mla
