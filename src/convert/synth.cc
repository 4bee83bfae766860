#include "convert/synth.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <thread>

#include "base/fp16.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "convert/progress.h"
#include "convert/quant_mix.h"
#include "convert/size_label.h"
#include "gguf/gguf.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "tokenizer/unicode.h"

namespace mla::convert {

namespace {

using gguf::Value;
using gguf::ValueType;

// splitmix64: tiny, fast, and every seed gives a full-period independent-looking stream.
uint64_t Next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ull);
  return Next(&s);
}
uint64_t HashName(const std::string& name) {  // FNV-1a
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return h;
}
float Uniform(uint64_t* s) { return float(Next(s) >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
float Normal(uint64_t* s) {  // Box-Muller
  const float u1 = std::max(Uniform(s), 1e-7f), u2 = Uniform(s);
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
}

void RandomBytes(uint8_t* p, size_t n, uint64_t* s) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = Next(s);
    std::memcpy(p + i, &v, 8);
  }
  if (i < n) {
    const uint64_t v = Next(s);
    std::memcpy(p + i, &v, n - i);
  }
}

// Sets the f16 scale fields of every block of an array of `Block`s whose bytes are already random.
template <typename Block, typename F>
void SetScales(void* dst, int64_t n_blocks, F set) {
  Block* b = static_cast<Block*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i) set(b[i]);
}

// What a synthetic tensor holds.
enum class Kind { kMatrix, kNorm, kRouter, kZero };

struct SynthTensor {
  std::string name;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  Kind kind = Kind::kMatrix;
  DType type = DType::F32;
  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  uint64_t nbytes() const { return RowBytes(type, ne[0]) * uint64_t(nrows()); }
};

// The tensors of a file in writing order (spec §2.3, §2.4). `layout` decides the attention pair.
std::vector<SynthTensor> TensorList(const HfConfig& c, Layout layout) {
  std::vector<SynthTensor> out;
  auto add = [&](std::string name, Kind kind, std::initializer_list<int64_t> ne) {
    SynthTensor t;
    t.name = std::move(name);
    t.kind = kind;
    t.n_dims = int(ne.size());
    int k = 0;
    for (int64_t v : ne) t.ne[k++] = v;
    t.type = DType::F32;
    out.push_back(std::move(t));
  };
  const int64_t D = c.hidden_size, H = c.num_attention_heads, r_kv = c.kv_lora_rank;
  const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim;
  const int64_t d_qk = d_n + d_r, E = c.n_routed_experts, F_e = c.moe_intermediate_size;
  add("token_embd.weight", Kind::kMatrix, {D, c.vocab_size});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", Kind::kNorm, {D});
    if (c.q_lora_rank > 0) {
      add(b + "attn_q_a.weight", Kind::kMatrix, {D, c.q_lora_rank});
      add(b + "attn_q_a_norm.weight", Kind::kNorm, {c.q_lora_rank});
      add(b + "attn_q_b.weight", Kind::kMatrix, {c.q_lora_rank, H * d_qk});
    } else {
      add(b + "attn_q.weight", Kind::kMatrix, {D, H * d_qk});
    }
    add(b + "attn_kv_a_mqa.weight", Kind::kMatrix, {D, r_kv + d_r});
    add(b + "attn_kv_a_norm.weight", Kind::kNorm, {r_kv});
    if (layout != Layout::kMla) add(b + "attn_kv_b.weight", Kind::kMatrix, {r_kv, H * (d_n + d_v)});
    if (layout == Layout::kMla) {
      add(b + "attn_k_b.weight", Kind::kMatrix, {d_n, r_kv, H});
      add(b + "attn_v_b.weight", Kind::kMatrix, {r_kv, d_v, H});
    } else if (layout == Layout::kSplit2D) {
      add(b + "attn_k_b.weight", Kind::kMatrix, {d_n, H * r_kv});
      add(b + "attn_v_b.weight", Kind::kMatrix, {r_kv, H * d_v});
    }
    add(b + "attn_output.weight", Kind::kMatrix, {H * d_v, D});
    add(b + "ffn_norm.weight", Kind::kNorm, {D});
    if (i < c.first_k_dense_replace) {
      add(b + "ffn_gate.weight", Kind::kMatrix, {D, c.intermediate_size});
      add(b + "ffn_up.weight", Kind::kMatrix, {D, c.intermediate_size});
      add(b + "ffn_down.weight", Kind::kMatrix, {c.intermediate_size, D});
    } else {
      add(b + "ffn_gate_inp.weight", Kind::kRouter, {D, E});
      if (c.sigmoid_gating) add(b + "exp_probs_b.bias", Kind::kZero, {E});
      add(b + "ffn_gate_exps.weight", Kind::kMatrix, {D, F_e, E});
      add(b + "ffn_up_exps.weight", Kind::kMatrix, {D, F_e, E});
      add(b + "ffn_down_exps.weight", Kind::kMatrix, {F_e, D, E});
      const int64_t F_s = F_e * c.n_shared_experts;
      if (F_s > 0) {
        add(b + "ffn_gate_shexp.weight", Kind::kMatrix, {D, F_s});
        add(b + "ffn_up_shexp.weight", Kind::kMatrix, {D, F_s});
        add(b + "ffn_down_shexp.weight", Kind::kMatrix, {F_s, D});
      }
    }
  }
  add("output_norm.weight", Kind::kNorm, {D});
  add("output.weight", Kind::kMatrix, {D, c.vocab_size});
  return out;
}

