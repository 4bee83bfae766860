#include "convert/hf_config.h"

#include <cinttypes>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace mla::convert {

namespace {

using nlohmann::json;
using gguf::Value;

// Largest value accepted for a shape field: keeps every product of two fields inside int64.
constexpr int64_t kMaxDim = int64_t(1) << 24;

// Integer field (integral floats such as 40.0 accepted). Missing or null: `def`, or an error when
// there is no default.
Result<int64_t> Int(const json& j, const char* key, std::optional<int64_t> def, int64_t min_value,
                    int64_t max_value = kMaxDim) {
  if (!j.contains(key) || j[key].is_null()) {
    if (def) return *def;
    return Errorf("config.json: missing required field \"%s\"", key);
  }
  const json& v = j[key];
  int64_t x;
  if (v.is_number_integer()) {
    x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
             v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    return Errorf("config.json: \"%s\" must be an integer, found %s", key, v.dump().c_str());
  }
  if (x < min_value || x > max_value)
    return Errorf("config.json: \"%s\" = %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", key, x,
                  min_value, max_value);
  return x;
}

Result<double> Num(const json& j, const char* key, std::optional<double> def) {
  if (!j.contains(key) || j[key].is_null()) {
    if (def) return *def;
    return Errorf("config.json: missing required field \"%s\"", key);
  }
  const json& v = j[key];
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    return Errorf("config.json: \"%s\" must be a finite number, found %s", key, v.dump().c_str());
  return v.get<double>();
}

Result<std::optional<double>> OptNum(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<double>();
  MLA_ASSIGN_OR_RETURN(double v, Num(j, key, std::nullopt));
  return std::optional<double>(v);
}

Result<bool> Bool(const json& j, const char* key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean())
    return Errorf("config.json: \"%s\" must be true or false, found %s", key, j[key].dump().c_str());
  return j[key].get<bool>();
}

Result<std::string> Str(const json& j, const char* key, const std::string& def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string())
    return Errorf("config.json: \"%s\" must be a string, found %s", key, j[key].dump().c_str());
  return j[key].get<std::string>();
}

}  // namespace

const char* LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kLegacy: return "legacy";
    case Layout::kSplit2D: return "split2d";
    case Layout::kMla: return "mla";
  }
  return "?";
}

Result<Layout> ParseLayout(const std::string& name) {
  if (name == "legacy") return Layout::kLegacy;
  if (name == "split2d") return Layout::kSplit2D;
  if (name == "mla") return Layout::kMla;
  return Errorf("unknown layout '%s' (expected legacy, split2d or mla)", name.c_str());
}

