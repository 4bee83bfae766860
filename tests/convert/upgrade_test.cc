// Legacy / split2d GGUF -> MLA layout without the checkpoint (spec §2.4, §2.5).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "convert/upgrade.h"
#include "convert_testing.h"
#include "quant/quant.h"
#include "test_util.h"

namespace mla::test {
namespace {

convert::UpgradeOptions Options(const std::string& in, const std::string& out) {
  convert::UpgradeOptions o;
  o.input_path = in;
  o.output_path = out;
  o.threads = 2;
  o.progress = false;
  return o;
}

TEST(Upgrade, LegacyAndSplit2dBecomeTheFixtureMlaFiles) {
  const std::string dir = TempDir();
  for (const char* model : {"ds3-tiny", "ds2-lite-tiny"}) {
    auto ref = OpenGguf(Fixture(std::string("models/") + model + ".mla.gguf"));
    ASSERT_TRUE(ref);
    for (const char* layout : {"legacy", "split2d"}) {
      const std::string out = dir + "/" + model + "." + layout + ".gguf";
      auto r = convert::UpgradeToMla(Options(Fixture(std::string("models/") + model + "." + layout + ".gguf"), out));
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ(r->layers, 3);
      EXPECT_EQ(r->from_split2d, std::string(layout) == "split2d");
      auto mine = OpenGguf(out);
      ASSERT_TRUE(mine);
      ExpectSameTensors(*mine, *ref);
      const MetaDiff d = DiffMetadata(*mine, *ref);
      // An old file cannot know the group / beta keys the converter writes today.
      EXPECT_EQ(d.only_b, (std::vector<std::string>{"deepseek2.rope.scaling.yarn_beta_fast",
                                                    "deepseek2.rope.scaling.yarn_beta_slow",
                                                    "deepseek2.expert_group_count",
                                                    "deepseek2.expert_group_used_count"}))
          << model << " " << layout;
      // The legacy converter always wrote expert_weights_norm; the MLA one only when true.
      if (std::string(model) == "ds2-lite-tiny")
        EXPECT_EQ(d.only_a, std::vector<std::string>{"deepseek2.expert_weights_norm"});
      else
        EXPECT_TRUE(d.only_a.empty());
      EXPECT_TRUE(d.differ.empty()) << (d.differ.empty() ? "" : d.differ[0]);
      EXPECT_TRUE(d.same_order);
    }
  }
}

TEST(Upgrade, QuantizedKvBGivesQ8_0Pairs) {
  const std::string dir = TempDir();
  const std::string in = Fixture("models/ds3-small.legacy.Q4_K_M.gguf");
  auto r = convert::UpgradeToMla(Options(in, dir + "/up.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->k_b_type, DType::Q8_0);
  EXPECT_EQ(r->v_b_type, DType::Q8_0);
  auto src = OpenGguf(in);
  auto up = OpenGguf(dir + "/up.gguf");
  ASSERT_TRUE(src && up);
  EXPECT_EQ(*up->GetU64("deepseek2.attention.head_count_kv"), 1u);
  EXPECT_EQ(*up->GetU64("deepseek2.attention.key_length"), 256u + 64u);
  EXPECT_EQ(*up->GetU64("deepseek2.attention.key_length_mla"), 192u);
  EXPECT_EQ(*up->GetU64("deepseek2.attention.value_length_mla"), 128u);
  EXPECT_EQ(up->FindTensor("blk.0.attn_kv_b.weight"), nullptr);
  // k_b / v_b against the dequantized attn_kv_b (spec §2.5), within Q8_0's step.
  const int64_t H = 4, dn = 128, dv = 128, rkv = 256, P = dn + dv;
  for (int blk = 0; blk < 2; ++blk) {
    const std::string b = "blk." + std::to_string(blk) + ".";
    const gguf::TensorInfo* kv = src->FindTensor(b + "attn_kv_b.weight");
    const gguf::TensorInfo* k = up->FindTensor(b + "attn_k_b.weight");
    const gguf::TensorInfo* v = up->FindTensor(b + "attn_v_b.weight");
    ASSERT_TRUE(kv && k && v);
    EXPECT_EQ(k->ne[0], dn);
    EXPECT_EQ(k->ne[1], rkv);
    EXPECT_EQ(k->ne[2], H);
    EXPECT_EQ(v->ne[0], rkv);
    EXPECT_EQ(v->ne[1], dv);
    std::vector<float> kvf(static_cast<size_t>(rkv * H * P)), kf(static_cast<size_t>(dn * rkv * H)),
        vf(static_cast<size_t>(rkv * dv * H));
    for (int64_t r = 0; r < kv->nrows(); ++r) quant::DequantizeRow(kv->type, kv->data + r * kv->row_bytes(), &kvf[r * rkv], rkv);
    for (int64_t r = 0; r < k->nrows(); ++r) quant::DequantizeRow(k->type, k->data + r * k->row_bytes(), &kf[r * dn], dn);
    for (int64_t r = 0; r < v->nrows(); ++r) quant::DequantizeRow(v->type, v->data + r * v->row_bytes(), &vf[r * rkv], rkv);
    float amax = 0;
    for (float x : kvf) amax = std::max(amax, std::fabs(x));
    double max_err = 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t c = 0; c < rkv; ++c) {
        for (int64_t d = 0; d < dn; ++d)
          max_err = std::max(max_err, double(std::fabs(kf[d + dn * (c + rkv * h)] - kvf[c + rkv * (h * P + d)])));
        for (int64_t j = 0; j < dv; ++j)
          max_err = std::max(max_err, double(std::fabs(vf[c + rkv * (j + dv * h)] - kvf[c + rkv * (h * P + dn + j)])));
      }
    EXPECT_LE(max_err, amax / 127.0 * 0.57) << b;
    EXPECT_GT(amax, 0);
  }
  // Forcing a float type keeps the dequantized values exactly (to f32).
  auto o = Options(in, dir + "/f32.gguf");
  o.derived_type = "f32";
  auto exact = convert::UpgradeToMla(o);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->k_b_type, DType::F32);
}

TEST(Upgrade, Refusals) {
  const std::string dir = TempDir();
  auto mla = convert::UpgradeToMla(Options(Fixture("models/ds3-tiny.mla.gguf"), dir + "/a.gguf"));
  ASSERT_FALSE(mla.ok());
  EXPECT_NE(mla.status().message().find("already has the MLA layout"), std::string::npos);
  auto vocab = convert::UpgradeToMla(Options(Fixture("vocab/ggml-vocab-deepseek-llm.gguf"), dir + "/b.gguf"));
  ASSERT_FALSE(vocab.ok());
  EXPECT_NE(vocab.status().message().find("deepseek2"), std::string::npos) << vocab.status().message();
  auto o = Options(Fixture("models/ds3-tiny.legacy.gguf"), dir + "/c.gguf");
  o.derived_type = "q7";
  EXPECT_FALSE(convert::UpgradeToMla(o).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/c.gguf"));
}

}  // namespace
}  // namespace mla::test
