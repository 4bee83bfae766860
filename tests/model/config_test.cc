// ModelConfig from the fixtures in all three layouts, old-file defaults (spec §2.6) and
// --override-kv.
#include <gtest/gtest.h>

#include <cmath>

#include "model/config.h"
#include "model_test_util.h"
#include "ops/rope.h"

namespace mla {
namespace {

using test::Model;

ModelConfig Load(const std::string& path, const std::vector<std::string>& overrides = {}) {
  auto f = gguf::File::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  std::vector<KvOverride> kv;
  for (const auto& o : overrides) {
    auto p = ParseKvOverride(o);
    EXPECT_TRUE(p.ok()) << p.status().message();
    kv.push_back(*p);
  }
  auto c = LoadConfig(**f, kv);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : ModelConfig{};
}

bool HasWarning(const ModelConfig& c, const std::string& text) {
  for (const auto& w : c.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

TEST(Config, TinyModelsInEveryLayout) {
  const std::pair<const char*, TensorLayout> layouts[] = {{"legacy", TensorLayout::kLegacy},
                                                          {"split2d", TensorLayout::kSplit2D},
                                                          {"mla", TensorLayout::kMla}};
  for (const auto& [name, layout] : layouts) {
    SCOPED_TRACE(name);
    const ModelConfig v2 = Load(Model(std::string("ds2-lite-tiny.") + name + ".gguf"));
    EXPECT_EQ(v2.layout, layout);
    EXPECT_EQ(v2.n_embd, 64);
    EXPECT_EQ(v2.n_layer, 3);
    EXPECT_EQ(v2.n_head, 4);
    EXPECT_EQ(v2.q_lora_rank, 0);  // no q LoRA: decided by the tensors
    EXPECT_EQ(v2.kv_lora_rank, 32);
    EXPECT_EQ(v2.n_nope, 16);
    EXPECT_EQ(v2.n_rope, 8);
    EXPECT_EQ(v2.n_v, 16);
    EXPECT_EQ(v2.n_vocab, 2048);
    EXPECT_EQ(v2.n_leading_dense, 1);
    EXPECT_EQ(v2.n_expert, 8);
    EXPECT_EQ(v2.n_expert_used, 2);
    EXPECT_EQ(v2.n_expert_shared, 2);
    EXPECT_EQ(v2.gating, GatingFunc::kSoftmax);
    EXPECT_FALSE(v2.has_expert_bias);
    EXPECT_FALSE(v2.expert_weights_norm);
    EXPECT_EQ(v2.n_group, 1);
    EXPECT_TRUE(v2.rope.yarn);
    EXPECT_NEAR(v2.attn_scale, ops::AttentionScale(true, 40, 0.0707, 24), 1e-6);

    const ModelConfig v3 = Load(Model(std::string("ds3-tiny.") + name + ".gguf"));
    EXPECT_EQ(v3.layout, layout);
    EXPECT_EQ(v3.q_lora_rank, 32);
    EXPECT_EQ(v3.n_expert_shared, 1);
    EXPECT_EQ(v3.gating, GatingFunc::kSigmoid);
    EXPECT_TRUE(v3.has_expert_bias);
    EXPECT_TRUE(v3.expert_weights_norm);
    EXPECT_FLOAT_EQ(v3.expert_weights_scale, 2.5f);
    EXPECT_EQ(v3.n_nope, 16);
    EXPECT_EQ(v3.n_v, 16);
    EXPECT_NEAR(v3.attn_scale, ops::AttentionScale(true, 40, 0.1, 24), 1e-6);
    EXPECT_TRUE(v3.warnings.empty());
  }
}

TEST(Config, Ds3SmallIsGrouped) {
  const ModelConfig c = Load(Model("ds3-small.Q4_K_M.gguf"));
  EXPECT_EQ(c.n_group, 4);
  EXPECT_EQ(c.n_group_used, 2);
  EXPECT_EQ(c.latent_row(), 320);
  EXPECT_NEAR(c.attn_scale, 0.1352338, 1e-6);  // the V3 row of spec §3.4 (d_qk = 192)
}

TEST(Config, V3IdentityWithoutGroupKeysGetsDefaultsAndWarning) {
  // ds3-tiny.legacy has no group keys; make it look like V3 (V = 129280, E = 256).
  const ModelConfig c = Load(Model("ds3-tiny.legacy.gguf"),
                             {"deepseek2.vocab_size=int:129280", "deepseek2.expert_count=int:256",
                              "deepseek2.expert_used_count=int:8"});
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.n_group_used, 4);
  EXPECT_TRUE(HasWarning(c, "mla-gguf set")) << (c.warnings.empty() ? "" : c.warnings[0]);
  // --override-kv wins over the default.
  const ModelConfig o = Load(Model("ds3-tiny.legacy.gguf"),
                             {"deepseek2.vocab_size=int:129280", "deepseek2.expert_count=int:256",
                              "deepseek2.expert_used_count=int:8",
                              "deepseek2.expert_group_count=int:1",
                              "deepseek2.expert_group_used_count=int:1"});
  EXPECT_EQ(o.n_group, 1);
  EXPECT_FALSE(HasWarning(o, "mla-gguf set"));
}

TEST(Config, V3LookalikeWithoutGroupKeysWarnsOnly) {
  const ModelConfig c = Load(Model("ds3-tiny.legacy.gguf"), {"deepseek2.expert_count=int:256"});
  EXPECT_EQ(c.n_group, 1);
  EXPECT_TRUE(HasWarning(c, "mla-gguf set"));
}

TEST(Config, V2IdentityWithoutGroupKeys) {
  const ModelConfig c = Load(Model("ds2-lite-tiny.legacy.gguf"),
                             {"deepseek2.vocab_size=int:102400", "deepseek2.attention.head_count=int:128",
                              "deepseek2.expert_count=int:160"});
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.n_group_used, 3);
}

TEST(Config, MissingOptionalKeysOfOlderFiles) {
  const std::string path = test::CopyWithoutKeys(
      Model("ds3-tiny.mla.gguf"),
      {"deepseek2.expert_gating_func", "deepseek2.expert_group_count",
       "deepseek2.expert_group_used_count", "deepseek2.rope.scaling.yarn_log_multiplier",
       "deepseek2.rope.scaling.yarn_beta_fast", "deepseek2.rope.scaling.yarn_beta_slow",
       "deepseek2.expert_weights_norm", "deepseek2.expert_weights_scale", "deepseek2.vocab_size"});
  const ModelConfig c = Load(path);
  EXPECT_EQ(c.gating, GatingFunc::kSoftmax);  // spec §2.6 default
  EXPECT_EQ(c.n_group, 1);
  EXPECT_FALSE(c.expert_weights_norm);
  EXPECT_EQ(c.expert_weights_scale, 1.0f);
  EXPECT_EQ(c.rope.beta_fast, 32);
  EXPECT_EQ(c.rope.beta_slow, 1);
  EXPECT_EQ(c.n_vocab, 2048);  // from the token list
  EXPECT_EQ(c.yarn_log_multiplier, 0);  // unknown model: no mscale correction, with a warning
  EXPECT_NEAR(c.attn_scale, 1 / std::sqrt(24.0), 1e-7);
  EXPECT_TRUE(HasWarning(c, "yarn_log_multiplier"));
  // A known V3-family model gets mscale_all_dim 1.0 (0.1 in the key's convention).
  const ModelConfig v3 = Load(path, {"deepseek2.vocab_size=int:129280"});
  EXPECT_NEAR(v3.yarn_log_multiplier, 0.1, 1e-12);
}

TEST(Config, QueryPathFromTensorsNotKeys) {
  // A q_lora_rank key on a file with plain attn_q does not switch to LoRA.
  const ModelConfig c = Load(Model("ds2-lite-tiny.mla.gguf"), {"deepseek2.attention.q_lora_rank=int:16"});
  EXPECT_EQ(c.q_lora_rank, 0);
}

TEST(Config, OverrideParsing) {
  EXPECT_TRUE(ParseKvOverride("deepseek2.expert_group_count=int:8").ok());
  EXPECT_TRUE(ParseKvOverride("a.b=float:0.5").ok());
  EXPECT_TRUE(ParseKvOverride("a.b=bool:true").ok());
  EXPECT_TRUE(ParseKvOverride("a.b=str:yarn").ok());
  for (const char* bad : {"nokey", "=int:1", "a=int", "a=int:x", "a=float:nan", "a=bool:1",
                          "a=u32:5", "a=int:99999999999999999999"}) {
    auto r = ParseKvOverride(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseKvOverride("a=u32:5").status().message().find("int, float, bool or str"),
            std::string::npos);
}

TEST(Config, BadValuesAreErrors) {
  auto f = gguf::File::Open(Model("ds3-tiny.mla.gguf"));
  ASSERT_TRUE(f.ok());
  struct Bad {
    const char* override;
    const char* expect;
  } cases[] = {
      {"deepseek2.attention.head_count=int:0", "head_count"},
      {"deepseek2.expert_used_count=int:9", "expert_used_count"},
      {"deepseek2.expert_group_count=int:3", "expert_group_count"},
      {"deepseek2.rope.dimension_count=int:7", "rope.dimension_count"},
      {"deepseek2.expert_gating_func=int:3", "expert_gating_func"},
      {"deepseek2.rope.scaling.type=str:ntk", "rope.scaling.type"},
      {"deepseek2.attention.layer_norm_rms_epsilon=str:x", "layer_norm_rms_epsilon"},
  };
  for (const Bad& b : cases) {
    auto o = ParseKvOverride(b.override);
    ASSERT_TRUE(o.ok()) << b.override;
    auto c = LoadConfig(**f, {*o});
    ASSERT_FALSE(c.ok()) << b.override;
    EXPECT_NE(c.status().message().find(b.expect), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace mla