Result<HfConfig> ParseHfConfig(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Errorf("config.json is not valid JSON: %s", e.what());
  }
  if (!j.is_object()) return Errorf("config.json: expected an object, found %s", j.type_name());
  HfConfig c;

  // Architecture: the classes whose tensors and config fields this converter maps (spec §6).
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string())
    return Errorf("config.json: expected \"architectures\" to be a list of class names, found %s",
                  j.contains("architectures") ? j["architectures"].dump().c_str() : "nothing");
  c.architecture = j["architectures"][0].get<std::string>();
  if (c.architecture != "DeepseekV2ForCausalLM" && c.architecture != "DeepseekV3ForCausalLM")
    return Errorf("config.json: unsupported architecture '%s' (expected DeepseekV2ForCausalLM or "
                  "DeepseekV3ForCausalLM)",
                  c.architecture.c_str());
  MLA_ASSIGN_OR_RETURN(c.model_type, Str(j, "model_type", ""));

  MLA_ASSIGN_OR_RETURN(c.vocab_size, Int(j, "vocab_size", std::nullopt, 1, INT32_MAX));
  MLA_ASSIGN_OR_RETURN(c.hidden_size, Int(j, "hidden_size", std::nullopt, 1));
  MLA_ASSIGN_OR_RETURN(c.num_hidden_layers, Int(j, "num_hidden_layers", std::nullopt, 1, 4096));
  MLA_ASSIGN_OR_RETURN(c.num_nextn_predict_layers, Int(j, "num_nextn_predict_layers", 0, 0, 16));
  MLA_ASSIGN_OR_RETURN(c.first_k_dense_replace, Int(j, "first_k_dense_replace", 0, 0, c.num_hidden_layers));
  MLA_ASSIGN_OR_RETURN(c.num_attention_heads, Int(j, "num_attention_heads", std::nullopt, 1, 65536));
  MLA_ASSIGN_OR_RETURN(c.num_key_value_heads,
                       Int(j, "num_key_value_heads", c.num_attention_heads, 1, 65536));
  MLA_ASSIGN_OR_RETURN(c.q_lora_rank, Int(j, "q_lora_rank", 0, 0));
  MLA_ASSIGN_OR_RETURN(c.kv_lora_rank, Int(j, "kv_lora_rank", 512, 1));
  MLA_ASSIGN_OR_RETURN(c.qk_nope_head_dim, Int(j, "qk_nope_head_dim", std::nullopt, 1));
  MLA_ASSIGN_OR_RETURN(c.qk_rope_head_dim, Int(j, "qk_rope_head_dim", std::nullopt, 2));
  if (c.qk_rope_head_dim % 2)
    return Errorf("config.json: \"qk_rope_head_dim\" = %" PRId64 " must be even (RoPE rotates pairs)",
                  c.qk_rope_head_dim);
  MLA_ASSIGN_OR_RETURN(c.v_head_dim, Int(j, "v_head_dim", std::nullopt, 1));
  MLA_ASSIGN_OR_RETURN(c.max_position_embeddings, Int(j, "max_position_embeddings", std::nullopt, 1, UINT32_MAX));

  MLA_ASSIGN_OR_RETURN(const int64_t moe_freq, Int(j, "moe_layer_freq", 1, 1, 4096));
  if (moe_freq != 1)
    return Errorf("config.json: \"moe_layer_freq\" = %" PRId64 " is not supported (every layer from "
                  "first_k_dense_replace on must be MoE)",
                  moe_freq);
  MLA_ASSIGN_OR_RETURN(c.n_routed_experts, Int(j, "n_routed_experts", std::nullopt, 1, 65536));
  MLA_ASSIGN_OR_RETURN(c.num_experts_per_tok,
                       Int(j, "num_experts_per_tok", std::nullopt, 1, c.n_routed_experts));
  MLA_ASSIGN_OR_RETURN(c.n_shared_experts, Int(j, "n_shared_experts", 0, 0, 65536));
  MLA_ASSIGN_OR_RETURN(c.moe_intermediate_size, Int(j, "moe_intermediate_size", std::nullopt, 1));
  // The dense FFN width is only needed when there are dense blocks.
  MLA_ASSIGN_OR_RETURN(c.intermediate_size,
                       Int(j, "intermediate_size", c.first_k_dense_replace > 0 ? std::nullopt : std::optional<int64_t>(0),
                           c.first_k_dense_replace > 0 ? 1 : 0));
  if (j.contains("n_group") && !j["n_group"].is_null()) {
    MLA_ASSIGN_OR_RETURN(int64_t g, Int(j, "n_group", std::nullopt, 1, c.n_routed_experts));
    c.n_group = g;
  }
  if (j.contains("topk_group") && !j["topk_group"].is_null()) {
    MLA_ASSIGN_OR_RETURN(int64_t g, Int(j, "topk_group", std::nullopt, 1, c.n_group.value_or(c.n_routed_experts)));
    c.topk_group = g;
  }
  if (c.n_group && c.n_routed_experts % *c.n_group)
    return Errorf("config.json: n_routed_experts %" PRId64 " is not a multiple of n_group %" PRId64,
                  c.n_routed_experts, *c.n_group);
  MLA_ASSIGN_OR_RETURN(c.norm_topk_prob, Bool(j, "norm_topk_prob", false));
  MLA_ASSIGN_OR_RETURN(c.routed_scaling_factor, Num(j, "routed_scaling_factor", 1.0));
  MLA_ASSIGN_OR_RETURN(const std::string scoring, Str(j, "scoring_func", "softmax"));
  if (scoring != "softmax" && scoring != "sigmoid")
    return Errorf("config.json: \"scoring_func\" = \"%s\" (expected softmax or sigmoid)", scoring.c_str());
  c.sigmoid_gating = scoring == "sigmoid";
  MLA_ASSIGN_OR_RETURN(c.rms_norm_eps, Num(j, "rms_norm_eps", 1e-6));
  MLA_ASSIGN_OR_RETURN(c.tie_word_embeddings, Bool(j, "tie_word_embeddings", false));
  for (auto [key, field] : {std::pair{"bos_token_id", &c.bos_token_id}, std::pair{"eos_token_id", &c.eos_token_id}})
    if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() >= 0 &&
        j[key].get<int64_t>() < c.vocab_size)
      *field = j[key].get<int64_t>();

  // RoPE: DeepSeek's legacy "rope_scaling" (or transformers 5's "rope_parameters").
  json rp = json::object();
  for (const char* k : {"rope_scaling", "rope_parameters"}) {
    if (j.contains(k) && !j[k].is_null()) {
      if (!j[k].is_object()) return Errorf("config.json: \"%s\" must be an object, found %s", k, j[k].dump().c_str());
      rp = j[k];
      break;
    }
  }
  MLA_ASSIGN_OR_RETURN(const double theta_rp, Num(rp, "rope_theta", 10000.0));
  MLA_ASSIGN_OR_RETURN(c.rope_theta, Num(j, "rope_theta", theta_rp));
  std::string rope_type;
  if (rp.contains("rope_type")) {
    MLA_ASSIGN_OR_RETURN(rope_type, Str(rp, "rope_type", ""));
  } else {
    MLA_ASSIGN_OR_RETURN(rope_type, Str(rp, "type", ""));
  }
  if (rope_type == "yarn" && rp.contains("factor") && !rp["factor"].is_null()) {
    c.yarn = true;
    MLA_ASSIGN_OR_RETURN(c.yarn_factor, Num(rp, "factor", std::nullopt));
    MLA_ASSIGN_OR_RETURN(c.yarn_original_context,
                         Int(rp, "original_max_position_embeddings", std::nullopt, 1, UINT32_MAX));
    MLA_ASSIGN_OR_RETURN(c.yarn_beta_fast, OptNum(rp, "beta_fast"));
    MLA_ASSIGN_OR_RETURN(c.yarn_beta_slow, OptNum(rp, "beta_slow"));
    MLA_ASSIGN_OR_RETURN(c.mscale_all_dim, OptNum(rp, "mscale_all_dim"));
  } else if (!rope_type.empty() && rope_type != "default" && rope_type != "yarn") {
    return Errorf("config.json: rope scaling type \"%s\" is not supported (expected yarn or none)",
                  rope_type.c_str());
  }

  if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    const json& q = j["quantization_config"];
    if (!q.is_object()) return Errorf("config.json: \"quantization_config\" must be an object");
    MLA_ASSIGN_OR_RETURN(const std::string method, Str(q, "quant_method", ""));
    if (method != "fp8")
      return Errorf("config.json: quantization_config.quant_method \"%s\" is not supported (expected fp8)",
                    method.c_str());
    MLA_ASSIGN_OR_RETURN(const std::string fmt, Str(q, "fmt", "e4m3"));
    if (fmt != "e4m3")
      return Errorf("config.json: quantization_config.fmt \"%s\" is not supported (expected e4m3)", fmt.c_str());
    c.fp8 = true;
    if (q.contains("weight_block_size") && !q["weight_block_size"].is_null()) {
      const json& b = q["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
          b[0].get<int64_t>() < 1 || b[1].get<int64_t>() < 1 || b[0].get<int64_t>() > kMaxDim ||
          b[1].get<int64_t>() > kMaxDim)
        return Errorf("config.json: quantization_config.weight_block_size must be [rows, cols], found %s",
                      b.dump().c_str());
      c.fp8_block_rows = b[0].get<int64_t>();
      c.fp8_block_cols = b[1].get<int64_t>();
    }
  }
  return c;
}

