#include "model/weights.h"

#include <cinttypes>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "base/fp16.h"
#include "base/huge_buffer.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "ops/parallel.h"
#include "quant/quant.h"

namespace mla {
namespace {

bool IsWeightType(DType t) { return t != DType::Q8_1 && t != DType::Q8_K; }

std::string Shape(const int64_t* ne) {
  return Format("{%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "}", ne[0], ne[1], ne[2], ne[3]);
}

class Binder {
 public:
  Binder(const gguf::File& file, Weights* w, const BindOptions& options)
      : file_(file), w_(w), repack_(options.repack), pool_(options.repack ? options.n_threads : 1) {}

  // The tensor `name` with exactly the dims `ne` (missing trailing dims are 1), or null when
  // absent and !required.
  Result<const gguf::TensorInfo*> Get(const std::string& name, std::vector<int64_t> ne,
                                      bool required = true) {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (!t) {
      if (!required) return static_cast<const gguf::TensorInfo*>(nullptr);
      return Errorf("missing tensor '%s'", name.c_str());
    }
    int64_t want[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < ne.size() && i < 4; ++i) want[i] = ne[i];
    for (int i = 0; i < 4; ++i)
      if (t->ne[i] != want[i])
        return Errorf("tensor '%s': expected shape %s, found %s", name.c_str(), Shape(want).c_str(),
                      Shape(t->ne).c_str());
    if (!IsWeightType(t->type) || !quant::CanDequantize(t->type))
      return Errorf("tensor '%s': type %s cannot be used as a weight", name.c_str(), Name(t->type));
    if (t->ne[0] % Info(t->type).block_elems != 0)
      return Errorf("tensor '%s': rows of %" PRId64 " elements do not fit %s blocks of %" PRId64,
                    name.c_str(), t->ne[0], Name(t->type), Info(t->type).block_elems);
    if (t->nbytes < t->row_bytes() * size_t(t->nrows()))
      return Errorf("tensor '%s': expected %zu bytes, found %" PRIu64, name.c_str(),
                    t->row_bytes() * size_t(t->nrows()), t->nbytes);
    return t;
  }

  // How a matrix is cut, which decides whether it may be repacked: slices of ne[1] rows (one per
  // head or expert of a 3-D tensor; the whole matrix of a 2-D one), or rows read one by one (the
  // token embedding), which keeps the file's layout. A positive count is a slice size of its own.
  static constexpr int64_t kSlicesOfNe1 = -1, kRowByRow = 0;

  // A matrix used in place. `rows` = product of ne[1..]. A matrix only ever sliced at multiples
  // of slice_rows may be copied into the row-interleaved layout of the kernels (Repack).
  Result<ops::Matrix> Matrix(const std::string& name, std::vector<int64_t> ne, bool required = true,
                             int64_t slice_rows = kSlicesOfNe1) {
    MLA_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Get(name, ne, required));
    if (!t) return ops::Matrix{};
    Use(t);
    if (slice_rows == kSlicesOfNe1) slice_rows = t->ne[1];
    const bool interleave = repack_ && slice_rows > 0 && kernels::CanInterleave(t->type) &&
                            slice_rows % kernels::kInterleaveRows == 0 &&
                            t->nrows() % kernels::kInterleaveRows == 0;
    if (!interleave) return ops::Matrix{t->type, t->data, t->ne[0], t->nrows(), t->row_bytes()};
    MLA_ASSIGN_OR_RETURN(const uint8_t* data, Repack(t));
    return ops::Matrix{t->type, data, t->ne[0], t->nrows(), t->row_bytes(), true};
  }

