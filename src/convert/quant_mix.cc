#include "convert/quant_mix.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>

namespace mla::convert {

namespace {

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

// Tensor roles the mix rules look at (by name, as llama.cpp does).
enum class Role { kOutput, kTokenEmbd, kAttnV, kAttnK, kAttnQ, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

Role RoleOf(const std::string& name) {
  if (name == "output.weight") return Role::kOutput;
  if (name == "token_embd.weight") return Role::kTokenEmbd;
  // attn_kv_b is the "value-like" tensor of MLA's legacy layout (llama.cpp counts it with attn_v).
  if (Contains(name, "attn_qkv.weight") || Contains(name, "attn_kv_b.weight") || Contains(name, "attn_v.weight"))
    return Role::kAttnV;
  if (Contains(name, "attn_k.weight")) return Role::kAttnK;
  if (Contains(name, "attn_q.weight")) return Role::kAttnQ;
  if (Contains(name, "attn_output.weight")) return Role::kAttnOutput;
  if (Contains(name, "ffn_up")) return Role::kFfnUp;
  if (Contains(name, "ffn_gate")) return Role::kFfnGate;
  if (Contains(name, "ffn_down")) return Role::kFfnDown;
  return Role::kOther;
}

// llama.cpp's layer pattern for "more bits": the first and last eighth, and every third layer
// in between.
bool UseMoreBits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// "blk.N." -> N, or -1.
int64_t BlockIndex(const std::string& name) {
  if (name.compare(0, 4, "blk.") != 0) return -1;
  int64_t v = 0;
  size_t p = 4;
  while (p < name.size() && std::isdigit(static_cast<unsigned char>(name[p])) && p < 14) v = v * 10 + (name[p++] - '0');
  if (p == 4 || p >= name.size() || name[p] != '.') return -1;
  return v;
}

}  // namespace

const std::vector<FileType>& FileTypes() {
  static const std::vector<FileType> types = {
      {"F32", 0, DType::F32},       {"F16", 1, DType::F16},       {"Q4_0", 2, DType::Q4_0},
      {"Q4_1", 3, DType::Q4_1},     {"Q8_0", 7, DType::Q8_0},     {"Q5_0", 8, DType::Q5_0},
      {"Q5_1", 9, DType::Q5_1},     {"Q2_K", 10, DType::Q2_K},    {"Q3_K_S", 11, DType::Q3_K},
      {"Q3_K_M", 12, DType::Q3_K},  {"Q3_K_L", 13, DType::Q3_K},  {"Q4_K_S", 14, DType::Q4_K},
      {"Q4_K_M", 15, DType::Q4_K},  {"Q5_K_S", 16, DType::Q5_K},  {"Q5_K_M", 17, DType::Q5_K},
      {"Q6_K", 18, DType::Q6_K},    {"IQ4_NL", 25, DType::IQ4_NL}, {"IQ4_XS", 30, DType::IQ4_XS},
      {"BF16", 32, DType::BF16},
  };
  return types;
}

Result<FileType> ParseFileType(std::string_view name) {
  std::string n = Upper(name);
  if (n == "Q3_K" || n == "Q4_K" || n == "Q5_K") n += "_M";
  for (const FileType& f : FileTypes())
    if (n == f.name) return f;
  std::string known;
  for (const FileType& f : FileTypes()) known += (known.empty() ? "" : ", ") + std::string(f.name);
  return Errorf("unknown type '%.*s' (expected one of %s)", int(name.size()), name.data(), known.c_str());
}

bool IsBlockQuantized(DType type) { return Info(type).block_elems > 1; }

bool AllowsQuantization(const std::string& name, int n_dims) {
  if (n_dims < 2) return false;
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
  if (Contains(name, "_norm.weight")) return false;
  if (Contains(name, "ffn_gate_inp.weight")) return false;  // routers (spec §2.3)
  return true;
}

Result<std::pair<std::string, DType>> ParseTensorTypeOverride(const std::string& spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    return Errorf("--tensor-type '%s': expected PATTERN=TYPE (e.g. attn_k_b=bf16)", spec.c_str());
  const std::string type_name = spec.substr(eq + 1);
  const auto type = DTypeFromName(type_name);
  if (!type || *type == DType::Q8_1 || *type == DType::Q8_K)
    return Errorf("--tensor-type '%s': '%s' is not a tensor type this engine writes", spec.c_str(),
                  type_name.c_str());
  return std::make_pair(spec.substr(0, eq), *type);
}

Result<MixPlanner> MixPlanner::Create(const MixOptions& options, const MixModel& model,
                                      const std::vector<TensorDesc>& all) {
  MixPlanner p;
  p.options_ = options;
  p.model_ = model;
  for (const auto& [pattern, type] : options.overrides) {
    try {
      p.patterns_.emplace_back(std::regex(pattern), type);
    } catch (const std::regex_error& e) {
      return Errorf("--tensor-type: '%s' is not a valid regular expression (%s)", pattern.c_str(), e.what());
    }
  }
  for (const TensorDesc& t : all) {
    const Role r = RoleOf(t.name);
    if (r == Role::kAttnV) ++p.n_attention_wv_;
    if (r == Role::kOutput) p.has_output_ = true;
  }
  return p;
}

DType MixPlanner::MixRule(const TensorDesc& t, DType type, Status* status) {
  const std::string f = options_.ftype.name;
  const auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (f == n) return true;
    return false;
  };
  const int64_t n_gqa = model_.n_head_kv > 0 ? model_.n_head / model_.n_head_kv : 1;
  const bool eight_experts = model_.n_expert == 8;
  // llama.cpp parses the layer from the name when there are experts (their tensors are not in
  // layer order); otherwise it counts.
  auto layer_of = [&](int64_t counter) -> int64_t {
    if (model_.n_expert <= 1) return counter;
    const int64_t i = BlockIndex(t.name);
    if (i < 0 || i >= model_.n_layer) {
      *status = Errorf("%s: cannot tell its block (expected blk.N. with N < block_count %" PRId64 ")",
                       t.name.c_str(), model_.n_layer);
      return 0;
    }
    return i;
  };