Result<HfConfig> ReadHfConfig(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errorf("cannot read '%s' (a Hugging Face checkpoint folder has a config.json)", path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseHfConfig(ss.str());
}

std::vector<std::pair<std::string, Value>> ModelKeys(const HfConfig& c, const ModelKeyOptions& o) {
  std::vector<std::pair<std::string, Value>> kv;
  auto set = [&](const std::string& key, Value v) { kv.emplace_back(key, std::move(v)); };
  auto arch = [&](const std::string& key, Value v) { set("deepseek2." + key, std::move(v)); };
  auto u32 = [](int64_t x) { return Value::U32(uint32_t(x)); };
  auto f32 = [](double x) { return Value::F32(float(x)); };
  const bool mla = o.layout == Layout::kMla;

  set("general.architecture", Value::String("deepseek2"));
  set("general.type", Value::String("model"));
  set("general.name", Value::String(o.name));
  arch("block_count", u32(c.num_hidden_layers + o.mtp_layers));
  arch("context_length", u32(c.max_position_embeddings));
  arch("embedding_length", u32(c.hidden_size));
  arch("feed_forward_length", u32(c.intermediate_size));
  arch("attention.head_count", u32(c.num_attention_heads));
  arch("attention.head_count_kv", u32(mla ? 1 : c.num_key_value_heads));
  if (c.yarn) {
    arch("rope.scaling.type", Value::String("yarn"));
    arch("rope.scaling.factor", f32(c.yarn_factor));
    arch("rope.scaling.original_context_length", u32(c.yarn_original_context));
    if (c.yarn_beta_fast) arch("rope.scaling.yarn_beta_fast", f32(*c.yarn_beta_fast));
    if (c.yarn_beta_slow) arch("rope.scaling.yarn_beta_slow", f32(*c.yarn_beta_slow));
  }
  arch("rope.freq_base", f32(c.rope_theta));
  arch("attention.layer_norm_rms_epsilon", f32(c.rms_norm_eps));
  arch("expert_count", u32(c.n_routed_experts));
  arch("expert_used_count", u32(c.num_experts_per_tok));
  if (c.n_group) arch("expert_group_count", u32(*c.n_group));
  if (c.topk_group) arch("expert_group_used_count", u32(*c.topk_group));
  arch("expert_gating_func", u32(c.sigmoid_gating ? 2 : 1));
  set("general.file_type", Value::U32(o.file_type));
  arch("leading_dense_block_count", u32(c.first_k_dense_replace));
  arch("vocab_size", u32(c.vocab_size));
  if (c.q_lora_rank > 0) arch("attention.q_lora_rank", u32(c.q_lora_rank));
  arch("attention.kv_lora_rank", u32(c.kv_lora_rank));
  if (mla) {
    arch("attention.key_length", u32(c.kv_lora_rank + c.qk_rope_head_dim));
    arch("attention.value_length", u32(c.kv_lora_rank));
    arch("attention.key_length_mla", u32(c.qk_nope_head_dim + c.qk_rope_head_dim));
    arch("attention.value_length_mla", u32(c.v_head_dim));
  } else {
    arch("attention.key_length", u32(c.qk_nope_head_dim + c.qk_rope_head_dim));
    arch("attention.value_length", u32(c.v_head_dim));
  }
  arch("expert_feed_forward_length", u32(c.moe_intermediate_size));
  arch("expert_shared_count", u32(c.n_shared_experts));
  arch("expert_weights_scale", f32(c.routed_scaling_factor));
  // The current converter writes the flag only when true; the legacy one always wrote it.
  if (!mla || c.norm_topk_prob) arch("expert_weights_norm", Value::Bool(c.norm_topk_prob));
  arch("rope.dimension_count", u32(c.qk_rope_head_dim));
  // llama.cpp's convention: the key holds 0.1 * mscale_all_dim (spec §2.1, §3.4).
  if (c.yarn && c.mscale_all_dim) arch("rope.scaling.yarn_log_multiplier", f32(0.1 * *c.mscale_all_dim));
  if (o.mtp_layers > 0) arch("nextn_predict_layers", u32(o.mtp_layers));
  return kv;
}

}  // namespace mla::convert