// Chooses every tensor's type with the quantization-mix rules (pure: one type for all matrices).
Status AssignTypes(const HfConfig& c, Layout layout, const MixOptions& mix,
                   std::vector<SynthTensor>* tensors) {
  MixModel model;
  model.n_layer = c.num_hidden_layers;
  model.n_expert = c.n_routed_experts;
  model.n_head = c.num_attention_heads;
  model.n_head_kv = layout == Layout::kMla ? 1 : c.num_key_value_heads;
  std::vector<TensorDesc> descs;
  for (const SynthTensor& t : *tensors) {
    TensorDesc d;
    d.name = t.name;
    d.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, d.ne);
    d.type = DType::F32;  // kept types (norms, routers) stay f32
    descs.push_back(d);
  }
  MLA_ASSIGN_OR_RETURN(MixPlanner planner, MixPlanner::Create(mix, model, descs));
  for (size_t i = 0; i < tensors->size(); ++i) {
    MLA_ASSIGN_OR_RETURN(TypeChoice choice, planner.Choose(descs[i]));
    (*tensors)[i].type = choice.type;
  }
  return Status::Ok();
}

// Deterministic content: each row has its own stream, seeded from (seed, tensor name, row), so
// any row range can be produced by any thread and the file never depends on the thread count.
class Content {
 public:
  Content(uint64_t seed, float d) : seed_(seed), d_(d) {}

  Status Rows(const SynthTensor& t, int64_t row0, int64_t n, uint8_t* dst) const {
    const size_t rb = RowBytes(t.type, t.ne[0]);
    const uint64_t base = Mix(seed_, HashName(t.name));
    for (int64_t r = 0; r < n; ++r) {
      uint64_t s = Mix(base, uint64_t(row0 + r));
      uint8_t* row = dst + size_t(r) * rb;
      if (t.kind == Kind::kMatrix) {
        MLA_RETURN_IF_ERROR(FillRandomBlocks(t.type, row, t.ne[0], d_, &s));
        continue;
      }
      // Norms, routers and biases are f32 (spec §9: never quantized).
      if (t.type != DType::F32) return Errorf("tensor '%s': expected f32", t.name.c_str());
      float* f = reinterpret_cast<float*>(row);
      for (int64_t j = 0; j < t.ne[0]; ++j)
        f[j] = t.kind == Kind::kNorm ? 1.0f : t.kind == Kind::kRouter ? 0.02f * Normal(&s) : 0.0f;
    }
    return Status::Ok();
  }

