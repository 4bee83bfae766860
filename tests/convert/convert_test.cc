// mla-convert on the fixture checkpoints: the MLA layout byte for byte equal to the fixture GGUFs,
// legacy/split2d equal up to the keys spec §6.1 adds, f16/bf16/quantized output, --keep-mtp, the
// streaming writer's splits, and clear refusals of bad checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "base/fp16.h"
#include "convert/convert.h"
#include "convert_testing.h"
#include "quant/quant.h"
#include "test_util.h"

namespace mla::test {
namespace {

using convert::ConvertCheckpoint;
using convert::ConvertOptions;
using convert::Layout;

ConvertOptions Options(const std::string& model, const std::string& out, Layout layout = Layout::kMla) {
  ConvertOptions o;
  o.input_dir = Fixture("models/" + model + ".hf");
  o.output_path = out;
  o.layout = layout;
  o.name = model;
  o.progress = false;
  o.threads = 2;
  return o;
}

std::string Convert(const ConvertOptions& o) {
  auto r = ConvertCheckpoint(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? o.output_path : "";
}

TEST(Convert, MlaLayoutIsByteIdenticalToTheFixtures) {
  const std::string dir = TempDir();
  for (const char* model : {"ds3-tiny", "ds2-lite-tiny"}) {
    const std::string out = Convert(Options(model, dir + "/" + model + ".gguf"));
    ASSERT_FALSE(out.empty());
    const std::string mine = ReadFile(out), ref = ReadFile(Fixture(std::string("models/") + model + ".mla.gguf"));
    EXPECT_EQ(mine.size(), ref.size()) << model;
    EXPECT_TRUE(mine == ref) << model << ": converted file differs from the fixture";
  }
}

TEST(Convert, LegacyAndSplit2dMatchTheFixturesPlusTheSpecKeys) {
  const std::string dir = TempDir();
  for (const char* model : {"ds3-tiny", "ds2-lite-tiny"}) {
    for (Layout layout : {Layout::kLegacy, Layout::kSplit2D}) {
      const std::string name = std::string(model) + "." + convert::LayoutName(layout);
      const std::string out = Convert(Options(model, dir + "/" + name + ".gguf", layout));
      auto mine = OpenGguf(out);
      auto ref = OpenGguf(Fixture("models/" + name + ".gguf"));
      ASSERT_TRUE(mine && ref);
      const MetaDiff d = DiffMetadata(*mine, *ref);
      // The old converters left out the group and YaRN beta keys; we write them (spec §6.1).
      EXPECT_EQ(d.only_a, (std::vector<std::string>{"deepseek2.rope.scaling.yarn_beta_fast",
                                                     "deepseek2.rope.scaling.yarn_beta_slow",
                                                     "deepseek2.expert_group_count",
                                                     "deepseek2.expert_group_used_count"}))
          << name;
      EXPECT_TRUE(d.only_b.empty()) << name;
      EXPECT_TRUE(d.differ.empty()) << name << ": " << (d.differ.empty() ? "" : d.differ[0]);
      EXPECT_TRUE(d.same_order) << name;
      ExpectSameTensors(*mine, *ref);
    }
  }
}

// The f16 / bf16 value nearest to x (ties: either neighbour is at the same distance).
bool IsNearest(float x, uint16_t bits, bool bf16) {
  auto dec = [&](uint16_t b) { return bf16 ? BF16ToF32(b) : F16ToF32(b); };
  const double y = dec(bits);
  const double err = std::fabs(double(x) - y);
  for (int step : {-1, 1}) {
    const uint16_t nb = uint16_t(bits + step);
    const float n = dec(nb);
    if (std::isfinite(n) && (std::signbit(n) == std::signbit(float(y)) || n == 0) && std::fabs(double(x) - n) < err)
      return false;
  }
  return true;
}

TEST(Convert, HalfPrecisionOutputs) {
  const std::string dir = TempDir();
  auto ref = OpenGguf(Fixture("models/ds3-tiny.mla.gguf"));
  ASSERT_TRUE(ref);
  for (const char* outtype : {"f16", "bf16"}) {
    auto o = Options("ds3-tiny", dir + "/" + outtype + ".gguf");
    o.outtype = outtype;
    auto f = OpenGguf(Convert(o));
    ASSERT_TRUE(f);
    const bool bf16 = std::string(outtype) == "bf16";
    EXPECT_EQ(*f->GetU64("general.file_type"), bf16 ? 32u : 1u);
    ASSERT_EQ(f->tensors().size(), ref->tensors().size());
    for (size_t i = 0; i < f->tensors().size(); ++i) {
      const auto& t = f->tensors()[i];
      const auto& r = ref->tensors()[i];
      const bool stays_f32 = t.n_dims == 1 || t.name.find("_norm.weight") != std::string::npos ||
                             t.name.find("ffn_gate_inp") != std::string::npos;
      ASSERT_EQ(t.type, stays_f32 ? DType::F32 : (bf16 ? DType::BF16 : DType::F16)) << t.name;
      if (stays_f32) {
        EXPECT_EQ(0, std::memcmp(t.data, r.data, r.nbytes)) << t.name;
        continue;
      }
      for (int64_t k = 0; k < t.nelements(); ++k) {
        float x;
        uint16_t h;
        std::memcpy(&x, r.data + 4 * k, 4);
        std::memcpy(&h, t.data + 2 * k, 2);
        ASSERT_TRUE(IsNearest(x, h, bf16)) << t.name << "[" << k << "] = " << x;
      }
    }
  }
}

TEST(Convert, QuantizedOuttypeUsesTheMixRules) {
  const std::string dir = TempDir();
  auto o = Options("ds3-tiny", dir + "/q8.gguf");
  o.outtype = "q8_0";
  auto f = OpenGguf(Convert(o));
  auto ref = OpenGguf(Fixture("models/ds3-tiny.mla.gguf"));
  ASSERT_TRUE(f && ref);
  EXPECT_EQ(*f->GetU64("general.file_type"), 7u);
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    const auto& t = f->tensors()[i];
    const auto& r = ref->tensors()[i];
    if (t.name.find("attn_k_b") != std::string::npos) {
      EXPECT_EQ(t.type, DType::F16) << "rows of 16 do not fit a Q8_0 block: F16 fallback";
    } else if (r.n_dims >= 2 && t.name.find("_norm") == std::string::npos && t.name.find("gate_inp") == std::string::npos) {
      EXPECT_EQ(t.type, DType::Q8_0) << t.name;
    } else {
      EXPECT_EQ(t.type, DType::F32) << t.name;
    }
    // Values within Q8_0's resolution of the f32 reference: half a step of d = max|x| / 127 per block,
    // plus the f16 rounding of d (up to 127 * d * 2^-11).
    std::vector<float> got(static_cast<size_t>(t.nelements()));
    for (int64_t row = 0; row < t.nrows(); ++row)
      quant::DequantizeRow(t.type, t.data + row * t.row_bytes(), got.data() + row * t.ne[0], t.ne[0]);
    const float* want = reinterpret_cast<const float*>(r.data);
    for (int64_t b = 0; b < t.nelements(); b += 32) {
      float amax = 0;
      for (int64_t k = b; k < std::min<int64_t>(b + 32, t.nelements()); ++k) amax = std::max(amax, std::fabs(want[k]));
      for (int64_t k = b; k < std::min<int64_t>(b + 32, t.nelements()); ++k)
        ASSERT_LE(std::fabs(got[size_t(k)] - want[k]), amax / 127.0f * 0.57f + 1e-6f) << t.name << "[" << k << "]";
    }
  }
}

TEST(Convert, KeepMtpWritesTheNextnBlock) {
  const std::string dir = TempDir();
  auto o = Options("ds3-tiny", dir + "/mtp.gguf");
  o.keep_mtp = true;
  auto f = OpenGguf(Convert(o));
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->GetU64("deepseek2.block_count"), 4u);
  EXPECT_EQ(*f->GetU64("deepseek2.nextn_predict_layers"), 1u);
  auto ck = convert::Checkpoint::Open(Fixture("models/ds3-tiny.hf"));
  ASSERT_TRUE(ck.ok());
  const std::pair<const char*, const char*> names[] = {
      {"blk.3.nextn.eh_proj.weight", "model.layers.3.eh_proj.weight"},
      {"blk.3.nextn.enorm.weight", "model.layers.3.enorm.weight"},
      {"blk.3.nextn.hnorm.weight", "model.layers.3.hnorm.weight"},
      {"blk.3.nextn.embed_tokens.weight", "model.layers.3.embed_tokens.weight"},
      {"blk.3.nextn.shared_head_head.weight", "model.layers.3.shared_head.head.weight"},
      {"blk.3.nextn.shared_head_norm.weight", "model.layers.3.shared_head.norm.weight"},
      {"blk.3.attn_q_a.weight", "model.layers.3.self_attn.q_a_proj.weight"},
      {"blk.3.ffn_gate_inp.weight", "model.layers.3.mlp.gate.weight"},
  };
  for (const auto& [gname, hname] : names) {
    const gguf::TensorInfo* t = f->FindTensor(gname);
    const convert::StTensor* h = (*ck)->Find(hname);
    ASSERT_TRUE(t && h) << gname;
    ASSERT_EQ(t->nbytes, h->nbytes) << gname;
    EXPECT_EQ(0, std::memcmp(t->data, h->data, h->nbytes)) << gname;
    EXPECT_EQ(t->ne[0], h->shape.back()) << gname;
  }
  EXPECT_EQ(f->FindTensor("blk.3.nextn.eh_proj.weight")->ne[1], 64);
  for (const char* n : {"blk.3.attn_k_b.weight", "blk.3.attn_v_b.weight", "blk.3.ffn_down_exps.weight",
                        "blk.3.ffn_up_shexp.weight", "blk.3.exp_probs_b.bias"})
    EXPECT_NE(f->FindTensor(n), nullptr) << n;
  // The trunk is the same as without MTP.
  auto ref = OpenGguf(Fixture("models/ds3-tiny.mla.gguf"));
  for (const auto& r : ref->tensors()) {
    const gguf::TensorInfo* t = f->FindTensor(r.name);
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_EQ(0, std::memcmp(t->data, r.data, r.nbytes)) << r.name;
  }
  // A V2 checkpoint has no MTP layer to keep.
  auto v2 = Options("ds2-lite-tiny", dir + "/v2.gguf");
  v2.keep_mtp = true;
  auto r = ConvertCheckpoint(v2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("num_nextn_predict_layers"), std::string::npos) << r.status().message();
}

TEST(Convert, DeterministicForAnyThreadCountAndSplits) {
  const std::string dir = TempDir();
  auto a = Options("ds3-tiny", dir + "/a.gguf");
  a.outtype = "q4_k_m";
  a.threads = 1;
  auto b = a;
  b.output_path = dir + "/b.gguf";
  b.threads = 3;
  Convert(a);
  Convert(b);
  EXPECT_TRUE(ReadFile(a.output_path) == ReadFile(b.output_path));

  auto s = Options("ds3-tiny", dir + "/split.gguf");
  s.split_max_bytes = 600000;
  auto r = ConvertCheckpoint(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_GE(r->outputs.size(), 3u);
  auto joined = OpenGguf(r->outputs[0]);
  auto ref = OpenGguf(Fixture("models/ds3-tiny.mla.gguf"));
  ASSERT_TRUE(joined && ref);
  ExpectSameTensors(*joined, *ref);
}

// A copy of a fixture checkpoint whose tensors can be edited.
std::string EditableCopy(const std::string& model, const std::function<void(std::vector<StEntry>&)>& edit) {
  const std::string dir = TempDir() + "/" + model + ".hf";
  CopyCheckpointText(Fixture("models/" + model + ".hf"), dir);
  auto entries = ReadEntries(Fixture("models/" + model + ".hf"));
  edit(entries);
  WriteSafetensors(dir + "/model.safetensors", entries);
  return dir;
}

std::string ConvertError(const std::string& dir, bool keep_mtp = false) {
  ConvertOptions o;
  o.input_dir = dir;
  o.output_path = dir + "/out.gguf";
  o.progress = false;
  o.keep_mtp = keep_mtp;
  auto r = ConvertCheckpoint(o);
  if (!r.ok()) {
    EXPECT_FALSE(std::filesystem::exists(o.output_path)) << "a failed conversion left its output behind";
  }
  return r.ok() ? "" : r.status().message();
}

void Erase(std::vector<StEntry>& e, const std::string& name) {
  for (size_t i = 0; i < e.size(); ++i)
    if (e[i].name == name) {
      e.erase(e.begin() + long(i));
      return;
    }
  ADD_FAILURE() << "no " << name;
}

TEST(Convert, RefusesBadCheckpointsClearly) {
  {
    auto dir = EditableCopy("ds3-tiny", [](auto&) {});
    EXPECT_EQ(ConvertError(dir), "");  // the unedited copy converts...
    std::filesystem::remove(dir + "/out.gguf");
    EditJson(dir + "/config.json", [](auto& j) { j["architectures"] = {"MixtralForCausalLM"}; });
    EXPECT_NE(ConvertError(dir).find("unsupported architecture 'MixtralForCausalLM'"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) { Erase(e, "model.layers.2.mlp.experts.5.up_proj.weight"); });
    EXPECT_NE(ConvertError(dir).find("missing tensor 'model.layers.2.mlp.experts.5.up_proj.weight'"), std::string::npos)
        << ConvertError(dir);
  }
  {
    auto dir = EditableCopy("ds2-lite-tiny", [](auto& e) { Erase(e, "model.layers.1.self_attn.kv_b_proj.weight"); });
    EXPECT_NE(ConvertError(dir).find("missing tensor 'model.layers.1.self_attn.kv_b_proj.weight'"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) {
      for (auto& t : e)
        if (t.name == "model.layers.0.self_attn.o_proj.weight") t.shape = {32, 128};
    });
    const std::string err = ConvertError(dir);
    EXPECT_NE(err.find("'model.layers.0.self_attn.o_proj.weight' has shape [32, 128], expected [64, 64]"),
              std::string::npos)
        << err;
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) { e.push_back({"model.vision_tower.weight", "F32", {1}, std::string(4, '\0')}); });
    EXPECT_NE(ConvertError(dir).find("unknown tensor 'model.vision_tower.weight'"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) { e.push_back({"model.layers.7.input_layernorm.weight", "F32", {64}, std::string(256, '\0')}); });
    EXPECT_NE(ConvertError(dir).find("layer 7"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) {
      for (auto& t : e)
        if (t.name == "model.layers.0.self_attn.q_a_proj.weight") {
          t.dtype = "F8_E4M3";
          t.bytes.resize(t.bytes.size() / 4);
        }
    });
    EXPECT_NE(ConvertError(dir).find("_scale_inv"), std::string::npos) << ConvertError(dir);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto& e) {
      for (auto& t : e)
        if (t.name == "model.norm.weight") t.dtype = "I32";
    });
    EXPECT_NE(ConvertError(dir).find("dtype I32"), std::string::npos) << ConvertError(dir);
  }
  {
    // A sharded checkpoint whose index names a shard that is not there.
    auto dir = EditableCopy("ds3-tiny", [](auto&) {});
    std::ofstream(dir + "/model.safetensors.index.json")
        << R"({"weight_map":{"lm_head.weight":"model-00002-of-00002.safetensors"}})";
    EXPECT_NE(ConvertError(dir).find("missing shard 'model-00002-of-00002.safetensors'"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto&) {});
    std::filesystem::remove(dir + "/tokenizer.json");
    EXPECT_NE(ConvertError(dir).find("tokenizer.json"), std::string::npos);
  }
  {
    auto dir = EditableCopy("ds3-tiny", [](auto&) {});
    EditJson(dir + "/tokenizer.json", [](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\d+"; });
    EXPECT_NE(ConvertError(dir).find("unknown pre-tokenizer"), std::string::npos);
  }
  EXPECT_NE(ConvertError(TempDir()).find("config.json"), std::string::npos);
}

TEST(Convert, ToolRunsAndFailsWithOneLine) {
  const std::string dir = TempDir();
  std::string out;
  const std::string tool = ToolPath("mla-convert");
  EXPECT_EQ(RunCommand(tool + " " + Fixture("models/ds3-tiny.hf") + " -o " + dir + "/t.gguf --name ds3-tiny", &out), 0)
      << out;
  EXPECT_NE(out.find("converting ["), std::string::npos) << out;  // the progress bar
  EXPECT_TRUE(ReadFile(dir + "/t.gguf") == ReadFile(Fixture("models/ds3-tiny.mla.gguf")));
  EXPECT_NE(RunCommand(tool + " " + dir + " -o " + dir + "/u.gguf", &out), 0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.rfind("mla-convert: ", 0), 0u) << out;
  EXPECT_NE(RunCommand(tool + " " + Fixture("models/ds3-tiny.hf") + " -o " + dir + "/v.gguf --layout diagonal", &out), 0);
  EXPECT_NE(out.find("unknown layout 'diagonal'"), std::string::npos) << out;
  EXPECT_NE(RunCommand(tool + " " + Fixture("models/ds3-tiny.hf") + " -o " + dir + "/v.gguf --outtype q9_9", &out), 0);
  EXPECT_NE(out.find("unknown type 'q9_9'"), std::string::npos) << out;
}

}  // namespace
}  // namespace mla::test
