#include "convert/tensor_plan.h"

#include <cinttypes>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "base/fp16.h"
#include "convert/fp8.h"

namespace mla::convert {

namespace {

constexpr const char* kScaleSuffix = "_scale_inv";  // "<name>.weight" + "_scale_inv"

// Per-block HF name (after "model.layers.N.", "block_sparse_moe." already mapped to "mlp.") ->
// GGUF name (after "blk.N."). Spec §6.2.
struct BlockName {
  const char* hf;
  const char* gguf;
};
constexpr BlockName kBlockNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
    {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
    // MTP block extras (spec §2.7)
    {"eh_proj.weight", "nextn.eh_proj.weight"},
    {"enorm.weight", "nextn.enorm.weight"},
    {"hnorm.weight", "nextn.hnorm.weight"},
    {"embed_tokens.weight", "nextn.embed_tokens.weight"},
    {"shared_head.head.weight", "nextn.shared_head_head.weight"},
    {"shared_head.norm.weight", "nextn.shared_head_norm.weight"},
};

const char* GgufBlockName(const std::string& rest) {
  for (const auto& b : kBlockNames)
    if (rest == b.hf) return b.gguf;
  return nullptr;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// What a block tensor must look like; nullopt when the name does not belong in this block.
std::optional<std::vector<int64_t>> ExpectedBlockShape(const HfConfig& c, int64_t layer,
                                                       const std::string& rest) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dv = c.v_head_dim, rq = c.q_lora_rank, rkv = c.kv_lora_rank;
  const bool dense = layer < c.first_k_dense_replace;
  const bool mtp = layer >= c.num_hidden_layers;
  const int64_t E = c.n_routed_experts, Fe = c.moe_intermediate_size, Fs = Fe * c.n_shared_experts;
  using V = std::vector<int64_t>;
  if (rest == "input_layernorm.weight" || rest == "post_attention_layernorm.weight") return V{D};
  if (rest == "self_attn.q_proj.weight" && rq == 0) return V{H * (dn + dr), D};
  if (rest == "self_attn.q_a_proj.weight" && rq > 0) return V{rq, D};
  if (rest == "self_attn.q_a_layernorm.weight" && rq > 0) return V{rq};
  if (rest == "self_attn.q_b_proj.weight" && rq > 0) return V{H * (dn + dr), rq};
  if (rest == "self_attn.kv_a_proj_with_mqa.weight") return V{rkv + dr, D};
  if (rest == "self_attn.kv_a_layernorm.weight") return V{rkv};
  if (rest == "self_attn.kv_b_proj.weight") return V{H * (dn + dv), rkv};
  if (rest == "self_attn.o_proj.weight") return V{D, H * dv};
  if (dense && (rest == "mlp.gate_proj.weight" || rest == "mlp.up_proj.weight"))
    return V{c.intermediate_size, D};
  if (dense && rest == "mlp.down_proj.weight") return V{D, c.intermediate_size};
  if (!dense && rest == "mlp.gate.weight") return V{E, D};
  if (!dense && rest == "mlp.gate.e_score_correction_bias") return V{E};
  if (!dense && Fs > 0 &&
      (rest == "mlp.shared_experts.gate_proj.weight" || rest == "mlp.shared_experts.up_proj.weight"))
    return V{Fs, D};
  if (!dense && Fs > 0 && rest == "mlp.shared_experts.down_proj.weight") return V{D, Fs};
  if (mtp) {
    if (rest == "eh_proj.weight") return V{D, 2 * D};
    if (rest == "enorm.weight" || rest == "hnorm.weight" || rest == "shared_head.norm.weight") return V{D};
    if (rest == "embed_tokens.weight" || rest == "shared_head.head.weight") return V{c.vocab_size, D};
  }
  return std::nullopt;
}

// Block tensors every layer of its kind must have.
std::vector<std::string> RequiredBlockTensors(const HfConfig& c, int64_t layer) {
  std::vector<std::string> r = {"input_layernorm.weight", "self_attn.kv_a_proj_with_mqa.weight",
                                "self_attn.kv_a_layernorm.weight", "self_attn.kv_b_proj.weight",
                                "self_attn.o_proj.weight", "post_attention_layernorm.weight"};
  if (c.q_lora_rank > 0) {
    for (const char* n : {"self_attn.q_a_proj.weight", "self_attn.q_a_layernorm.weight", "self_attn.q_b_proj.weight"})
      r.push_back(n);
  } else {
    r.push_back("self_attn.q_proj.weight");
  }
  if (layer < c.first_k_dense_replace) {
    for (const char* n : {"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}) r.push_back(n);
  } else {
    r.push_back("mlp.gate.weight");
    if (c.n_shared_experts > 0)
      for (const char* n : {"mlp.shared_experts.gate_proj.weight", "mlp.shared_experts.up_proj.weight",
                            "mlp.shared_experts.down_proj.weight"})
        r.push_back(n);
  }
  if (layer >= c.num_hidden_layers)
    for (const char* n : {"eh_proj.weight", "enorm.weight", "hnorm.weight"}) r.push_back(n);
  return r;
}

bool ParseLayerName(const std::string& name, int64_t* layer, std::string* rest) {
  static const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t p = prefix.size();
  int64_t v = 0;
  const size_t start = p;
  while (p < name.size() && name[p] >= '0' && name[p] <= '9' && p - start < 9) v = v * 10 + (name[p++] - '0');
  if (p == start || p >= name.size() || name[p] != '.') return false;
  *layer = v;
  *rest = name.substr(p + 1);
  // Some variants (Kimi) name the MoE block "block_sparse_moe" (spec §6.2).
  static const std::string alias = "block_sparse_moe.";
  if (rest->compare(0, alias.size(), alias) == 0) *rest = "mlp." + rest->substr(alias.size());
  return true;
}

// "mlp.experts.E.{gate,up,down}_proj.weight": fills expert and which ("gate", "up", "down").
bool ParseExpertName(const std::string& rest, int64_t* expert, std::string* which) {
  static const std::string prefix = "mlp.experts.";
  if (rest.compare(0, prefix.size(), prefix) != 0) return false;
  size_t p = prefix.size();
  const size_t start = p;
  int64_t v = 0;
  while (p < rest.size() && rest[p] >= '0' && rest[p] <= '9' && p - start < 9) v = v * 10 + (rest[p++] - '0');
  if (p == start) return false;
  const std::string tail = rest.substr(p);
  for (const char* w : {"gate", "up", "down"}) {
    if (tail == std::string(".") + w + "_proj.weight") {
      *expert = v;
      *which = w;
      return true;
    }
  }
  return false;
}

int64_t Cols(const StTensor& t) { return t.shape.empty() ? 1 : t.shape.back(); }

}  // namespace

Result<TensorPlan> PlanTensors(const HfConfig& c, const Checkpoint& ckpt, const PlanOptions& o) {
  TensorPlan plan;
  const int64_t L = c.num_hidden_layers;
  const int64_t n_layers_in_ckpt_max = L + c.num_nextn_predict_layers;
  const int64_t E = c.n_routed_experts;
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;

  // Pass 1: classify, check names and shapes, pair FP8 weights with their scales.
  std::set<std::string> consumed_scales;
  std::map<std::pair<int64_t, std::string>, const StTensor*> block;          // (layer, rest)
  std::map<std::tuple<int64_t, std::string, int64_t>, const StTensor*> experts;  // (layer, which, e)
  std::set<int64_t> layers_seen;
  const StTensor *embed = nullptr, *norm = nullptr, *head = nullptr;

  auto check_shape = [&](const StTensor& t, const std::vector<int64_t>& want) -> Status {
    if (t.shape != want)
      return Errorf("tensor '%s' has shape %s, expected %s from config.json", t.name.c_str(),
                    t.ShapeString().c_str(), ShapeStr(want).c_str());
    switch (t.dtype) {
      case StDType::F32: case StDType::F16: case StDType::BF16: case StDType::F64: return Status::Ok();
      case StDType::F8_E4M3:
        if (t.shape.size() != 2)
          return Errorf("tensor '%s': FP8 weights must be 2-D, found shape %s", t.name.c_str(), t.ShapeString().c_str());
        return Status::Ok();
      default:
        return Errorf("tensor '%s' has dtype %s (expected F32, F16, BF16 or F8_E4M3)", t.name.c_str(),
                      StDTypeName(t.dtype));
    }
  };

  for (const StTensor* t : ckpt.ordered()) {
    const std::string& name = t->name;
    if (name.size() > 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0) continue;
    if (name.size() > 10 && name.compare(name.size() - 10, 10, kScaleSuffix) == 0) {
      const std::string weight_name = name.substr(0, name.size() - 10);
      const StTensor* w = ckpt.Find(weight_name);
      if (!w || w->dtype != StDType::F8_E4M3)
        return Errorf("tensor '%s' is a weight scale but '%s' is %s", name.c_str(), weight_name.c_str(),
                      w ? "not FP8" : "missing");
      consumed_scales.insert(name);
      continue;
    }
    if (t->dtype == StDType::BF16) plan.has_source_bf16 = true;
    if (t->dtype == StDType::F16) plan.has_source_f16 = true;
    if (t->dtype == StDType::F8_E4M3) plan.has_source_fp8 = true;
    if (name == "model.embed_tokens.weight" || name == "lm_head.weight") {
      MLA_RETURN_IF_ERROR(check_shape(*t, {c.vocab_size, c.hidden_size}));
      (name == "lm_head.weight" ? head : embed) = t;
      continue;
    }
    if (name == "model.norm.weight") {
      MLA_RETURN_IF_ERROR(check_shape(*t, {c.hidden_size}));
      norm = t;
      continue;
    }
    int64_t layer;
    std::string rest;
    if (!ParseLayerName(name, &layer, &rest))
      return Errorf("unknown tensor '%s' (not part of the DeepSeek-V2/V3 layout)", name.c_str());
    if (layer >= n_layers_in_ckpt_max)
      return Errorf("tensor '%s' belongs to layer %" PRId64 ", but config.json has %" PRId64
                    " layers and %" PRId64 " MTP layers",
                    name.c_str(), layer, L, c.num_nextn_predict_layers);
    layers_seen.insert(layer);
    int64_t e;
    std::string which;
    if (ParseExpertName(rest, &e, &which)) {
      if (layer < c.first_k_dense_replace || e >= E)
        return Errorf("unexpected tensor '%s' (layer %" PRId64 " is %s with %" PRId64 " routed experts)",
                      name.c_str(), layer, layer < c.first_k_dense_replace ? "dense" : "MoE", E);
      const int64_t Fe = c.moe_intermediate_size, D = c.hidden_size;
      MLA_RETURN_IF_ERROR(check_shape(*t, which == "down" ? std::vector<int64_t>{D, Fe} : std::vector<int64_t>{Fe, D}));
      experts[{layer, which, e}] = t;
      continue;
    }
    auto want = ExpectedBlockShape(c, layer, rest);
    if (!want || !GgufBlockName(rest))
      return Errorf("unexpected tensor '%s' for a %s layer of this config", name.c_str(),
                    layer >= L ? "MTP" : layer < c.first_k_dense_replace ? "dense" : "MoE");
    MLA_RETURN_IF_ERROR(check_shape(*t, *want));
    block[{layer, rest}] = t;
  }

  // Required tensors.
  if (!embed) return Errorf("missing tensor 'model.embed_tokens.weight'");
  if (!norm) return Errorf("missing tensor 'model.norm.weight'");
  if (!head && !c.tie_word_embeddings)
    return Errorf("missing tensor 'lm_head.weight' (and config.json does not tie the embeddings)");
  const int64_t last_layer = o.keep_mtp ? n_layers_in_ckpt_max : L;
  for (int64_t i = 0; i < last_layer; ++i) {
    if (i >= L && !layers_seen.count(i)) {
      if (o.keep_mtp)
        return Errorf("--keep-mtp: config.json declares %" PRId64 " MTP layers but layer %" PRId64
                      " is not in the checkpoint",
                      c.num_nextn_predict_layers, i);
      continue;
    }
    for (const std::string& r : RequiredBlockTensors(c, i))
      if (!block.count({i, r}))
        return Errorf("missing tensor 'model.layers.%" PRId64 ".%s'", i, r.c_str());
    if (i >= c.first_k_dense_replace)
      for (const char* w : {"gate", "up", "down"})
        for (int64_t e = 0; e < E; ++e)
          if (!experts.count({i, w, e}))
            return Errorf("missing tensor 'model.layers.%" PRId64 ".mlp.experts.%" PRId64 ".%s_proj.weight'", i, e, w);
  }

  // FP8 scales: present, with the block-grid shape.
  auto source = [&](const StTensor* t) -> Result<Source> {
    Source s{t, nullptr};
    if (t->dtype != StDType::F8_E4M3) return s;
    s.scale = ckpt.Find(t->name + kScaleSuffix);
    if (!s.scale) return Errorf("FP8 tensor '%s' has no '%s%s'", t->name.c_str(), t->name.c_str(), kScaleSuffix);
    const std::vector<int64_t> want = {(t->shape[0] + c.fp8_block_rows - 1) / c.fp8_block_rows,
                                       (t->shape[1] + c.fp8_block_cols - 1) / c.fp8_block_cols};
    if (s.scale->shape != want)
      return Errorf("tensor '%s' has shape %s, expected %s for %" PRId64 "x%" PRId64 " blocks of %s %s",
                    s.scale->name.c_str(), s.scale->ShapeString().c_str(), ShapeStr(want).c_str(),
                    c.fp8_block_rows, c.fp8_block_cols, t->name.c_str(), t->ShapeString().c_str());
    if (s.scale->dtype != StDType::F32 && s.scale->dtype != StDType::BF16 && s.scale->dtype != StDType::F16)
      return Errorf("tensor '%s' has dtype %s, expected F32, BF16 or F16", s.scale->name.c_str(),
                    StDTypeName(s.scale->dtype));
    return s;
  };

  // Pass 2: outputs in checkpoint order (experts at their first appearance).
  auto add = [&](std::string name, std::vector<int64_t> ne, Recipe recipe, std::vector<Source> sources) {
    PlannedTensor p;
    p.name = std::move(name);
    p.n_dims = int(ne.size());
    for (size_t i = 0; i < ne.size(); ++i) p.ne[i] = ne[i];
    p.recipe = recipe;
    p.sources = std::move(sources);
    plan.tensors.push_back(std::move(p));
  };
  auto reversed = [](const std::vector<int64_t>& s) { return std::vector<int64_t>(s.rbegin(), s.rend()); };
  std::set<std::pair<int64_t, std::string>> stacked;
  for (const StTensor* t : ckpt.ordered()) {
    const std::string& name = t->name;
    if (consumed_scales.count(name)) continue;
    if (name.size() > 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0) continue;
    if (t == embed || t == head || t == norm) {
      MLA_ASSIGN_OR_RETURN(Source s, source(t));
      add(t == embed ? "token_embd.weight" : t == head ? "output.weight" : "output_norm.weight",
          reversed(t->shape), Recipe::kCopy, {s});
      continue;
    }
    int64_t layer, e;
    std::string rest, which;
    ParseLayerName(name, &layer, &rest);
    if (layer >= last_layer) {
      ++plan.hf_tensors_dropped;
      continue;
    }
    const std::string blk = "blk." + std::to_string(layer) + ".";
    if (ParseExpertName(rest, &e, &which)) {
      if (!stacked.insert({layer, which}).second) continue;
      std::vector<Source> srcs;
      for (int64_t k = 0; k < E; ++k) {
        MLA_ASSIGN_OR_RETURN(Source s, source(experts[{layer, which, k}]));
        srcs.push_back(s);
      }
      add(blk + "ffn_" + which + "_exps.weight", {t->shape[1], t->shape[0], E}, Recipe::kStackExperts,
          std::move(srcs));
      continue;
    }
    MLA_ASSIGN_OR_RETURN(Source s, source(t));
    if (rest == "self_attn.kv_b_proj.weight") {
      if (o.layout != Layout::kMla) add(blk + "attn_kv_b.weight", reversed(t->shape), Recipe::kCopy, {s});
      if (o.layout == Layout::kSplit2D) {
        add(blk + "attn_k_b.weight", {dn, H * rkv}, Recipe::kSplitK, {s});
        add(blk + "attn_v_b.weight", {rkv, H * dv}, Recipe::kSplitV, {s});
      } else if (o.layout == Layout::kMla) {
        add(blk + "attn_k_b.weight", {dn, rkv, H}, Recipe::kSplitK, {s});
        add(blk + "attn_v_b.weight", {rkv, dv, H}, Recipe::kSplitV, {s});
      }
      continue;
    }
    add(blk + GgufBlockName(rest), reversed(t->shape), Recipe::kCopy, {s});
  }
  plan.mtp_layers_kept = o.keep_mtp ? c.num_nextn_predict_layers : 0;
  if (o.keep_mtp && plan.mtp_layers_kept == 0)
    return Errorf("--keep-mtp: config.json has no num_nextn_predict_layers (the checkpoint has no MTP layer)");
  return plan;
}

namespace {

// Rows [row0, row0 + n) of a checkpoint tensor viewed as [rows, cols] (cols = last dimension).
Status ReadSourceRows(const Source& s, const HfConfig& cfg, int64_t row0, int64_t n, float* dst) {
  const StTensor& t = *s.weight;
  const int64_t cols = Cols(t);
  const uint8_t* base = t.data + uint64_t(row0 * cols) * StDTypeSize(t.dtype);
  const int64_t count = n * cols;
  switch (t.dtype) {
    case StDType::F32:
      std::memcpy(dst, base, size_t(count) * 4);
      return Status::Ok();
    case StDType::F64:
      for (int64_t i = 0; i < count; ++i) {
        double v;
        std::memcpy(&v, base + 8 * i, 8);
        dst[i] = float(v);
      }
      return Status::Ok();
    case StDType::F16:
    case StDType::BF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, base + 2 * i, 2);
        dst[i] = t.dtype == StDType::F16 ? F16ToF32(h) : BF16ToF32(h);
      }
      return Status::Ok();
    case StDType::F8_E4M3: {
      if (!s.scale) return Errorf("FP8 tensor '%s' has no scale", t.name.c_str());
      const StTensor& sc = *s.scale;
      const int64_t scols = sc.shape[1];
      std::vector<float> srow(static_cast<size_t>(scols));
      int64_t have = -1;
      for (int64_t r = 0; r < n; ++r) {
        const int64_t m = row0 + r;
        const int64_t sr = m / cfg.fp8_block_rows;
        if (sr != have) {
          const size_t es = StDTypeSize(sc.dtype);
          const uint8_t* p = sc.data + uint64_t(sr * scols) * es;
          for (int64_t k = 0; k < scols; ++k) {
            if (sc.dtype == StDType::F32) {
              std::memcpy(&srow[size_t(k)], p + 4 * k, 4);
            } else {
              uint16_t h;
              std::memcpy(&h, p + 2 * k, 2);
              srow[size_t(k)] = sc.dtype == StDType::F16 ? F16ToF32(h) : BF16ToF32(h);
            }
          }
          have = sr;
        }
        DequantizeFp8Row(t.data + uint64_t(m * cols), srow.data(), cols, cfg.fp8_block_cols, dst + r * cols);
      }
      return Status::Ok();
    }
    default:
      return Errorf("tensor '%s': dtype %s cannot be converted", t.name.c_str(), StDTypeName(t.dtype));
  }
}

}  // namespace

Status ReadRows(const PlannedTensor& t, const HfConfig& c, int64_t row0, int64_t nrows, float* dst) {
  if (row0 < 0 || nrows < 0 || row0 + nrows > t.nrows())
    return Errorf("%s: rows [%" PRId64 ", %" PRId64 ") out of range", t.name.c_str(), row0, row0 + nrows);
  const int64_t ne0 = t.ne[0];
  const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank, P = dn + dv;
  switch (t.recipe) {
    case Recipe::kCopy:
      return ReadSourceRows(t.sources[0], c, row0, nrows, dst);
    case Recipe::kStackExperts: {
      const int64_t per = t.ne[1];  // rows per expert
      for (int64_t r = row0; r < row0 + nrows;) {
        const int64_t e = r / per, in = r % per, n = std::min(per - in, row0 + nrows - r);
        MLA_RETURN_IF_ERROR(ReadSourceRows(t.sources[size_t(e)], c, in, n, dst + (r - row0) * ne0));
        r += n;
      }
      return Status::Ok();
    }
    case Recipe::kSplitV:
      // v_b row (j, h) = h * d_v + j is kv_b row h * P + d_n + j (spec §2.5).
      for (int64_t r = row0; r < row0 + nrows;) {
        const int64_t h = r / dv, j = r % dv, n = std::min(dv - j, row0 + nrows - r);
        MLA_RETURN_IF_ERROR(ReadSourceRows(t.sources[0], c, h * P + dn + j, n, dst + (r - row0) * ne0));
        r += n;
      }
      return Status::Ok();
    case Recipe::kSplitK: {
      // k_b row (c, h) = h * r_kv + c holds kv_b[h * P + d][c] for d < d_n (spec §2.5): read the
      // head's d_n x r_kv slab once and transpose.
      std::vector<float> slab(static_cast<size_t>(dn * rkv));
      int64_t have = -1;
      for (int64_t r = row0; r < row0 + nrows; ++r) {
        const int64_t h = r / rkv, col = r % rkv;
        if (h != have) {
          MLA_RETURN_IF_ERROR(ReadSourceRows(t.sources[0], c, h * P, dn, slab.data()));
          have = h;
        }
        float* out = dst + (r - row0) * ne0;
        for (int64_t d = 0; d < dn; ++d) out[d] = slab[size_t(d * rkv + col)];
      }
      return Status::Ok();
    }
  }
  return Errorf("%s: unknown recipe", t.name.c_str());
}

}  // namespace mla::convert