 private:
  uint64_t seed_;
  float d_;
};

// attn_kv_b of one layer made from that layer's attn_k_b / attn_v_b (spec §2.5 read backwards):
// row h·P + j is k_b[j, :, h] for j < d_n (re-quantized: the transpose changes the blocks) and
// v_b row (j − d_n, h) for j >= d_n (the same bytes when the types agree).
Status KvBFromPair(const HfConfig& c, const SynthTensor& kvb, const SynthTensor& kb,
                   const SynthTensor& vb, const Content& content, ThreadPool& pool,
                   std::vector<uint8_t>* out) {
  const int64_t H = c.num_attention_heads, r_kv = c.kv_lora_rank, d_n = c.qk_nope_head_dim,
                d_v = c.v_head_dim, P = d_n + d_v;
  const size_t out_rb = RowBytes(kvb.type, r_kv), kb_rb = RowBytes(kb.type, d_n),
               vb_rb = RowBytes(vb.type, r_kv);
  out->resize(kvb.nbytes());
  std::vector<Status> status(size_t(pool.size()));
  pool.Run(H, [&](int64_t h, int thread) {
    if (!status[size_t(thread)].ok()) return;
    std::vector<uint8_t> kraw(size_t(r_kv) * kb_rb), vraw(size_t(d_v) * vb_rb);
    std::vector<float> k(static_cast<size_t>(r_kv * d_n)), kt(k.size()), row(static_cast<size_t>(r_kv));
    Status s = content.Rows(kb, h * r_kv, r_kv, kraw.data());
    if (s.ok()) s = content.Rows(vb, h * d_v, d_v, vraw.data());
    if (!s.ok()) {
      status[size_t(thread)] = s;
      return;
    }
    for (int64_t cc = 0; cc < r_kv; ++cc)
      quant::DequantizeRow(kb.type, kraw.data() + size_t(cc) * kb_rb, k.data() + cc * d_n, d_n);
    for (int64_t cc = 0; cc < r_kv; ++cc)
      for (int64_t d = 0; d < d_n; ++d) kt[size_t(d * r_kv + cc)] = k[size_t(cc * d_n + d)];
    uint8_t* dst = out->data() + size_t(h * P) * out_rb;
    for (int64_t d = 0; d < d_n; ++d)
      quant::QuantizeRow(kvb.type, kt.data() + d * r_kv, dst + size_t(d) * out_rb, r_kv);
    for (int64_t j = 0; j < d_v; ++j) {
      uint8_t* o = dst + size_t(d_n + j) * out_rb;
      const uint8_t* v = vraw.data() + size_t(j) * vb_rb;
      if (vb.type == kvb.type) {
        std::memcpy(o, v, out_rb);
      } else {
        quant::DequantizeRow(vb.type, v, row.data(), r_kv);
        quant::QuantizeRow(kvb.type, row.data(), o, r_kv);
      }
    }
  });
  for (const Status& s : status) MLA_RETURN_IF_ERROR(s);
  return Status::Ok();
}

