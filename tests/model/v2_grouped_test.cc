// V2 group-limited routing (softmax scores, no bias, group score = maximum; spec §4.2) against
// transformers' DeepseekV2ForCausalLM (topk_method group_limited_greedy). The fixture is made by
// tests/golden/v2_grouped/gen_v2_grouped.py; on its 32 tokens the max rule and the V3 rule (sum of
// the top two) pick different experts on 9 token-layers, and ungrouped routing on 32.
#include <gtest/gtest.h>

#include "model/model.h"
#include "runtime/session.h"
#include "test_util.h"

namespace mla {
namespace {

std::string Golden(const std::string& name) {
  return test::SourcePath("tests/golden/v2_grouped/" + name);
}

std::vector<float> RunModel(const Model& m, const std::vector<int32_t>& tokens, int64_t n_batch) {
  ThreadPool pool(2);
  SessionOptions so;
  so.n_ctx = int64_t(tokens.size());
  so.n_batch = n_batch;
  so.cache_type = DType::F32;
  so.logits_all = true;
  auto s = Session::Create(m, pool, so);
  EXPECT_TRUE(s.ok()) << s.status().message();
  std::vector<float> out(tokens.size() * size_t(m.config().n_vocab));
  EXPECT_TRUE((*s)->Decode(tokens, out.data()).ok());
  return out;
}

TEST(V2GroupedRouting, MatchesTransformers) {
  auto m = Model::Load(Golden("ds2-grouped.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.gating, GatingFunc::kSoftmax);
  EXPECT_FALSE(c.has_expert_bias);
  EXPECT_EQ(c.n_group, 4);
  EXPECT_EQ(c.n_group_used, 2);
  EXPECT_EQ(c.n_expert_used, 3);
  EXPECT_FLOAT_EQ(c.expert_weights_scale, 1.5f);
  const auto tokens = test::ReadTokens(Golden("ds2-grouped.tokens.txt"));
  std::vector<int64_t> shape;
  const auto ref = test::ReadNpyF32(Golden("ds2-grouped.ref.npy"), &shape);
  ASSERT_EQ(shape, (std::vector<int64_t>{int64_t(tokens.size()), c.n_vocab}));

  for (int64_t b : {int64_t(32), int64_t(1)}) {  // prefill and token by token
    const auto logits = RunModel(**m, tokens, b);
    const test::KlStats st = test::CompareLogits(ref.data(), logits.data(), shape[0], shape[1]);
    std::printf("ds2-grouped batch %lld: mean KL %.3e, top-1 %.4f\n", static_cast<long long>(b),
                st.mean_kl, st.top1);
    EXPECT_LT(st.mean_kl, 1e-9);
    EXPECT_EQ(st.top1, 1.0);
  }

  // Without group limiting the result is clearly different: the fixture exercises the rule.
  LoadOptions ungrouped;
  ungrouped.overrides.push_back(*ParseKvOverride("deepseek2.expert_group_count=int:1"));
  ungrouped.overrides.push_back(*ParseKvOverride("deepseek2.expert_group_used_count=int:1"));
  auto u = Model::Load(Golden("ds2-grouped.gguf"), ungrouped);
  ASSERT_TRUE(u.ok());
  const auto logits = RunModel(**u, tokens, 32);
  const test::KlStats st = test::CompareLogits(ref.data(), logits.data(), shape[0], shape[1]);
  std::printf("ds2-grouped without group limiting: mean KL %.3e\n", st.mean_kl);
  EXPECT_GT(st.mean_kl, 1e-4);
}

}  // namespace
}  // namespace mla
