#include "model/workspace.h"

#include <algorithm>
#include <cinttypes>
#include <new>
#include <vector>

#include "model/moe.h"
#include "ops/matmul.h"
#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "model/latent_cache.h"

namespace mla {
namespace {

// Lays out buffers in one block: first pass measures, second pass assigns.
class Carver {
 public:
  explicit Carver(uint8_t* base) : base_(base) {}
  template <typename T>
  void Take(T** p, int64_t n) {
    offset_ = (offset_ + 63) / 64 * 64;
    if (base_) *p = reinterpret_cast<T*>(base_ + offset_);
    offset_ += size_t(std::max<int64_t>(n, 1)) * sizeof(T);
  }
  size_t size() const { return offset_ + 64; }

 private:
  uint8_t* base_;
  size_t offset_ = 0;
};

size_t ActScratchBytes(const ModelConfig& c, const Weights& w, int64_t n) {
  size_t need = ops::MatMulScratchBytes(w.output, n);
  for (const LayerWeights& l : w.layers) {
    for (const ops::Matrix* m :
         {&l.attn_q, &l.attn_q_a, &l.attn_q_b, &l.attn_kv_a_mqa, &l.attn_output, &l.ffn_gate,
          &l.ffn_up, &l.ffn_down, &l.ffn_gate_inp, &l.ffn_gate_shexp, &l.ffn_up_shexp,
          &l.ffn_down_shexp, &l.ffn_gate_exps.all, &l.ffn_up_exps.all, &l.ffn_down_exps.all})
      if (!m->empty()) need = std::max(need, ops::MatMulScratchBytes(*m, n));
    need = std::max(need, ops::MatMulScratchBytes(l.attn_k_b, n * c.n_head));
    // The query and latent projections in one MatMulBatch (mla.cc).
    const ops::Matrix& q_in = l.attn_q.empty() ? l.attn_q_a : l.attn_q;
    need = std::max(need, ops::MatMulScratchBytes(q_in, n) + ops::MatMulScratchBytes(l.attn_kv_a_mqa, n));
    // Fused experts (moe.cc FusedExperts): up to 2·R + 2·n gate/up rows with R = kMoeFusedRows.
    for (const ops::Matrix* m : {&l.ffn_gate_exps.all, &l.ffn_up_exps.all, &l.ffn_down_exps.all,
                                 &l.ffn_gate_shexp, &l.ffn_up_shexp, &l.ffn_down_shexp})
      if (!m->empty()) need = std::max(need, ops::MatMulScratchBytes(*m, 4 * kMoeFusedRows));
    need = std::max(need, ops::MatMulScratchBytes(l.attn_v_b, n * c.n_head));
  }
  return need;
}

void Carve(Carver& cv, Workspace& ws, const ModelConfig& c, size_t act_bytes,
           size_t attn_floats) {
  const int64_t n = ws.n_batch, D = c.n_embd, H = c.n_head;
  const int64_t row = c.latent_row();
  const int64_t ff = std::max({c.n_ff, c.n_ff_exp, c.n_ff_exp * c.n_expert_shared});
  const RouterParams rp = RouterFromConfig(c);
  cv.Take(&ws.x, n * D);
  cv.Take(&ws.xn, n * D);
  cv.Take(&ws.attn_out, n * D);
  cv.Take(&ws.pos, n);
  cv.Take(&ws.n_visible, n);
  cv.Take(&ws.rope_cos, n * c.n_rope / 2);
  cv.Take(&ws.rope_sin, n * c.n_rope / 2);
  cv.Take(&ws.c_q, n * c.q_lora_rank);
  cv.Take(&ws.q, n * H * c.n_qk());
  cv.Take(&ws.kv, n * row);
  cv.Take(&ws.qcat, n * H * row);
  cv.Take(&ws.o_lat, n * H * c.kv_lora_rank);
  cv.Take(&ws.o, n * H * c.n_v);
  cv.Take(&ws.cache_pad, LatentCache::RowElems(DType::Q8_0, row));
  cv.Take(&ws.attn_scratch, int64_t(attn_floats) * ws.n_threads);
  cv.Take(&ws.ffn_g, n * ff);
  cv.Take(&ws.ffn_u, n * ff);
  cv.Take(&ws.ffn_out, n * D);
  cv.Take(&ws.router_logits, n * c.n_expert);
  cv.Take(&ws.expert_ids, n * c.n_expert_used);
  cv.Take(&ws.expert_weights, n * c.n_expert_used);
  cv.Take(&ws.route_f, RouteScratchFloats(rp));
  cv.Take(&ws.route_i, RouteScratchInts(rp));
  cv.Take(&ws.expert_count, c.n_expert + 1);
  cv.Take(&ws.expert_fill, c.n_expert);
  cv.Take(&ws.expert_rows, n * c.n_expert_used);
  cv.Take(&ws.moe_x, std::max(n, kMoeFusedRows) * D);
  cv.Take(&ws.moe_y, std::max(n, 2 * kMoeFusedRows) * D);
  const int64_t fused_ff = kMoeFusedRows * (c.n_ff_exp + c.n_ff_exp * c.n_expert_shared);
  cv.Take(&ws.moe_g, fused_ff);
  cv.Take(&ws.moe_u, fused_ff);
  cv.Take(&ws.act, int64_t(act_bytes));
  cv.Take(&ws.logits, ws.logit_rows * c.n_vocab);
}

}  // namespace

Result<std::unique_ptr<Workspace>> Workspace::Create(const ModelConfig& c, const Weights& w,
                                                     int64_t n_batch, int n_threads,
                                                     bool logits_all, AttentionMode attention,
                                                     int64_t logit_rows) {
  if (n_batch <= 0 || n_batch > (int64_t(1) << 20))
    return Errorf("batch size: expected 1 to 1048576 tokens, found %" PRId64, n_batch);
  auto ws = std::make_unique<Workspace>();
  ws->n_batch = n_batch;
  ws->n_embd = c.n_embd;
  ws->n_threads = std::max(1, n_threads);
  ws->logits_all = logits_all;
  ws->logit_rows = logits_all ? n_batch : std::clamp<int64_t>(logit_rows, 1, n_batch);
  ws->attention = attention;
  // The attention scratch serves every cache type a session may choose (its layout depends on
  // the type: converted f32 rows, bf16 K/V for a bf16 cache), at the widest row (q8_0 padding).
  size_t attn_floats = 0;
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
    const ops::LatentView view{type, nullptr, 0, c.kv_lora_rank, c.n_rope,
                               LatentCache::RowElems(DType::Q8_0, c.latent_row())};
    attn_floats = std::max(attn_floats, ops::MlaAttentionScratchFloats(view, c.n_head));
    for (const LayerWeights& l : w.layers)
      attn_floats = std::max(attn_floats, ops::MlaDecompressedScratchFloats(
                                              view, l.attn_k_b, l.attn_v_b, c.n_nope, c.n_v, n_batch));
  }
  ws->attn_scratch_floats = attn_floats;
  const size_t act_bytes = ActScratchBytes(c, w, n_batch);
  Carver measure(nullptr);
  Carve(measure, *ws, c, act_bytes, attn_floats);
  ws->bytes = measure.size();
  ws->storage_.reset(new (std::nothrow) uint8_t[ws->bytes]);
  if (!ws->storage_)
    return Errorf("cannot allocate %zu bytes of scratch for batches of %" PRId64 " tokens",
                  ws->bytes, n_batch);
  // new[] gives 16-byte alignment; start the carving on a 64-byte boundary (size() has slack).
  uint8_t* base = ws->storage_.get();
  const size_t skew = (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  Carver aligned(base + skew);
  Carve(aligned, *ws, c, act_bytes, attn_floats);
  return ws;
}

}  // namespace mla