  // The tensor's rows interleaved into a buffer of its own (huge pages); the mapping's pages of
  // the tensor are then released, so the weights are not held twice.
  Result<const uint8_t*> Repack(const gguf::TensorInfo* t) {
    const size_t row_bytes = t->row_bytes(), bytes = row_bytes * size_t(t->nrows());
    MLA_ASSIGN_OR_RETURN(HugeBuffer buf, HugeBuffer::Allocate(bytes));
    constexpr int64_t kRowsPerTask = 16 * kernels::kInterleaveRows;
    const int64_t rows = t->nrows();
    ops::ParallelFor(pool_, (rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
      const int64_t r0 = task * kRowsPerTask;
      kernels::InterleaveRows(t->type, t->data + size_t(r0) * row_bytes, buf.data() + size_t(r0) * row_bytes,
                              std::min(kRowsPerTask, rows - r0), row_bytes);
    });
    ReleaseMappedPages(t->data, bytes);
    ++w_->tensors_repacked;
    w_->bytes_repacked += bytes;
    w_->repacked.push_back(std::move(buf));
    return static_cast<const uint8_t*>(w_->repacked.back().data());
  }

  // A 1-D f32 vector: in place when stored as f32, else widened into an owned copy.
  Result<const float*> Vector(const std::string& name, int64_t n, bool required = true) {
    MLA_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Get(name, {n}, required));
    if (!t) return static_cast<const float*>(nullptr);
    if (t->type == DType::F32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
      Use(t);
      return reinterpret_cast<const float*>(t->data);
    }
    CountType(t);
    float* out = Own<float>(size_t(n));
    quant::DequantizeRow(t->type, t->data, out, n);
    return static_cast<const float*>(out);
  }

  template <typename T>
  T* Own(size_t n) {
    w_->owned.emplace_back(new uint8_t[n * sizeof(T)]);
    w_->bytes_allocated += n * sizeof(T);
    return reinterpret_cast<T*>(w_->owned.back().get());
  }

  void CountType(const gguf::TensorInfo* t) {
    if (!seen_.insert(t).second) return;
    ++types_[t->type];
  }
  void Use(const gguf::TensorInfo* t) {
    if (seen_.count(t)) return;
    CountType(t);
    w_->bytes_mapped += t->nbytes;
  }
  void Finish() {
    for (const auto& [type, n] : types_) w_->type_counts.emplace_back(type, n);
  }

 private:
  const gguf::File& file_;
  Weights* w_;
  bool repack_;
  ThreadPool pool_;
  std::set<const gguf::TensorInfo*> seen_;
  std::map<DType, int> types_;
};

// Stores `n` floats as `type` (f32, f16 or bf16) in an owned buffer.
ops::Matrix StoreDerived(Binder& b, DType type, const float* src, int64_t n_in, int64_t n_out) {
  const size_t n = size_t(n_in * n_out);
  uint8_t* out;
  if (type == DType::F32) {
    float* o = b.Own<float>(n);
    std::memcpy(o, src, n * sizeof(float));
    out = reinterpret_cast<uint8_t*>(o);
  } else {
    uint16_t* o = b.Own<uint16_t>(n);
    for (size_t i = 0; i < n; ++i) o[i] = type == DType::F16 ? F32ToF16(src[i]) : F32ToBF16(src[i]);
    out = reinterpret_cast<uint8_t*>(o);
  }
  return ops::Matrix{type, out, n_in, n_out, RowBytes(type, n_in)};
}