  const Role role = RoleOf(t.name);
  if (role == Role::kOutput || (role == Role::kTokenEmbd && !has_output_)) {
    if (options_.output_type) return *options_.output_type;
    if (t.ne[0] % Info(type).block_elems != 0) return DType::Q8_0;
    return type == DType::Q8_0 ? type : DType::Q6_K;
  }
  if (role == Role::kTokenEmbd) return options_.token_embd_type ? *options_.token_embd_type : type;
  switch (role) {
    case Role::kAttnV: {
      const int64_t i = i_attention_wv_++;
      if (f == "Q2_K") type = n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
      else if (f == "Q3_K_M") type = i < 2 ? DType::Q5_K : DType::Q4_K;
      else if (f == "Q3_K_L") type = DType::Q5_K;
      else if (is({"IQ4_NL", "IQ4_XS"}) && n_gqa >= 4) type = DType::Q5_K;
      else if (is({"Q4_K_M", "Q5_K_M"}) && UseMoreBits(i, n_attention_wv_)) type = DType::Q6_K;
      else if (f == "Q4_K_S" && i < 4) type = DType::Q5_K;
      // "for the 8-expert model, bumping this to Q8_0 trades just ~128MB" (llama.cpp)
      if (eight_experts) type = DType::Q8_0;
      return type;
    }
    case Role::kAttnK:
      return eight_experts ? DType::Q8_0 : type;
    case Role::kFfnDown: {
      const int64_t i = layer_of(i_ffn_down_++), n = model_.n_layer;
      if (f == "Q2_K") type = DType::Q3_K;
      else if (f == "Q3_K_M") type = i < n / 16 ? DType::Q5_K : DType::Q4_K;
      else if (f == "Q3_K_L") type = DType::Q5_K;
      else if (f == "Q4_K_M") { if (UseMoreBits(i, n)) type = DType::Q6_K; }
      else if (i < n / 8 && is({"IQ4_NL", "IQ4_XS"})) type = DType::Q5_K;
      else if (f == "Q5_K_M" && UseMoreBits(i, n)) type = DType::Q6_K;
      else if (f == "Q4_K_S" && i < n / 8) type = DType::Q5_K;
      return type;
    }
    case Role::kAttnOutput:
      if (eight_experts) {
        if (is({"Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"})) type = DType::Q5_K;
      } else {
        if (f == "Q2_K") type = DType::Q3_K;
        else if (f == "Q3_K_M") type = DType::Q4_K;
        else if (f == "Q3_K_L") type = DType::Q5_K;
      }
      return type;
    default:
      return type;
  }
}

Result<TypeChoice> MixPlanner::Choose(const TensorDesc& t) {
  TypeChoice c;
  if (!AllowsQuantization(t.name, t.n_dims)) {
    c.type = t.type;
    c.reason = "kept";
    return c;
  }
  DType type = options_.ftype.default_type;
  c.reason = "default";
  bool manual = false;
  for (const auto& [re, ty] : patterns_) {
    if (std::regex_search(t.name, re)) {
      type = ty;
      manual = true;
      c.reason = "override";
      break;
    }
  }
  if (!manual && !options_.pure && IsBlockQuantized(options_.ftype.default_type)) {
    Status st;
    const DType mixed = MixRule(t, type, &st);
    MLA_RETURN_IF_ERROR(st);
    if (mixed != type) c.reason = "mix";
    type = mixed;
  } else if (!manual && t.name == "output.weight" && options_.output_type) {
    type = *options_.output_type;
  } else if (!manual && t.name == "token_embd.weight" && options_.token_embd_type) {
    type = *options_.token_embd_type;
  }
  // Rule 4: rows must hold whole blocks.
  if (t.ne[0] % Info(type).block_elems != 0) {
    DType fb;
    switch (type) {
      case DType::Q2_K: case DType::Q3_K: fb = DType::Q4_0; break;
      case DType::Q4_K: fb = DType::Q5_0; break;
      case DType::Q5_K: fb = DType::Q5_1; break;
      case DType::Q6_K: fb = DType::Q8_0; break;
      case DType::IQ4_XS: fb = DType::IQ4_NL; break;
      default: fb = DType::F16; break;
    }
    if (t.ne[0] % Info(fb).block_elems != 0) fb = DType::F16;
    c.reason = std::string("fallback from ") + Name(type) + " (rows of " + std::to_string(t.ne[0]) + ")";
    c.fallback = true;
    type = fb;
  }
  c.type = type;
  return c;
}

void SortLikeLlamaQuantize(std::vector<std::string>* names) {
  std::stable_sort(names->begin(), names->end(), [](const std::string& a, const std::string& b) {
    const int64_t ba = BlockIndex(a), bb = BlockIndex(b);
    if (ba != bb) return ba < bb;
    return a < b;
  });
}

}  // namespace mla::convert
