// Token cost accounting (runtime/bench_cost.h) against the reference numbers of spec §10, on the
// tensor lists of full-size synthetic models (nothing is written).
#include "runtime/bench_cost.h"

#include <gtest/gtest.h>

#include "convert/synth.h"

namespace mla {
namespace {

struct Planned {
  std::vector<gguf::TensorInfo> tensors;
  ModelConfig config;
};

Planned Plan(const std::string& shape, const std::string& type, convert::Layout layout) {
  convert::SynthOptions o;
  o.shape = shape;
  o.type = type;
  o.layout = layout;
  convert::HfConfig hf;
  auto r = convert::PlanSyntheticModel(o, &hf);
  EXPECT_TRUE(r.ok()) << r.status().message();
  Planned p;
  p.tensors = r.value();
  p.config.n_layer = hf.num_hidden_layers;
  p.config.n_head = hf.num_attention_heads;
  p.config.kv_lora_rank = hf.kv_lora_rank;
  p.config.n_rope = hf.qk_rope_head_dim;
  p.config.n_expert = hf.n_routed_experts;
  p.config.n_expert_used = hf.num_experts_per_tok;
  return p;
}

TEST(BenchCostTest, V2LiteMatchesSpec) {
  for (auto layout : {convert::Layout::kMla, convert::Layout::kSplit2D, convert::Layout::kLegacy}) {
    SCOPED_TRACE(convert::LayoutName(layout));
    Planned q4 = Plan("v2-lite", "q4_0", layout);
    // spec §10.1: 15,552 values per token; f16 cache 31,104 bytes.
    const TokenCost c = ComputeTokenCost(q4.tensors, q4.config, 31104);
    EXPECT_EQ(c.weight_bytes, 1391082624.0);        // spec §10.3
    EXPECT_EQ(c.matmul_macs, 2447900672.0);         // spec §10.2 active matmul weights
    EXPECT_EQ(c.attn_macs_per_pos, 470016.0);       // spec §10.4
    if (layout != convert::Layout::kSplit2D) {
      EXPECT_EQ(c.n_params, 15706484224ull);  // §10.2
    }
    // V2-Lite absorbed at T = 1024: 537,919,488 MACs besides the projections (spec §10.4 table,
    // whose constant term is the k_b/v_b weights): check the T term.
    EXPECT_EQ(c.DecodeMacs(1024) - c.DecodeMacs(0), 537919488.0 - 56623104.0);
    EXPECT_EQ(c.DecodeBytes(100) - c.weight_bytes, 100 * 31104.0);
    EXPECT_DOUBLE_EQ(c.GenerationBytes(3, 10), c.DecodeBytes(11) + c.DecodeBytes(12) + c.DecodeBytes(13));
    EXPECT_DOUBLE_EQ(c.PromptMacs(2, 5), c.DecodeMacs(6) + c.DecodeMacs(7));
  }
  Planned q8 = Plan("v2-lite", "q8_0", convert::Layout::kMla);
  EXPECT_EQ(ComputeTokenCost(q8.tensors, q8.config, 0).weight_bytes, 2615033984.0);
}

TEST(BenchCostTest, V2AndV3MatchSpec) {
  Planned v2 = Plan("v2", "q4_0", convert::Layout::kMla);
  const TokenCost c2 = ComputeTokenCost(v2.tensors, v2.config, 0);
  EXPECT_EQ(c2.weight_bytes, 11897674560.0);
  EXPECT_EQ(c2.matmul_macs, 20802437120.0);
  EXPECT_EQ(c2.n_params, 235741434880ull);
  Planned v3 = Plan("v3", "q8_0", convert::Layout::kMla);
  const TokenCost c3 = ComputeTokenCost(v3.tensors, v3.config, 0);
  EXPECT_EQ(c3.weight_bytes, 39230367168.0);
  EXPECT_EQ(c3.matmul_macs, 36518166528.0);
  EXPECT_EQ(c3.n_params, 671026419200ull);
  EXPECT_EQ(c3.attn_macs_per_pos, 8495104.0);
}

}  // namespace
}  // namespace mla