Status BindAttention(Binder& b, const ModelConfig& c, const std::string& p, LayerWeights* l,
                     Weights* w) {
  const int64_t D = c.n_embd, H = c.n_head, r_kv = c.kv_lora_rank, d_n = c.n_nope,
                d_v = c.n_v, d_qk = c.n_qk();
  MLA_ASSIGN_OR_RETURN(l->attn_norm, b.Vector(p + "attn_norm.weight", D));
  if (c.q_lora_rank > 0) {
    MLA_ASSIGN_OR_RETURN(l->attn_q_a, b.Matrix(p + "attn_q_a.weight", {D, c.q_lora_rank}));
    MLA_ASSIGN_OR_RETURN(l->attn_q_a_norm, b.Vector(p + "attn_q_a_norm.weight", c.q_lora_rank));
    MLA_ASSIGN_OR_RETURN(l->attn_q_b, b.Matrix(p + "attn_q_b.weight", {c.q_lora_rank, H * d_qk}));
  } else {
    MLA_ASSIGN_OR_RETURN(l->attn_q, b.Matrix(p + "attn_q.weight", {D, H * d_qk}));
  }
  MLA_ASSIGN_OR_RETURN(l->attn_kv_a_mqa, b.Matrix(p + "attn_kv_a_mqa.weight", {D, r_kv + c.n_rope}));
  MLA_ASSIGN_OR_RETURN(l->attn_kv_a_norm, b.Vector(p + "attn_kv_a_norm.weight", r_kv));
  MLA_ASSIGN_OR_RETURN(l->attn_output, b.Matrix(p + "attn_output.weight", {H * d_v, D}));

  switch (c.layout) {
    case TensorLayout::kMla: {
      MLA_ASSIGN_OR_RETURN(l->attn_k_b, b.Matrix(p + "attn_k_b.weight", {d_n, r_kv, H}));
      MLA_ASSIGN_OR_RETURN(l->attn_v_b, b.Matrix(p + "attn_v_b.weight", {r_kv, d_v, H}));
      break;
    }
    case TensorLayout::kSplit2D: {
      // Same memory order as the 3-D tensors (spec §2.4 (b)): reinterpret in place.
      MLA_ASSIGN_OR_RETURN(l->attn_k_b, b.Matrix(p + "attn_k_b.weight", {d_n, H * r_kv}, true, r_kv));
      MLA_ASSIGN_OR_RETURN(l->attn_v_b, b.Matrix(p + "attn_v_b.weight", {r_kv, H * d_v}, true, d_v));
      break;
    }
    case TensorLayout::kLegacy: {
      const int64_t P = d_n + d_v;
      MLA_ASSIGN_OR_RETURN(const gguf::TensorInfo* kvb, b.Get(p + "attn_kv_b.weight", {r_kv, H * P}));
      b.CountType(kvb);
      std::vector<float> full(static_cast<size_t>(r_kv * H * P)), k_b(static_cast<size_t>(H * r_kv * d_n)),
          v_b(size_t(H * d_v * r_kv));
      for (int64_t r = 0; r < H * P; ++r)
        quant::DequantizeRow(kvb->type, kvb->data + size_t(r) * kvb->row_bytes(),
                             full.data() + r * r_kv, r_kv);
      SplitKvB(full.data(), r_kv, H, d_n, d_v, k_b.data(), v_b.data());
      float max_abs = 0;
      for (float v : full) max_abs = std::max(max_abs, std::fabs(v));
      const DType type = DerivedKvType(kvb->type, max_abs);
      l->attn_k_b = StoreDerived(b, type, k_b.data(), d_n, H * r_kv);
      l->attn_v_b = StoreDerived(b, type, v_b.data(), r_kv, H * d_v);
      w->derived = true;
      w->derived_type = type;
      break;
    }
  }
  return Status::Ok();
}

