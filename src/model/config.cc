#include "model/config.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "base/log.h"

namespace mla {
namespace {

constexpr const char* kArch = "deepseek2.";

// File metadata with --override-kv entries on top. Keys are given without the "deepseek2."
// prefix; general.* and tokenizer.* keys are passed in full (they contain a dot before the arch).
class Metadata {
 public:
  Metadata(const gguf::File& file, const std::vector<KvOverride>& overrides)
      : file_(file), overrides_(overrides) {}

  static std::string Full(std::string_view key) {
    if (key.starts_with("general.") || key.starts_with("tokenizer.")) return std::string(key);
    return kArch + std::string(key);
  }
  const gguf::Value* Find(std::string_view key) const {
    const std::string full = Full(key);
    for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it)
      if (it->key == full) return &it->value;
    return file_.Find(full);
  }
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  Result<uint64_t> U64(std::string_view key) const {
    const gguf::Value* v = Find(key);
    if (!v) return Errorf("missing required metadata key '%s'", Full(key).c_str());
    if (!v->is_integer())
      return Errorf("metadata key '%s': expected an integer, found %s", Full(key).c_str(),
                    gguf::ValueTypeName(v->type));
    const bool is_unsigned = v->type == gguf::ValueType::U8 || v->type == gguf::ValueType::U16 ||
                             v->type == gguf::ValueType::U32 || v->type == gguf::ValueType::U64;
    if (!is_unsigned && v->i < 0)
      return Errorf("metadata key '%s': expected a non-negative integer, found %" PRId64,
                    Full(key).c_str(), v->i);
    return is_unsigned ? v->u : uint64_t(v->i);
  }
  Result<uint64_t> U64Or(std::string_view key, uint64_t def) const {
    return Has(key) ? U64(key) : Result<uint64_t>(def);
  }
  Result<double> F64(std::string_view key) const {
    const gguf::Value* v = Find(key);
    if (!v) return Errorf("missing required metadata key '%s'", Full(key).c_str());
    if (v->type == gguf::ValueType::F32 || v->type == gguf::ValueType::F64) return v->f;
    if (v->is_integer()) return double(v->i);
    return Errorf("metadata key '%s': expected a number, found %s", Full(key).c_str(),
                  gguf::ValueTypeName(v->type));
  }
  Result<double> F64Or(std::string_view key, double def) const {
    return Has(key) ? F64(key) : Result<double>(def);
  }
  Result<bool> BoolOr(std::string_view key, bool def) const {
    const gguf::Value* v = Find(key);
    if (!v) return def;
    if (v->type != gguf::ValueType::BOOL)
      return Errorf("metadata key '%s': expected a bool, found %s", Full(key).c_str(),
                    gguf::ValueTypeName(v->type));
    return v->u != 0;
  }
  Result<std::string> StringOr(std::string_view key, std::string def) const {
    const gguf::Value* v = Find(key);
    if (!v) return def;
    if (v->type != gguf::ValueType::STRING)
      return Errorf("metadata key '%s': expected a string, found %s", Full(key).c_str(),
                    gguf::ValueTypeName(v->type));
    return v->s;
  }

 private:
  const gguf::File& file_;
  const std::vector<KvOverride>& overrides_;
};

// Which released model family a file looks like, for the defaults of spec §2.6.
enum class Family { kUnknown, kV2, kV3 };

Family Identify(const ModelConfig& c) {
  if (c.n_vocab == 102400) return Family::kV2;   // V2, V2-Lite, V2.5 (deepseek-llm vocabulary)
  if (c.n_vocab == 129280) return Family::kV3;   // V3, V3-0324, R1, V3.1
  return Family::kUnknown;
}

Status Check(bool ok, const char* what, int64_t found) {
  if (ok) return Status::Ok();
  return Errorf("bad model config: expected %s, found %" PRId64, what, found);
}

}  // namespace

