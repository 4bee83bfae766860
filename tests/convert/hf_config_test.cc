// config.json parsing and the GGUF architecture keys (spec §6.1).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "convert/hf_config.h"
#include "test_util.h"

namespace mla::test {
namespace {

using convert::HfConfig;
using convert::Layout;
using convert::ParseHfConfig;

nlohmann::json FixtureConfig(const char* model) {
  return nlohmann::json::parse(ReadFile(Fixture(std::string("models/") + model + ".hf/config.json")));
}

std::string Error(const nlohmann::json& j) {
  auto r = ParseHfConfig(j.dump());
  return r.ok() ? "" : r.status().message();
}

const gguf::Value* Get(const std::vector<std::pair<std::string, gguf::Value>>& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

TEST(HfConfig, ReadsTheFixtureConfigs) {
  auto v3 = ParseHfConfig(FixtureConfig("ds3-tiny").dump());
  ASSERT_TRUE(v3.ok()) << v3.status().message();
  EXPECT_EQ(v3->architecture, "DeepseekV3ForCausalLM");
  EXPECT_EQ(v3->q_lora_rank, 32);
  EXPECT_EQ(v3->num_nextn_predict_layers, 1);
  EXPECT_TRUE(v3->sigmoid_gating);
  EXPECT_TRUE(v3->yarn);
  EXPECT_EQ(v3->yarn_factor, 40.0);
  EXPECT_EQ(*v3->mscale_all_dim, 1.0);
  EXPECT_EQ(*v3->n_group, 1);
  EXPECT_FALSE(v3->fp8);
  auto v2 = ParseHfConfig(FixtureConfig("ds2-lite-tiny").dump());
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  EXPECT_EQ(v2->q_lora_rank, 0);  // null: plain q_proj
  EXPECT_FALSE(v2->sigmoid_gating);
  EXPECT_EQ(v2->n_shared_experts, 2);
  EXPECT_EQ(v2->bos_token_id, 2045);
}

TEST(HfConfig, LayoutKeys) {
  auto c = ParseHfConfig(FixtureConfig("ds3-tiny").dump());
  ASSERT_TRUE(c.ok());
  convert::ModelKeyOptions o;
  o.name = "x";
  o.layout = Layout::kMla;
  auto mla = convert::ModelKeys(*c, o);
  EXPECT_EQ(Get(mla, "deepseek2.attention.head_count_kv")->u, 1u);
  EXPECT_EQ(Get(mla, "deepseek2.attention.key_length")->u, 40u);  // r_kv + d_r
  EXPECT_EQ(Get(mla, "deepseek2.attention.value_length")->u, 32u);
  EXPECT_EQ(Get(mla, "deepseek2.attention.key_length_mla")->u, 24u);
  EXPECT_EQ(Get(mla, "deepseek2.attention.value_length_mla")->u, 16u);
  EXPECT_FLOAT_EQ(float(Get(mla, "deepseek2.rope.scaling.yarn_log_multiplier")->f), 0.1f);
  EXPECT_EQ(Get(mla, "deepseek2.nextn_predict_layers"), nullptr);
  o.layout = Layout::kLegacy;
  o.mtp_layers = 1;
  auto legacy = convert::ModelKeys(*c, o);
  EXPECT_EQ(Get(legacy, "deepseek2.attention.head_count_kv")->u, 4u);
  EXPECT_EQ(Get(legacy, "deepseek2.attention.key_length")->u, 24u);
  EXPECT_EQ(Get(legacy, "deepseek2.attention.value_length")->u, 16u);
  EXPECT_EQ(Get(legacy, "deepseek2.attention.key_length_mla"), nullptr);
  EXPECT_EQ(Get(legacy, "deepseek2.block_count")->u, 4u);
  EXPECT_EQ(Get(legacy, "deepseek2.nextn_predict_layers")->u, 1u);
  // Spec §6.1: the group and YaRN beta keys go into every layout.
  EXPECT_NE(Get(legacy, "deepseek2.expert_group_count"), nullptr);
  EXPECT_NE(Get(legacy, "deepseek2.rope.scaling.yarn_beta_fast"), nullptr);
}

TEST(HfConfig, Fp8AndRopeParameters) {
  auto j = FixtureConfig("ds3-tiny");
  j["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"weight_block_size", {64, 32}},
                              {"activation_scheme", "dynamic"}};
  j["rope_parameters"] = j["rope_scaling"];
  j.erase("rope_scaling");
  j["rope_parameters"]["rope_type"] = "yarn";
  j["rope_parameters"].erase("type");
  auto c = ParseHfConfig(j.dump());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->fp8);
  EXPECT_EQ(c->fp8_block_rows, 64);
  EXPECT_EQ(c->fp8_block_cols, 32);
  EXPECT_TRUE(c->yarn);
  j.erase("rope_parameters");
  c = ParseHfConfig(j.dump());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->yarn);
}

TEST(HfConfig, ClearErrors) {
  auto base = FixtureConfig("ds3-tiny");
  EXPECT_NE(ParseHfConfig("{").status().message().find("not valid JSON"), std::string::npos);
  {
    auto j = base;
    j["architectures"] = {"LlamaForCausalLM"};
    EXPECT_NE(Error(j).find("unsupported architecture 'LlamaForCausalLM'"), std::string::npos) << Error(j);
  }
  {
    auto j = base;
    j.erase("hidden_size");
    EXPECT_NE(Error(j).find("missing required field \"hidden_size\""), std::string::npos);
  }
  {
    auto j = base;
    j["num_attention_heads"] = "four";
    EXPECT_NE(Error(j).find("\"num_attention_heads\" must be an integer"), std::string::npos);
  }
  {
    auto j = base;
    j["vocab_size"] = -5;
    EXPECT_NE(Error(j).find("\"vocab_size\" = -5"), std::string::npos);
  }
  {
    auto j = base;
    j["moe_layer_freq"] = 2;
    EXPECT_NE(Error(j).find("moe_layer_freq"), std::string::npos);
  }
  {
    auto j = base;
    j["scoring_func"] = "relu";
    EXPECT_NE(Error(j).find("scoring_func"), std::string::npos);
  }
  {
    auto j = base;
    j["quantization_config"] = {{"quant_method", "gptq"}};
    EXPECT_NE(Error(j).find("gptq"), std::string::npos);
  }
  {
    auto j = base;
    j["num_experts_per_tok"] = 9;  // more than the 8 experts
    EXPECT_NE(Error(j).find("num_experts_per_tok"), std::string::npos);
  }
  {
    auto j = base;
    j["rope_scaling"]["type"] = "longrope";
    EXPECT_NE(Error(j).find("longrope"), std::string::npos);
  }
  {
    auto j = base;
    j["qk_rope_head_dim"] = 7;
    EXPECT_NE(Error(j).find("even"), std::string::npos);
  }
}

}  // namespace
}  // namespace mla::test
