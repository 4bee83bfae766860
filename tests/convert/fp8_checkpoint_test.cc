// Converting a DeepSeek-V3-style FP8 checkpoint (tests/golden/convert/ds3-tiny-fp8.hf, made by
// make_fp8.py: E4M3 weights with 128x128 block scales, BF16 embeddings, two shards + index).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "convert/convert.h"
#include "convert_testing.h"
#include "test_util.h"

namespace mla::test {
namespace {

const char* kCheckpoint = "tests/golden/convert/ds3-tiny-fp8.hf";

uint64_t Fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}

// GGUF location of an HF tensor in a --keep-mtp legacy conversion: name and element offset.
std::pair<std::string, int64_t> Locate(const std::string& hf, int64_t per_expert_elems) {
  if (hf == "lm_head.weight") return {"output.weight", 0};
  if (hf == "model.embed_tokens.weight") return {"token_embd.weight", 0};
  if (hf == "model.norm.weight") return {"output_norm.weight", 0};
  const size_t dot = hf.find('.', 13);
  const std::string layer = hf.substr(13, dot - 13), rest = hf.substr(dot + 1);
  const std::string blk = "blk." + layer + ".";
  static const std::map<std::string, std::string> names = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
      {"eh_proj.weight", "nextn.eh_proj.weight"},
      {"enorm.weight", "nextn.enorm.weight"},
      {"hnorm.weight", "nextn.hnorm.weight"},
      {"embed_tokens.weight", "nextn.embed_tokens.weight"},
      {"shared_head.head.weight", "nextn.shared_head_head.weight"},
      {"shared_head.norm.weight", "nextn.shared_head_norm.weight"},
  };
  if (rest.rfind("mlp.experts.", 0) == 0) {
    const size_t d2 = rest.find('.', 12);
    const int64_t e = std::stoll(rest.substr(12, d2 - 12));
    const std::string which = rest.substr(d2 + 1, rest.find('_', d2) - d2 - 1);
    return {blk + "ffn_" + which + "_exps.weight", e * per_expert_elems};
  }
  auto it = names.find(rest);
  return {it == names.end() ? "" : blk + it->second, 0};
}

TEST(Fp8Checkpoint, DequantizesExactlyAsTheGenerator) {
  const std::string dir = TempDir();
  convert::ConvertOptions o;
  o.input_dir = SourcePath(kCheckpoint);
  o.output_path = dir + "/legacy.gguf";
  o.layout = convert::Layout::kLegacy;
  o.outtype = "f32";
  o.keep_mtp = true;
  o.progress = false;
  auto r = convert::ConvertCheckpoint(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto f = OpenGguf(o.output_path);
  ASSERT_TRUE(f);
  std::istringstream tsv(ReadFile(SourcePath("tests/golden/convert/ds3-tiny-fp8.expected.tsv")));
  std::string line;
  int checked = 0;
  while (std::getline(tsv, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string hf, hash, samples;
    std::getline(fields, hf, '\t');
    std::getline(fields, hash, '\t');
    std::getline(fields, samples, '\t');
    const int64_t per_expert = 32 * 64;  // moe_intermediate x hidden
    auto [name, offset] = Locate(hf, per_expert);
    const gguf::TensorInfo* t = f->FindTensor(name);
    ASSERT_NE(t, nullptr) << hf << " -> " << name;
    ASSERT_EQ(t->type, DType::F32);
    const int64_t n = name.find("_exps.") != std::string::npos ? per_expert : t->nelements();
    const uint8_t* data = t->data + 4 * offset;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Fnv1a64(data, size_t(n) * 4)));
    EXPECT_EQ(std::string(buf), hash) << hf;
    std::istringstream ss(samples);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const int64_t idx = std::stoll(item.substr(0, item.find(':')));
      const uint32_t bits = uint32_t(std::stoul(item.substr(item.find(':') + 1), nullptr, 16));
      uint32_t got;
      std::memcpy(&got, data + 4 * idx, 4);
      EXPECT_EQ(got, bits) << hf << "[" << idx << "]";
    }
    ++checked;
  }
  EXPECT_EQ(checked, 135);
}

TEST(Fp8Checkpoint, DefaultOuttypeIsBf16AndMatchesAnF32Checkpoint) {
  const std::string dir = TempDir();
  convert::ConvertOptions o;
  o.input_dir = SourcePath(kCheckpoint);
  o.output_path = dir + "/auto.gguf";
  o.progress = false;
  auto r = convert::ConvertCheckpoint(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->file_type, "BF16");

  // The same weights decoded here (a table built from ldexp, independent of the converter) and
  // stored as an F32 checkpoint convert to the same MLA file as the FP8 checkpoint.
  const std::string f32dir = dir + "/f32.hf";
  CopyCheckpointText(SourcePath(kCheckpoint), f32dir);
  std::filesystem::remove(f32dir + "/model.safetensors.index.json");
  EditJson(f32dir + "/config.json", [](auto& j) { j.erase("quantization_config"); });
  float table[256];
  for (int b = 0; b < 256; ++b) {
    const int e = (b >> 3) & 15, m = b & 7;
    const float v = e == 0 ? std::ldexp(float(m), -9) : std::ldexp(float(8 + m), e - 10);
    table[b] = (b & 0x80) ? -v : v;
  }
  auto entries = ReadEntries(SourcePath(kCheckpoint));
  std::map<std::string, StEntry> by_name;
  for (auto& e : entries) by_name[e.name] = e;
  std::vector<StEntry> out;
  for (auto& e : entries) {
    if (e.name.size() > 10 && e.name.compare(e.name.size() - 10, 10, "_scale_inv") == 0) continue;
    if (e.dtype == "F8_E4M3") {
      const StEntry& s = by_name.at(e.name + "_scale_inv");
      ASSERT_EQ(s.shape, (std::vector<int64_t>{1, 1}));  // every tiny matrix is one partial block
      float scale;
      std::memcpy(&scale, s.bytes.data(), 4);
      std::vector<float> v(e.bytes.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = table[uint8_t(e.bytes[i])] * scale;
      out.push_back({e.name, "F32", e.shape, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4)});
    } else {
      out.push_back(e);
    }
  }
  WriteSafetensors(f32dir + "/model.safetensors", out);
  convert::ConvertOptions a = o, b = o;
  a.outtype = b.outtype = "f32";
  a.output_path = dir + "/fp8.f32.gguf";
  b.input_dir = f32dir;
  b.output_path = dir + "/ref.f32.gguf";
  a.name = b.name = "x";
  ASSERT_TRUE(convert::ConvertCheckpoint(a).ok());
  auto rb = convert::ConvertCheckpoint(b);
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  auto fa = OpenGguf(a.output_path), fb = OpenGguf(b.output_path);
  ASSERT_TRUE(fa && fb);
  // (the FP8 checkpoint is sharded, so its tensors come in another order)
  ExpectSameTensorsByName(*fa, *fb);
}

}  // namespace
}  // namespace mla::test