// A byte-level BPE vocabulary that llama.cpp-style loaders accept (spec §2.2): the 256 byte
// tokens, merges "Ġ x" and "x y" over lowercase letters while ids last, BOS/EOS (and V3's PAD) at
// the shape's ids, every other id an UNUSED "[PAD<id>]".
Result<std::vector<std::pair<std::string, Value>>> BuiltinVocab(const HfConfig& c, bool v3) {
  const int64_t V = c.vocab_size;
  int64_t bos = c.bos_token_id, eos = c.eos_token_id, pad = v3 ? 2 : -1;
  if (bos >= V || eos >= V) bos = V - 2, eos = V - 1;
  if (V < 256 + 3) return Errorf("vocabulary size %lld: expected at least 259", (long long)V);
  std::vector<std::string> tokens(static_cast<size_t>(V));
  std::vector<int64_t> types(size_t(V), 5);  // UNUSED
  std::vector<bool> used(size_t(V), false);
  auto put = [&](int64_t id, std::string text, int type) {
    tokens[size_t(id)] = std::move(text);
    types[size_t(id)] = type;
    used[size_t(id)] = true;
  };
  put(bos, "<｜begin▁of▁sentence｜>", 3);
  put(eos, "<｜end▁of▁sentence｜>", 3);
  if (pad >= 0) put(pad, "<｜▁pad▁｜>", 3);
  int64_t next = 0;
  auto free_id = [&]() -> int64_t {
    while (next < V && used[size_t(next)]) ++next;
    return next < V ? next : -1;
  };
  auto byte_token = [](uint8_t b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToCodepoint(b), &s);
    return s;
  };
  for (int b = 0; b < 256; ++b) put(free_id(), byte_token(uint8_t(b)), 1);
  std::vector<std::string> merges;
  std::vector<std::pair<std::string, std::string>> pairs;
  for (char x = 'a'; x <= 'z'; ++x) pairs.emplace_back(byte_token(' '), std::string(1, x));
  for (char x = 'a'; x <= 'z'; ++x)
    for (char y = 'a'; y <= 'z'; ++y) pairs.emplace_back(std::string(1, x), std::string(1, y));
  for (const auto& [l, r] : pairs) {
    const int64_t id = free_id();
    if (id < 0) break;
    put(id, l + r, 1);
    merges.push_back(l + " " + r);
  }
  for (int64_t id = 0; id < V; ++id)
    if (!used[size_t(id)]) tokens[size_t(id)] = "[PAD" + std::to_string(id) + "]";
  std::vector<std::pair<std::string, Value>> kv;
  kv.emplace_back("tokenizer.ggml.model", Value::String("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", Value::String(v3 ? "deepseek-v3" : "deepseek-llm"));
  kv.emplace_back("tokenizer.ggml.tokens", Value::StringArray(std::move(tokens)));
  kv.emplace_back("tokenizer.ggml.token_type", Value::IntArray(ValueType::I32, std::move(types)));
  kv.emplace_back("tokenizer.ggml.merges", Value::StringArray(std::move(merges)));
  kv.emplace_back("tokenizer.ggml.bos_token_id", Value::U32(uint32_t(bos)));
  kv.emplace_back("tokenizer.ggml.eos_token_id", Value::U32(uint32_t(eos)));
  kv.emplace_back("tokenizer.ggml.padding_token_id", Value::U32(uint32_t(pad >= 0 ? pad : eos)));
  kv.emplace_back("tokenizer.ggml.add_bos_token", Value::Bool(true));
  kv.emplace_back("tokenizer.ggml.add_eos_token", Value::Bool(false));
  return kv;
}

Result<std::vector<std::pair<std::string, Value>>> CopiedVocab(const std::string& path, int64_t V) {
  MLA_ASSIGN_OR_RETURN(auto file, gguf::File::Open(path));
  MLA_ASSIGN_OR_RETURN(const auto* tokens, file->GetStringArray("tokenizer.ggml.tokens"));
  if (int64_t(tokens->size()) != V)
    return Errorf("vocabulary '%s': expected %lld tokens (the model's vocab_size), found %zu",
                  path.c_str(), (long long)V, tokens->size());
  std::vector<std::pair<std::string, Value>> kv;
  for (const auto& [k, v] : file->metadata())
    if (k.rfind("tokenizer.", 0) == 0) kv.emplace_back(k, v);
  return kv;
}