Status BindFfn(Binder& b, const ModelConfig& c, int64_t il, const std::string& p, LayerWeights* l) {
  const int64_t D = c.n_embd;
  MLA_ASSIGN_OR_RETURN(l->ffn_norm, b.Vector(p + "ffn_norm.weight", D));
  if (!c.is_moe_layer(il)) {
    MLA_ASSIGN_OR_RETURN(l->ffn_gate, b.Matrix(p + "ffn_gate.weight", {D, c.n_ff}));
    MLA_ASSIGN_OR_RETURN(l->ffn_up, b.Matrix(p + "ffn_up.weight", {D, c.n_ff}));
    MLA_ASSIGN_OR_RETURN(l->ffn_down, b.Matrix(p + "ffn_down.weight", {c.n_ff, D}));
    return Status::Ok();
  }
  const int64_t E = c.n_expert, F = c.n_ff_exp;
  MLA_ASSIGN_OR_RETURN(l->ffn_gate_inp, b.Matrix(p + "ffn_gate_inp.weight", {D, E}));
  MLA_ASSIGN_OR_RETURN(l->exp_probs_b, b.Vector(p + "exp_probs_b.bias", E, /*required=*/false));
  if ((l->exp_probs_b != nullptr) != c.has_expert_bias)
    return Errorf("tensor '%sexp_probs_b.bias': expected it %s, as in the first MoE layer",
                  p.c_str(), c.has_expert_bias ? "present" : "absent");
  MLA_ASSIGN_OR_RETURN(ops::Matrix gate_up, b.Matrix(p + "ffn_gate_up_exps.weight", {D, 2 * F, E}, false, F));
  if (!gate_up.empty()) {
    l->ffn_gate_exps = ExpertMatrix{gate_up, F, 2 * F, 0};
    l->ffn_up_exps = ExpertMatrix{gate_up, F, 2 * F, F};
  } else {
    MLA_ASSIGN_OR_RETURN(ops::Matrix g, b.Matrix(p + "ffn_gate_exps.weight", {D, F, E}));
    MLA_ASSIGN_OR_RETURN(ops::Matrix u, b.Matrix(p + "ffn_up_exps.weight", {D, F, E}));
    l->ffn_gate_exps = ExpertMatrix{g, F, F, 0};
    l->ffn_up_exps = ExpertMatrix{u, F, F, 0};
  }
  MLA_ASSIGN_OR_RETURN(ops::Matrix down, b.Matrix(p + "ffn_down_exps.weight", {F, D, E}));
  l->ffn_down_exps = ExpertMatrix{down, D, D, 0};
  if (c.n_expert_shared > 0) {
    const int64_t Fs = F * c.n_expert_shared;
    MLA_ASSIGN_OR_RETURN(l->ffn_gate_shexp, b.Matrix(p + "ffn_gate_shexp.weight", {D, Fs}));
    MLA_ASSIGN_OR_RETURN(l->ffn_up_shexp, b.Matrix(p + "ffn_up_shexp.weight", {D, Fs}));
    MLA_ASSIGN_OR_RETURN(l->ffn_down_shexp, b.Matrix(p + "ffn_down_shexp.weight", {Fs, D}));
  }
  return Status::Ok();
}

}  // namespace

void SplitKvB(const float* kvb, int64_t r_kv, int64_t H, int64_t d_n, int64_t d_v, float* k_b,
              float* v_b) {
  const int64_t P = d_n + d_v;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t c = 0; c < r_kv; ++c)
      for (int64_t d = 0; d < d_n; ++d)
        k_b[(h * r_kv + c) * d_n + d] = kvb[(h * P + d) * r_kv + c];
    for (int64_t j = 0; j < d_v; ++j)
      std::memcpy(v_b + (h * d_v + j) * r_kv, kvb + (h * P + d_n + j) * r_kv,
                  size_t(r_kv) * sizeof(float));
  }
}

DType DerivedKvType(DType source, float max_abs) {
  if (source == DType::F32 || source == DType::F16 || source == DType::BF16) return source;
  return max_abs <= 65504.0f ? DType::F16 : DType::F32;
}

Result<std::unique_ptr<Weights>> BindWeights(const gguf::File& file, const ModelConfig& c,
                                             const BindOptions& options) {
  auto w = std::make_unique<Weights>();
  Binder b(file, w.get(), options);
  MLA_ASSIGN_OR_RETURN(w->token_embd, b.Matrix("token_embd.weight", {c.n_embd, c.n_vocab}, true, Binder::kRowByRow));
  MLA_ASSIGN_OR_RETURN(w->output_norm, b.Vector("output_norm.weight", c.n_embd));
  MLA_ASSIGN_OR_RETURN(w->output, b.Matrix("output.weight", {c.n_embd, c.n_vocab}, false));
  if (w->output.empty()) w->output = w->token_embd;  // tied embeddings
  w->layers.resize(size_t(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights& l = w->layers[size_t(il)];
    MLA_RETURN_IF_ERROR(BindAttention(b, c, p, &l, w.get()));
    MLA_RETURN_IF_ERROR(BindFfn(b, c, il, p, &l));
  }
  b.Finish();
  return w;
}

}  // namespace mla
