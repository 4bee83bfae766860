// The quantization mixes against llama-quantize: for every ds3-small.TYPE.gguf fixture (made by
// llama-quantize from the F32 model) the type chosen for each tensor must be the one in the file.
#include <gtest/gtest.h>

#include "convert/quant_mix.h"
#include "convert_testing.h"
#include "test_util.h"

namespace mla::test {
namespace {

using convert::FileType;
using convert::MixModel;
using convert::MixOptions;
using convert::MixPlanner;
using convert::TensorDesc;

std::vector<TensorDesc> Descs(const gguf::File& f, std::optional<DType> as_type = std::nullopt) {
  std::vector<TensorDesc> out;
  for (const auto& t : f.tensors()) {
    TensorDesc d;
    d.name = t.name;
    d.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, d.ne);
    d.type = as_type && convert::AllowsQuantization(t.name, t.n_dims) ? *as_type : t.type;
    out.push_back(d);
  }
  return out;
}

MixModel Model(const gguf::File& f) {
  MixModel m;
  m.n_layer = int64_t(*f.GetU64("deepseek2.block_count"));
  m.n_expert = int64_t(*f.GetU64("deepseek2.expert_count"));
  m.n_head = int64_t(*f.GetU64("deepseek2.attention.head_count"));
  m.n_head_kv = int64_t(*f.GetU64("deepseek2.attention.head_count_kv"));
  return m;
}

// Chooses a type for every tensor of `input` under `ftype`; compares with `expected`'s types.
void ExpectSameChoices(const gguf::File& input, const std::vector<TensorDesc>& descs, const std::string& ftype,
                       const gguf::File& expected) {
  MixOptions o;
  o.ftype = *convert::ParseFileType(ftype);
  auto planner = MixPlanner::Create(o, Model(input), descs);
  ASSERT_TRUE(planner.ok()) << planner.status().message();
  int checked = 0;
  for (const TensorDesc& d : descs) {
    auto c = planner->Choose(d);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const gguf::TensorInfo* t = expected.FindTensor(d.name);
    ASSERT_NE(t, nullptr) << d.name;
    EXPECT_EQ(Name(c->type), std::string(Name(t->type))) << ftype << " " << d.name << " (" << c->reason << ")";
    ++checked;
  }
  EXPECT_EQ(checked, int(expected.tensors().size()));
}

TEST(QuantMix, SameTypesAsLlamaQuantizeOnDs3Small) {
  auto f16 = OpenGguf(Fixture("models/ds3-small.F16.gguf"));
  ASSERT_TRUE(f16);
  // llama-quantize started from F32: the quantizable tensors were F32, the others F32 too.
  const auto descs = Descs(*f16, DType::F32);
  for (const char* type : {"F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q5_1", "Q4_K_M", "Q4_0", "Q4_1",
                           "Q3_K_M", "Q2_K", "IQ4_NL", "IQ4_XS"}) {
    auto ref = OpenGguf(Fixture(std::string("models/ds3-small.") + type + ".gguf"));
    ASSERT_TRUE(ref);
    ExpectSameChoices(*f16, descs, type, *ref);
    EXPECT_EQ(*ref->GetU64("general.file_type"), convert::ParseFileType(type)->id) << type;
  }
}

TEST(QuantMix, LegacyLayoutAttnKvBIsValueLike) {
  // In the legacy layout attn_kv_b counts as a value tensor: Q8_0 with 8 experts (llama.cpp).
  for (const char* type : {"Q4_K_M", "Q8_0"}) {
    auto ref = OpenGguf(Fixture(std::string("models/ds3-small.legacy.") + type + ".gguf"));
    ASSERT_TRUE(ref);
    ExpectSameChoices(*ref, Descs(*ref, DType::F32), type, *ref);
  }
}

// A DeepSeek-V3-shaped tensor list (61 layers, 3 dense, 256 experts) to check the rules that the
// 8-expert fixture cannot show.
std::vector<TensorDesc> V3Tensors() {
  std::vector<TensorDesc> v;
  auto add = [&](std::string name, std::vector<int64_t> ne) {
    TensorDesc d;
    d.name = std::move(name);
    d.n_dims = int(ne.size());
    for (size_t i = 0; i < ne.size(); ++i) d.ne[i] = ne[i];
    d.type = DType::BF16;
    v.push_back(d);
  };
  add("output.weight", {7168, 129280});
  add("token_embd.weight", {7168, 129280});
  add("output_norm.weight", {7168});
  for (int i = 0; i < 61; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_k_b.weight", {128, 512, 128});
    add(b + "attn_v_b.weight", {512, 128, 128});
    add(b + "attn_output.weight", {16384, 7168});
    add(b + "attn_norm.weight", {7168});
    if (i < 3) {
      add(b + "ffn_down.weight", {18432, 7168});
    } else {
      add(b + "ffn_down_exps.weight", {2048, 7168, 256});
      add(b + "ffn_gate_inp.weight", {7168, 256});
      add(b + "exp_probs_b.bias", {256});
    }
  }
  return v;
}

TEST(QuantMix, DeepSeekV3Rules) {
  const auto descs = V3Tensors();
  MixModel m{61, 256, 128, 1};
  MixOptions o;
  o.ftype = *convert::ParseFileType("q4_k_m");
  auto p = MixPlanner::Create(o, m, descs);
  ASSERT_TRUE(p.ok());
  std::map<std::string, DType> got;
  for (const auto& d : descs) got[d.name] = p->Choose(d)->type;
  EXPECT_EQ(got["output.weight"], DType::Q6_K);
  EXPECT_EQ(got["token_embd.weight"], DType::Q4_K);
  EXPECT_EQ(got["output_norm.weight"], DType::BF16);  // kept as it is
  EXPECT_EQ(got["blk.0.attn_k_b.weight"], DType::Q5_0);     // 128-wide rows: Q4_K -> Q5_0
  EXPECT_EQ(got["blk.0.attn_v_b.weight"], DType::Q4_K);
  EXPECT_EQ(got["blk.5.attn_output.weight"], DType::Q4_K);  // no 8-expert bump
  EXPECT_EQ(got["blk.5.ffn_gate_inp.weight"], DType::BF16); // routers keep their type
  EXPECT_EQ(got["blk.5.exp_probs_b.bias"], DType::BF16);
  // use_more_bits(i, 61): i < 7, i >= 53, or (i - 7) % 3 == 2.
  for (int i = 0; i < 61; ++i) {
    const std::string n = "blk." + std::to_string(i) + (i < 3 ? ".ffn_down.weight" : ".ffn_down_exps.weight");
    const bool more = i < 7 || i >= 53 || (i - 7) % 3 == 2;
    EXPECT_EQ(got[n], more ? DType::Q6_K : DType::Q4_K) << n;
  }
  // Q2_K / Q3_K fall back to Q4_0 for k_b; IQ4_XS to IQ4_NL; Q6_K to Q8_0; Q5_K to Q5_1.
  for (auto [ft, want] : {std::pair{"Q2_K", DType::Q4_0}, std::pair{"Q3_K_S", DType::Q4_0},
                          std::pair{"IQ4_XS", DType::IQ4_NL}, std::pair{"Q6_K", DType::Q8_0},
                          std::pair{"Q5_K_S", DType::Q5_1}}) {
    o.ftype = *convert::ParseFileType(ft);
    auto q = MixPlanner::Create(o, m, descs);
    auto c = q->Choose(descs[3]);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->type, want) << ft;
    EXPECT_TRUE(c->fallback);
  }
}