// The file type a pure single-type file reports (general.file_type).
FileType PureFileType(DType type) {
  const std::string name = Name(type);
  std::string upper;
  for (char ch : name) upper += char(std::toupper(static_cast<unsigned char>(ch)));
  const FileType* first = nullptr;
  for (const FileType& f : FileTypes()) {
    if (f.default_type != type) continue;
    if (upper == f.name || upper + "_M" == f.name) return FileType{f.name, f.id, type};
    if (!first) first = &f;
  }
  return first ? FileType{first->name, first->id, type} : FileType{Name(type), 0, type};
}

}  // namespace

const char* SynthShapeNames() { return "v2-lite|v2|v3"; }

Result<HfConfig> SynthShapeConfig(const std::string& shape) {
  // spec §1.2, column by column.
  HfConfig c;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 163840;
  c.yarn = true;
  c.yarn_factor = 40.0;
  c.yarn_original_context = 4096;
  c.yarn_beta_fast = 32.0;
  c.yarn_beta_slow = 1.0;
  if (shape == "v2-lite" || shape == "v2") {
    const bool lite = shape == "v2-lite";
    c.architecture = "DeepseekV2ForCausalLM";
    c.model_type = "deepseek_v2";
    c.vocab_size = 102400;
    c.hidden_size = lite ? 2048 : 5120;
    c.num_hidden_layers = lite ? 27 : 60;
    c.num_attention_heads = lite ? 16 : 128;
    c.q_lora_rank = lite ? 0 : 1536;
    c.n_routed_experts = lite ? 64 : 160;
    c.num_experts_per_tok = 6;
    c.n_shared_experts = 2;
    c.moe_intermediate_size = lite ? 1408 : 1536;
    c.intermediate_size = lite ? 10944 : 12288;
    c.first_k_dense_replace = 1;
    c.n_group = lite ? 1 : 8;
    c.topk_group = lite ? 1 : 3;
    c.norm_topk_prob = false;
    c.routed_scaling_factor = lite ? 1.0 : 16.0;
    c.sigmoid_gating = false;
    c.mscale_all_dim = 0.707;
    c.bos_token_id = 100000;
    c.eos_token_id = 100001;
  } else if (shape == "v3") {
    c.architecture = "DeepseekV3ForCausalLM";
    c.model_type = "deepseek_v3";
    c.vocab_size = 129280;
    c.hidden_size = 7168;
    c.num_hidden_layers = 61;
    c.num_attention_heads = 128;
    c.q_lora_rank = 1536;
    c.n_routed_experts = 256;
    c.num_experts_per_tok = 8;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 2048;
    c.intermediate_size = 18432;
    c.first_k_dense_replace = 3;
    c.n_group = 8;
    c.topk_group = 4;
    c.norm_topk_prob = true;
    c.routed_scaling_factor = 2.5;
    c.sigmoid_gating = true;
    c.mscale_all_dim = 1.0;
    c.bos_token_id = 0;
    c.eos_token_id = 1;
  } else {
    return Errorf("unknown shape '%s' (expected one of %s)", shape.c_str(), SynthShapeNames());
  }
  c.num_key_value_heads = c.num_attention_heads;
  return c;
}