const char* GatingName(GatingFunc g) { return g == GatingFunc::kSigmoid ? "sigmoid" : "softmax"; }

Result<KvOverride> ParseKvOverride(const std::string& text) {
  const size_t eq = text.find('=');
  const size_t colon = eq == std::string::npos ? eq : text.find(':', eq);
  if (eq == std::string::npos || eq == 0 || colon == std::string::npos)
    return Errorf("--override-kv: expected KEY=TYPE:VALUE (TYPE int, float, bool or str), found '%s'",
                  text.c_str());
  KvOverride o;
  o.key = text.substr(0, eq);
  const std::string type = text.substr(eq + 1, colon - eq - 1);
  const std::string val = text.substr(colon + 1);
  const char* begin = val.c_str();
  char* end = nullptr;
  errno = 0;
  if (type == "int") {
    const long long v = std::strtoll(begin, &end, 10);
    if (val.empty() || *end != '\0' || errno == ERANGE)
      return Errorf("--override-kv %s: expected an integer value, found '%s'", o.key.c_str(),
                    val.c_str());
    o.value = gguf::Value::I64(v);
  } else if (type == "float") {
    const double v = std::strtod(begin, &end);
    if (val.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
      return Errorf("--override-kv %s: expected a finite float value, found '%s'", o.key.c_str(),
                    val.c_str());
    o.value = gguf::Value::F64(v);
  } else if (type == "bool") {
    if (val != "true" && val != "false")
      return Errorf("--override-kv %s: expected true or false, found '%s'", o.key.c_str(),
                    val.c_str());
    o.value = gguf::Value::Bool(val == "true");
  } else if (type == "str") {
    o.value = gguf::Value::String(val);
  } else {
    return Errorf("--override-kv %s: expected TYPE int, float, bool or str, found '%s'",
                  o.key.c_str(), type.c_str());
  }
  return o;
}

Result<ModelConfig> LoadConfig(const gguf::File& file, const std::vector<KvOverride>& overrides) {
  const Metadata md(file, overrides);
  ModelConfig c;
  MLA_ASSIGN_OR_RETURN(c.layout, DetectLayout(file));
  MLA_ASSIGN_OR_RETURN(c.name, md.StringOr("general.name", ""));

  MLA_ASSIGN_OR_RETURN(uint64_t n_ctx, md.U64("context_length"));
  MLA_ASSIGN_OR_RETURN(uint64_t n_embd, md.U64("embedding_length"));
  MLA_ASSIGN_OR_RETURN(uint64_t n_block, md.U64("block_count"));
  MLA_ASSIGN_OR_RETURN(uint64_t n_nextn, md.U64Or("nextn_predict_layers", 0));
  MLA_ASSIGN_OR_RETURN(uint64_t n_head, md.U64("attention.head_count"));
  MLA_ASSIGN_OR_RETURN(uint64_t kv_lora, md.U64("attention.kv_lora_rank"));
  MLA_ASSIGN_OR_RETURN(double eps, md.F64("attention.layer_norm_rms_epsilon"));
  // Bound everything before it sizes an allocation (a corrupt file must not ask for terabytes).
  constexpr uint64_t kMaxDim = 1u << 20;
  MLA_RETURN_IF_ERROR(Check(n_embd > 0 && n_embd <= kMaxDim, "embedding_length in [1, 2^20]", int64_t(n_embd)));
  MLA_RETURN_IF_ERROR(Check(n_head > 0 && n_head <= 4096, "attention.head_count in [1, 4096]", int64_t(n_head)));
  MLA_RETURN_IF_ERROR(Check(n_block > 0 && n_block <= 4096, "block_count in [1, 4096]", int64_t(n_block)));
  MLA_RETURN_IF_ERROR(Check(n_nextn < n_block, "nextn_predict_layers < block_count", int64_t(n_nextn)));
  MLA_RETURN_IF_ERROR(Check(kv_lora > 0 && kv_lora <= kMaxDim, "attention.kv_lora_rank in [1, 2^20]", int64_t(kv_lora)));
  MLA_RETURN_IF_ERROR(Check(n_ctx > 0, "context_length > 0", int64_t(n_ctx)));
  if (!(eps > 0 && eps < 1)) return Errorf("bad model config: expected layer_norm_rms_epsilon in (0, 1), found %g", eps);
  c.n_ctx_train = int64_t(std::min<uint64_t>(n_ctx, uint64_t(1) << 40));
  c.n_embd = int64_t(n_embd);
  c.n_layer = int64_t(n_block - n_nextn);
  c.n_nextn = int64_t(n_nextn);
  c.n_head = int64_t(n_head);
  c.kv_lora_rank = int64_t(kv_lora);
  c.rms_eps = float(eps);

  // Head sizes: spec §2.4 detection. In layout (c) key_length/value_length describe the latent
  // cache (r_kv + d_r, r_kv); the per-head sizes are in the *_mla keys.
  const uint64_t def_head = n_embd / n_head;
  uint64_t d_qk, d_v;
  if (c.layout == TensorLayout::kMla) {
    MLA_ASSIGN_OR_RETURN(d_qk, md.U64("attention.key_length_mla"));
    MLA_ASSIGN_OR_RETURN(d_v, md.U64("attention.value_length_mla"));
  } else {
    MLA_ASSIGN_OR_RETURN(d_qk, md.U64Or("attention.key_length", def_head));
    MLA_ASSIGN_OR_RETURN(d_v, md.U64Or("attention.value_length", def_head));
  }
  MLA_ASSIGN_OR_RETURN(uint64_t n_rot, md.U64Or("rope.dimension_count", d_qk));
  MLA_RETURN_IF_ERROR(Check(d_qk <= kMaxDim && n_rot < d_qk, "rope.dimension_count < key length (d_n >= 1)", int64_t(n_rot)));
  MLA_RETURN_IF_ERROR(Check(n_rot > 0 && n_rot % 2 == 0, "an even rope.dimension_count > 0", int64_t(n_rot)));
  MLA_RETURN_IF_ERROR(Check(d_v > 0 && d_v <= kMaxDim, "value length in [1, 2^20]", int64_t(d_v)));
  c.n_rope = int64_t(n_rot);
  c.n_nope = int64_t(d_qk - n_rot);
  c.n_v = int64_t(d_v);

  // Query path: from the tensors present, never from the layer count (spec §2.3).
  const bool has_q = file.FindTensor("blk.0.attn_q.weight") != nullptr;
  const bool has_q_a = file.FindTensor("blk.0.attn_q_a.weight") != nullptr;
  if (has_q_a) {
    if (md.Has("attention.q_lora_rank")) {
      MLA_ASSIGN_OR_RETURN(uint64_t r, md.U64("attention.q_lora_rank"));
      c.q_lora_rank = int64_t(r);
    } else {
      c.q_lora_rank = file.FindTensor("blk.0.attn_q_a.weight")->ne[1];
      c.warnings.push_back("no attention.q_lora_rank key: using attn_q_a's width " +
                           std::to_string(c.q_lora_rank));
    }
    MLA_RETURN_IF_ERROR(Check(c.q_lora_rank > 0 && c.q_lora_rank <= int64_t(kMaxDim), "attention.q_lora_rank in [1, 2^20] with attn_q_a present", c.q_lora_rank));
  } else if (has_q) {
    c.q_lora_rank = 0;
  } else {
    return Status::Error("expected blk.0.attn_q_a.weight (query LoRA) or blk.0.attn_q.weight (plain query), found neither");
  }

  // Vocabulary size: key, else the token list, else the embedding table.
  if (md.Has("vocab_size")) {
    MLA_ASSIGN_OR_RETURN(uint64_t v, md.U64("vocab_size"));
    c.n_vocab = int64_t(std::min<uint64_t>(v, kMaxDim * 16));
  } else if (const gguf::Value* t = file.Find("tokenizer.ggml.tokens"); t && t->type == gguf::ValueType::ARRAY) {
    c.n_vocab = int64_t(t->array_size);
  } else if (const gguf::TensorInfo* e = file.FindTensor("token_embd.weight")) {
    c.n_vocab = e->ne[1];
  }
  MLA_RETURN_IF_ERROR(Check(c.n_vocab > 0 && c.n_vocab <= int64_t(kMaxDim) * 16, "a vocabulary size in [1, 2^24]", c.n_vocab));

  // Feed-forward.
  MLA_ASSIGN_OR_RETURN(uint64_t n_dense, md.U64Or("leading_dense_block_count", 0));
  c.n_leading_dense = int64_t(std::min<uint64_t>(n_dense, uint64_t(c.n_layer)));
  if (c.n_leading_dense > 0) {
    MLA_ASSIGN_OR_RETURN(uint64_t ff, md.U64("feed_forward_length"));
    MLA_RETURN_IF_ERROR(Check(ff > 0 && ff <= kMaxDim, "feed_forward_length in [1, 2^20]", int64_t(ff)));
    c.n_ff = int64_t(ff);
  }
  if (c.n_leading_dense < c.n_layer) {
    MLA_ASSIGN_OR_RETURN(uint64_t e, md.U64("expert_count"));
    MLA_ASSIGN_OR_RETURN(uint64_t k, md.U64("expert_used_count"));
    MLA_ASSIGN_OR_RETURN(uint64_t es, md.U64("expert_shared_count"));
    MLA_ASSIGN_OR_RETURN(uint64_t ffe, md.U64("expert_feed_forward_length"));
    MLA_RETURN_IF_ERROR(Check(e > 0 && e <= 65536, "expert_count in [1, 65536]", int64_t(e)));
    MLA_RETURN_IF_ERROR(Check(k > 0 && k <= e, "expert_used_count in [1, expert_count]", int64_t(k)));
    MLA_RETURN_IF_ERROR(Check(es <= 1024, "expert_shared_count <= 1024", int64_t(es)));
    MLA_RETURN_IF_ERROR(Check(ffe > 0 && ffe <= kMaxDim, "expert_feed_forward_length in [1, 2^20]", int64_t(ffe)));
    c.n_expert = int64_t(e);
    c.n_expert_used = int64_t(k);
    c.n_expert_shared = int64_t(es);
    c.n_ff_exp = int64_t(ffe);
    MLA_ASSIGN_OR_RETURN(double scale, md.F64Or("expert_weights_scale", 1.0));
    // llama.cpp writes 0.0 for "not set" and then skips the multiply: same as 1.
    c.expert_weights_scale = scale == 0 ? 1.0f : float(scale);
    if (!std::isfinite(c.expert_weights_scale))
      return Errorf("bad model config: expected a finite expert_weights_scale, found %g", scale);
    MLA_ASSIGN_OR_RETURN(c.expert_weights_norm, md.BoolOr("expert_weights_norm", false));
    c.has_expert_bias =
        file.FindTensor("blk." + std::to_string(c.n_leading_dense) + ".exp_probs_b.bias") != nullptr;
  }
  // Model identity for the defaults of spec §2.6.
  const Family family = Identify(c);

  if (md.Has("expert_gating_func")) {
    MLA_ASSIGN_OR_RETURN(uint64_t g, md.U64("expert_gating_func"));
    if (g != 1 && g != 2)
      return Errorf("bad model config: expected expert_gating_func 1 (softmax) or 2 (sigmoid), found %" PRIu64, g);
    c.gating = GatingFunc(g);
  } else {
    // Spec §2.6: softmax, except GLM-4.7-Flash (47/48 blocks, V = 154880) which is sigmoid.
    const bool glm = (n_block == 47 || n_block == 48) && c.n_vocab == 154880;
    c.gating = glm ? GatingFunc::kSigmoid : GatingFunc::kSoftmax;
  }

  if (md.Has("expert_group_count") || md.Has("expert_group_used_count")) {
    MLA_ASSIGN_OR_RETURN(uint64_t g, md.U64Or("expert_group_count", 1));
    MLA_ASSIGN_OR_RETURN(uint64_t gk, md.U64Or("expert_group_used_count", g));
    c.n_group = int64_t(std::min<uint64_t>(g, 65536));
    c.n_group_used = int64_t(std::min<uint64_t>(gk, 65536));
  } else if (c.n_expert > 0) {
    const char* which = nullptr;
    if (family == Family::kV2 && c.n_head == 128 && c.n_expert == 160) {
      c.n_group = 8, c.n_group_used = 3, which = "DeepSeek-V2/V2.5";
    } else if (family == Family::kV3 && c.n_expert == 256) {
      c.n_group = 8, c.n_group_used = 4, which = "DeepSeek-V3/R1";
    }
    if (which) {
      c.warnings.push_back(Format(
          "no expert_group_count/expert_group_used_count keys: this looks like %s, so group-limited "
          "routing uses %" PRId64 " groups keeping %" PRId64 " (spec §2.6). Write the keys into the file with "
          "`mla-gguf set FILE deepseek2.expert_group_count=u32:%" PRId64
          " deepseek2.expert_group_used_count=u32:%" PRId64 "` (or override them for one run with "
          "--override-kv deepseek2.expert_group_count=int:G --override-kv "
          "deepseek2.expert_group_used_count=int:GK)",
          which, c.n_group, c.n_group_used, c.n_group, c.n_group_used));
    } else if (c.n_expert == 256 && c.gating == GatingFunc::kSigmoid) {
      // Looks like V3 (256 routed experts, sigmoid) but the vocabulary does not identify it.
      c.warnings.push_back(Format(
          "no expert_group_count keys: this looks like DeepSeek-V3 (%" PRId64 " routed experts, sigmoid) but the "
          "vocabulary does not identify it, so routing is not group-limited. If the checkpoint's config.json has "
          "n_group/topk_group > 1 "
          "add them with `mla-gguf set FILE deepseek2.expert_group_count=u32:G "
          "deepseek2.expert_group_used_count=u32:GK`",
          c.n_expert));
    }
  }
  if (c.n_expert > 0) {
    MLA_RETURN_IF_ERROR(Check(c.n_group >= 1 && c.n_expert % c.n_group == 0, "expert_group_count >= 1 dividing expert_count", c.n_group));
    MLA_RETURN_IF_ERROR(Check(c.n_group_used >= 1 && c.n_group_used <= c.n_group, "expert_group_used_count in [1, expert_group_count]", c.n_group_used));
    MLA_RETURN_IF_ERROR(Check(c.n_group_used * (c.n_expert / c.n_group) >= c.n_expert_used, "kept groups holding at least expert_used_count experts", c.n_group_used));
  }

  // RoPE / YaRN (spec §2.1, §3.3, §3.4).
  c.rope.n_rot = int(c.n_rope);
  MLA_ASSIGN_OR_RETURN(c.rope.freq_base, md.F64Or("rope.freq_base", 10000.0));
  MLA_ASSIGN_OR_RETURN(std::string scaling, md.StringOr("rope.scaling.type", "none"));
  MLA_ASSIGN_OR_RETURN(double factor, md.F64Or("rope.scaling.factor", 1.0));
  if (!(c.rope.freq_base > 1) || !std::isfinite(c.rope.freq_base))
    return Errorf("bad model config: expected rope.freq_base > 1, found %g", c.rope.freq_base);
  if (!(factor > 0) || !std::isfinite(factor))
    return Errorf("bad model config: expected rope.scaling.factor > 0, found %g", factor);
  if (scaling == "yarn") {
    c.rope.yarn = true;
    c.rope.factor = factor;
    MLA_ASSIGN_OR_RETURN(uint64_t orig, md.U64Or("rope.scaling.original_context_length", n_ctx));
    MLA_RETURN_IF_ERROR(Check(orig > 0, "rope.scaling.original_context_length > 0", int64_t(orig)));
    c.rope.orig_ctx = double(orig);
    MLA_ASSIGN_OR_RETURN(c.rope.beta_fast, md.F64Or("rope.scaling.yarn_beta_fast", 32.0));
    MLA_ASSIGN_OR_RETURN(c.rope.beta_slow, md.F64Or("rope.scaling.yarn_beta_slow", 1.0));
    if (!(c.rope.beta_fast > 0) || !(c.rope.beta_slow > 0))
      return Errorf("bad model config: expected positive yarn_beta_fast/slow, found %g/%g",
                    c.rope.beta_fast, c.rope.beta_slow);
    if (md.Has("rope.scaling.yarn_log_multiplier")) {
      MLA_ASSIGN_OR_RETURN(c.yarn_log_multiplier, md.F64("rope.scaling.yarn_log_multiplier"));
    } else if (family != Family::kUnknown) {
      // Spec §2.6: early files lack the key; known models have mscale_all_dim 0.707 / 1.0.
      c.yarn_log_multiplier = family == Family::kV2 ? 0.0707 : 0.1;
      c.warnings.push_back(Format(
          "no rope.scaling.yarn_log_multiplier key: using %g for this %s-family model (spec §2.6)",
          c.yarn_log_multiplier, family == Family::kV2 ? "V2" : "V3"));
    } else {
      c.warnings.push_back("no rope.scaling.yarn_log_multiplier key: no YaRN attention-scale correction");
    }
  } else if (scaling == "linear") {
    c.rope.factor = factor;
  } else if (scaling == "none" || scaling.empty()) {
    c.rope.factor = 1;
  } else {
    return Errorf("bad model config: expected rope.scaling.type yarn, linear or none, found '%s'",
                  scaling.c_str());
  }
  c.attn_scale = float(ops::AttentionScale(c.rope.yarn, c.rope.factor, c.yarn_log_multiplier,
                                           int(c.n_qk())));
  return c;
}

std::string DescribeConfig(const ModelConfig& c) {
  std::string s = Format(
      "%s: layout %s, %" PRId64 " layers (%" PRId64 " dense), D %" PRId64 ", H %" PRId64
      ", V %" PRId64 ", q %s, r_kv %" PRId64 ", d_n/d_r/d_v %" PRId64 "/%" PRId64 "/%" PRId64,
      c.name.empty() ? "model" : c.name.c_str(), LayoutName(c.layout), c.n_layer,
      c.n_leading_dense, c.n_embd, c.n_head, c.n_vocab,
      c.q_lora_rank > 0 ? Format("LoRA r_q %" PRId64, c.q_lora_rank).c_str() : "plain",
      c.kv_lora_rank, c.n_nope, c.n_rope, c.n_v);
  if (c.n_expert > 0)
    s += Format("; MoE %" PRId64 " experts, %" PRId64 " used, %" PRId64 " shared, %s%s, %s, norm %s, scale %g",
                c.n_expert, c.n_expert_used, c.n_expert_shared, GatingName(c.gating),
                c.has_expert_bias ? " + bias" : "",
                c.n_group > 1 ? Format("%" PRId64 " groups (keep %" PRId64 ")", c.n_group, c.n_group_used).c_str()
                              : "no groups",
                c.expert_weights_norm ? "yes" : "no", double(c.expert_weights_scale));
  s += Format("; rope %s (s %g), attention scale %.7f", c.rope.yarn ? "YaRN" : "plain",
              c.rope.factor, double(c.attn_scale));
  return s;
}

}  // namespace mla