TEST(QuantMix, OverridesPureAndParsing) {
  const auto descs = V3Tensors();
  MixModel m{61, 256, 128, 1};
  MixOptions o;
  o.ftype = *convert::ParseFileType("Q4_K");  // alias of Q4_K_M
  EXPECT_STREQ(o.ftype.name, "Q4_K_M");
  o.overrides.push_back(*convert::ParseTensorTypeOverride("attn_k_b=bf16"));
  o.overrides.push_back(*convert::ParseTensorTypeOverride("blk\\.1[0-9]\\.attn_v_b=q3_k"));
  o.output_type = DType::Q8_0;
  auto p = MixPlanner::Create(o, m, descs);
  ASSERT_TRUE(p.ok());
  for (const auto& d : descs) {
    auto c = p->Choose(d);
    if (d.name.find("attn_k_b") != std::string::npos) {
      EXPECT_EQ(c->type, DType::BF16) << d.name;
    }
    if (d.name == "blk.12.attn_v_b.weight") {
      EXPECT_EQ(c->type, DType::Q3_K);
    }
    if (d.name == "blk.22.attn_v_b.weight") {
      EXPECT_EQ(c->type, DType::Q4_K);
    }
    if (d.name == "output.weight") {
      EXPECT_EQ(c->type, DType::Q8_0);
    }
  }
  // An override whose type does not fit the rows falls back like the mixes do.
  o.overrides = {*convert::ParseTensorTypeOverride("attn_k_b=q6_k")};
  auto q = MixPlanner::Create(o, m, descs);
  EXPECT_EQ(q->Choose(descs[3])->type, DType::Q8_0);
  // --pure: no role rules.
  o.overrides.clear();
  o.output_type.reset();
  o.pure = true;
  auto pure = MixPlanner::Create(o, m, descs);
  EXPECT_EQ(pure->Choose(descs[0])->type, DType::Q4_K);  // output.weight
  // Parsing errors.
  EXPECT_FALSE(convert::ParseTensorTypeOverride("attn_k_b").ok());
  EXPECT_FALSE(convert::ParseTensorTypeOverride("attn_k_b=q9").ok());
  EXPECT_FALSE(convert::ParseTensorTypeOverride("=q8_0").ok());
  o.overrides = {{"([", DType::Q8_0}};
  EXPECT_FALSE(MixPlanner::Create(o, m, descs).ok());
  EXPECT_FALSE(convert::ParseFileType("Q7_K").ok());
  EXPECT_EQ(convert::ParseFileType("iq4_xs")->id, 30u);
  EXPECT_EQ(convert::ParseFileType("BF16")->id, 32u);
}

TEST(QuantMix, LlamaQuantizeTensorOrder) {
  std::vector<std::string> names = {"blk.10.a", "blk.2.b", "token_embd.weight", "blk.2.a", "output.weight"};
  convert::SortLikeLlamaQuantize(&names);
  EXPECT_EQ(names, (std::vector<std::string>{"output.weight", "token_embd.weight", "blk.2.a", "blk.2.b", "blk.10.a"}));
}

}  // namespace
}  // namespace mla::test