Status FillRandomBlocks(DType type, void* dst, int64_t n, float d, uint64_t* state) {
  using namespace quant;
  const DTypeInfo& info = Info(type);
  if (n % info.block_elems != 0)
    return Errorf("%lld elements: expected a multiple of the %s block size %lld", (long long)n,
                  info.name, (long long)info.block_elems);
  if (!std::isfinite(d) || std::fabs(d) > 65504.0f)
    return Errorf("block scale %g: expected a finite f16 value", double(d));
  const int64_t nb = n / info.block_elems;
  const uint16_t hd = F32ToF16(d);
  switch (type) {
    case DType::F32: {
      float* f = static_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) f[i] = d * (16.0f * Uniform(state) - 8.0f);
      return Status::Ok();
    }
    case DType::F16:
    case DType::BF16: {
      uint16_t* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        const float v = d * (16.0f * Uniform(state) - 8.0f);
        h[i] = type == DType::F16 ? F32ToF16(v) : uint16_t(F32Bits(v) >> 16);  // truncation: exact for finite
      }
      return Status::Ok();
    }
    case DType::Q8_1:
    case DType::Q8_K:
      return Errorf("%s is an activation format, not a weight type", info.name);
    default: break;
  }
  RandomBytes(static_cast<uint8_t*>(dst), size_t(nb) * info.block_bytes, state);
  switch (type) {
    case DType::Q4_0: SetScales<BlockQ4_0>(dst, nb, [&](BlockQ4_0& b) { b.d = hd; }); break;
    case DType::Q4_1:  // min -8d: values centred on zero like Q4_0's
      SetScales<BlockQ4_1>(dst, nb, [&](BlockQ4_1& b) { b.d = hd, b.m = F32ToF16(-8 * d); }); break;
    case DType::Q5_0: SetScales<BlockQ5_0>(dst, nb, [&](BlockQ5_0& b) { b.d = hd; }); break;
    case DType::Q5_1:
      SetScales<BlockQ5_1>(dst, nb, [&](BlockQ5_1& b) { b.d = hd, b.m = F32ToF16(-16 * d); }); break;
    case DType::Q8_0: SetScales<BlockQ8_0>(dst, nb, [&](BlockQ8_0& b) { b.d = hd; }); break;
    case DType::Q2_K: SetScales<BlockQ2_K>(dst, nb, [&](BlockQ2_K& b) { b.d = hd, b.dmin = hd; }); break;
    case DType::Q3_K: SetScales<BlockQ3_K>(dst, nb, [&](BlockQ3_K& b) { b.d = hd; }); break;
    case DType::Q4_K: SetScales<BlockQ4_K>(dst, nb, [&](BlockQ4_K& b) { b.d = hd, b.dmin = hd; }); break;
    case DType::Q5_K: SetScales<BlockQ5_K>(dst, nb, [&](BlockQ5_K& b) { b.d = hd, b.dmin = hd; }); break;
    case DType::Q6_K: SetScales<BlockQ6_K>(dst, nb, [&](BlockQ6_K& b) { b.d = hd; }); break;
    case DType::IQ4_NL: SetScales<BlockIQ4_NL>(dst, nb, [&](BlockIQ4_NL& b) { b.d = hd; }); break;
    case DType::IQ4_XS: SetScales<BlockIQ4_XS>(dst, nb, [&](BlockIQ4_XS& b) { b.d = hd; }); break;
    default: return Errorf("type %s: no random-weight generator", info.name);
  }
  return Status::Ok();
}

namespace {

struct Plan {
  HfConfig cfg;
  MixOptions mix;
  std::vector<SynthTensor> mla;      // the model as MLA-layout tensors
  std::vector<SynthTensor> tensors;  // what the file holds, in writing order
  const SynthTensor* FindMla(const std::string& name) const {
    for (const SynthTensor& t : mla)
      if (t.name == name) return &t;
    return nullptr;
  }
};

Result<Plan> MakePlan(const SynthOptions& o) {
  Plan plan;
  HfConfig& cfg = plan.cfg;
  MixOptions& mix = plan.mix;
  MLA_ASSIGN_OR_RETURN(cfg, SynthShapeConfig(o.shape));
  if (o.layers < 0) return Errorf("--layers %lld: expected >= 1", (long long)o.layers);
  if (o.layers > 0) {
    cfg.num_hidden_layers = o.layers;
    cfg.first_k_dense_replace = std::min(cfg.first_k_dense_replace, o.layers);
  }
  if (o.vocab < 0) return Errorf("--vocab %lld: expected >= 259", (long long)o.vocab);
  if (o.vocab > 0) cfg.vocab_size = o.vocab;
  if (o.experts < 0 || (o.experts > 0 && o.experts < cfg.num_experts_per_tok))
    return Errorf("--experts %lld: expected >= %lld (the experts used per token)", (long long)o.experts,
                  (long long)cfg.num_experts_per_tok);
  if (o.experts > 0) cfg.n_routed_experts = o.experts;
  if (cfg.n_group && *cfg.n_group > 1 && cfg.n_routed_experts % *cfg.n_group != 0)
    return Errorf("--experts %lld: expected a multiple of the %lld expert groups",
                  (long long)cfg.n_routed_experts, (long long)*cfg.n_group);
  if (o.vocab_from.empty() && cfg.vocab_size < 259)
    return Errorf("--vocab %lld: expected >= 259 (256 byte tokens, BOS, EOS, PAD)",
                  (long long)cfg.vocab_size);

  // Types: a ggml type name means one type for every matrix; a file type with --mix its rules.
  if (o.mix) {
    MLA_ASSIGN_OR_RETURN(mix.ftype, ParseFileType(o.type));
  } else {
    const auto t = DTypeFromName(o.type);
    if (!t || *t == DType::Q8_1 || *t == DType::Q8_K)
      return Errorf("--type '%s': expected a weight type (q4_0, q8_0, q4_K, iq4_xs, bf16, ...)",
                    o.type.c_str());
    mix.ftype = PureFileType(*t);
    mix.pure = true;
  }
  // The model is the MLA tensor set; the other layouts add attn_kv_b built from its k_b / v_b, so
  // all three files hold the same weights (and split2d's 2-D pair has the MLA pair's bytes).
  plan.mla = TensorList(cfg, Layout::kMla);
  MLA_RETURN_IF_ERROR(AssignTypes(cfg, Layout::kMla, mix, &plan.mla));
  plan.tensors = plan.mla;
  if (o.layout != Layout::kMla) {
    plan.tensors = TensorList(cfg, o.layout);
    MLA_RETURN_IF_ERROR(AssignTypes(cfg, o.layout, mix, &plan.tensors));
  }
  for (SynthTensor& t : plan.tensors)  // split2d's 2-D pair: the MLA pair's types (same bytes)
    if (const SynthTensor* m = plan.FindMla(t.name); m && o.layout == Layout::kSplit2D) t.type = m->type;
  return plan;
}

}  // namespace

Result<std::vector<gguf::TensorInfo>> PlanSyntheticModel(const SynthOptions& o, HfConfig* config) {
  MLA_ASSIGN_OR_RETURN(const Plan plan, MakePlan(o));
  std::vector<gguf::TensorInfo> out;
  uint64_t offset = 0;
  for (const SynthTensor& t : plan.tensors) {
    gguf::TensorInfo info;
    info.name = t.name;
    info.type = t.type;
    info.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, info.ne);
    info.nbytes = t.nbytes();
    info.offset = offset;
    offset += (t.nbytes() + 31) / 32 * 32;
    out.push_back(std::move(info));
  }
  if (config) *config = plan.cfg;
  return out;
}

Result<SynthReport> WriteSyntheticModel(const SynthOptions& o) {
  if (o.output_path.empty()) return Errorf("no output path given");
  MLA_ASSIGN_OR_RETURN(const Plan plan, MakePlan(o));
  const HfConfig& cfg = plan.cfg;
  const MixOptions& mix = plan.mix;
  const std::vector<SynthTensor>& tensors = plan.tensors;

  // Metadata: the converter's keys for this config, then the vocabulary.
  ModelKeyOptions mk;
  mk.layout = o.layout;
  mk.name = "DeepSeek-" + std::string(o.shape == "v2-lite" ? "V2-Lite" : o.shape == "v2" ? "V2" : "V3") +
            " synthetic (random weights, seed " + std::to_string(o.seed) + ")";
  mk.file_type = mix.ftype.id;
  auto kv = ModelKeys(cfg, mk);
  std::vector<std::pair<std::string, Value>> vocab;
  if (o.vocab_from.empty()) {
    MLA_ASSIGN_OR_RETURN(vocab, BuiltinVocab(cfg, o.shape == "v3"));
  } else {
    MLA_ASSIGN_OR_RETURN(vocab, CopiedVocab(o.vocab_from, cfg.vocab_size));
  }
  kv.insert(kv.end(), vocab.begin(), vocab.end());
  kv.emplace_back("general.quantization_version", Value::U32(2));
  std::vector<ShapeEntry> shapes;
  for (const SynthTensor& t : tensors) {
    ShapeEntry s;
    s.name = t.name;
    s.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, s.ne);
    shapes.push_back(s);
  }
  kv.emplace_back("general.size_label", Value::String(SizeLabel(shapes)));

  MLA_ASSIGN_OR_RETURN(auto writer, gguf::Writer::Create(o.output_path));
  for (auto& [k, v] : kv) writer->Set(k, std::move(v));
  SynthReport report;
  report.config = cfg;
  report.file_type = mix.ftype.name;
  for (const SynthTensor& t : tensors) {
    MLA_RETURN_IF_ERROR(writer->AddTensor(t.name, t.type, t.n_dims, t.ne));
    report.bytes_written += t.nbytes();
    report.n_params += t.ne[0] * t.nrows();
  }
  report.n_tensors = int64_t(tensors.size());
  Log(LogLevel::kInfo, "%s: %s shape, %lld layers, %zu tensors, layout %s, type %s, %s of tensor data",
      o.output_path.c_str(), o.shape.c_str(), (long long)cfg.num_hidden_layers, tensors.size(),
      LayoutName(o.layout), mix.ftype.name, Progress::Bytes(double(report.bytes_written)).c_str());

  const int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  const Content content(o.seed, o.block_scale);
  Progress progress("synthesizing", report.bytes_written, o.progress);
  std::vector<uint8_t> buffer;
  constexpr uint64_t kBatchBytes = 32ull << 20;  // what is held in memory at once
  for (const SynthTensor& t : tensors) {
    if (t.name.size() > 19 && t.name.compare(t.name.size() - 16, 16, "attn_kv_b.weight") == 0) {
      const std::string b = t.name.substr(0, t.name.size() - 16);
      const SynthTensor* kb = plan.FindMla(b + "attn_k_b.weight");
      const SynthTensor* vb = plan.FindMla(b + "attn_v_b.weight");
      if (!kb || !vb) return Errorf("%s: no attention pair to build it from", t.name.c_str());
      MLA_RETURN_IF_ERROR(KvBFromPair(cfg, t, *kb, *vb, content, pool, &buffer));
      MLA_RETURN_IF_ERROR(writer->WriteTensor(t.name, buffer.data(), buffer.size()));
      progress.Add(buffer.size(), t.name);
      continue;
    }
    const size_t rb = RowBytes(t.type, t.ne[0]);
    const int64_t batch_rows = std::max<int64_t>(1, int64_t(kBatchBytes / rb));
    for (int64_t row0 = 0; row0 < t.nrows(); row0 += batch_rows) {
      const int64_t n = std::min(batch_rows, t.nrows() - row0);
      buffer.resize(size_t(n) * rb);
      const int64_t tasks = std::min<int64_t>(n, 4 * pool.size());
      std::vector<Status> status(static_cast<size_t>(tasks));
      pool.Run(tasks, [&](int64_t task, int) {
        const int64_t a = n * task / tasks, e = n * (task + 1) / tasks;
        status[size_t(task)] = content.Rows(t, row0 + a, e - a, buffer.data() + size_t(a) * rb);
      });
      for (const Status& s : status) MLA_RETURN_IF_ERROR(s.Wrap(t.name));
      MLA_RETURN_IF_ERROR(writer->WriteTensorPart(t.name, buffer.data(), buffer.size()));
      progress.Add(buffer.size(), t.name);
    }
  }
  MLA_RETURN_IF_ERROR(writer->Finish());
  progress.Finish();
  report.outputs = writer->outputs();
  return report;
}

}  // namespace mla::convert
