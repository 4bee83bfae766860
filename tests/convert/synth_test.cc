// Synthetic full-shape GGUFs (convert/synth.h): shapes, types, layouts, content, determinism.
#include "convert/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "base/fp16.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "model/layout.h"
#include "quant/quant.h"
#include "test_util.h"

namespace mla::convert {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

TEST(SynthTest, RandomBlocksAreFiniteWithTheBlockScale) {
  const int64_t n = 4096;
  for (DType t : kWeightTypes) {
    SCOPED_TRACE(Name(t));
    std::vector<uint8_t> a(RowBytes(t, n)), b(a.size());
    uint64_t s1 = 7, s2 = 7, s3 = 8;
    ASSERT_TRUE(FillRandomBlocks(t, a.data(), n, 0.0025f, &s1).ok());
    ASSERT_TRUE(FillRandomBlocks(t, b.data(), n, 0.0025f, &s2).ok());
    EXPECT_EQ(a, b);  // same seed, same bytes
    ASSERT_TRUE(FillRandomBlocks(t, b.data(), n, 0.0025f, &s3).ok());
    EXPECT_NE(a, b);
    std::vector<float> y(n);
    quant::DequantizeRow(t, a.data(), y.data(), n);
    double sum = 0, sum2 = 0, max_abs = 0;
    for (float v : y) {
      ASSERT_TRUE(std::isfinite(v));
      sum += v, sum2 += double(v) * v, max_abs = std::max(max_abs, double(std::fabs(v)));
    }
    EXPECT_GT(sum2 / n, 0.0);  // not all zero
    if (t == DType::Q4_0 || t == DType::Q4_1) {  // d·(q − 8), q uniform in 0..15
      EXPECT_LE(max_abs, 8 * F16ToF32(F32ToF16(0.0025f)));
      EXPECT_NEAR(sum / n, -0.0025 / 2, 0.0005);
    }
    if (t == DType::F32) {  // uniform in [−8d, 8d)
      EXPECT_LE(max_abs, 8 * 0.0025 + 1e-6);
      EXPECT_NEAR(sum / n, 0.0, 0.001);
    }
  }
  // Every block's scale field is exactly f16(0.0025).
  std::vector<uint8_t> q(RowBytes(DType::Q8_0, 256));
  uint64_t s = 1;
  ASSERT_TRUE(FillRandomBlocks(DType::Q8_0, q.data(), 256, 0.0025f, &s).ok());
  for (int b = 0; b < 8; ++b) {
    uint16_t d;
    std::memcpy(&d, q.data() + 34 * b, 2);
    EXPECT_EQ(d, F32ToF16(0.0025f));
  }
}

TEST(SynthTest, RejectsBadInput) {
  std::vector<uint8_t> buf(1024);
  uint64_t s = 1;
  EXPECT_FALSE(FillRandomBlocks(DType::Q8_K, buf.data(), 256, 0.0025f, &s).ok());
  EXPECT_FALSE(FillRandomBlocks(DType::Q4_0, buf.data(), 31, 0.0025f, &s).ok());
  EXPECT_FALSE(FillRandomBlocks(DType::Q4_0, buf.data(), 32, NAN, &s).ok());
  EXPECT_FALSE(SynthShapeConfig("v4").ok());
  const std::string dir = test::TempDir();
  SynthOptions o;
  o.output_path = dir + "/bad.gguf";
  o.progress = false;
  o.type = "q8_K";
  EXPECT_FALSE(WriteSyntheticModel(o).ok());
  o.type = "q4_0";
  o.experts = 3;  // fewer than the 6 used per token
  EXPECT_FALSE(WriteSyntheticModel(o).ok());
  o.experts = 0;
  o.vocab = 100;
  EXPECT_FALSE(WriteSyntheticModel(o).ok());
}

TEST(SynthTest, ShapesFollowSpecTable) {
  auto lite = SynthShapeConfig("v2-lite");
  ASSERT_TRUE(lite.ok());
  EXPECT_EQ(lite.value().hidden_size, 2048);
  EXPECT_EQ(lite.value().q_lora_rank, 0);
  EXPECT_EQ(lite.value().intermediate_size, 10944);
  auto v3 = SynthShapeConfig("v3");
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3.value().n_routed_experts, 256);
  EXPECT_TRUE(v3.value().sigmoid_gating);
}

// V2-Lite shape with 2 layers (dense + MoE), 8 experts and a small vocabulary: everything else at
// real size. The engine's own config loader must accept it with the spec's values.
TEST(SynthTest, V2LiteSmallFileLoads) {
  const std::string dir = test::TempDir();
  SynthOptions o;
  o.output_path = dir + "/lite.gguf";
  o.layers = 2;
  o.experts = 8;
  o.vocab = 1024;
  o.progress = false;
  o.threads = 2;
  auto r = WriteSyntheticModel(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto f = gguf::File::Open(o.output_path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const gguf::File& file = *f.value();
  EXPECT_EQ(int64_t(file.tensors().size()), r.value().n_tensors);
  auto layout = DetectLayout(file);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout.value(), TensorLayout::kMla);
  auto cfg = LoadConfig(file, {});
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg.value().n_layer, 2);
  EXPECT_EQ(cfg.value().n_embd, 2048);
  EXPECT_EQ(cfg.value().n_head, 16);
  EXPECT_EQ(cfg.value().kv_lora_rank, 512);
  EXPECT_EQ(cfg.value().n_nope, 128);
  EXPECT_EQ(cfg.value().n_rope, 64);
  EXPECT_EQ(cfg.value().n_v, 128);
  EXPECT_EQ(cfg.value().n_expert, 8);
  EXPECT_EQ(cfg.value().n_expert_used, 6);
  EXPECT_EQ(cfg.value().n_expert_shared, 2);
  EXPECT_EQ(cfg.value().n_ff_exp, 1408);
  EXPECT_EQ(cfg.value().n_ff, 10944);
  EXPECT_EQ(cfg.value().n_vocab, 1024);
  EXPECT_EQ(cfg.value().q_lora_rank, 0);

  // Types: every matrix Q4_0 (token_embd and output too), norms and router f32.
  for (const auto& t : file.tensors()) {
    const bool f32 = t.name.find("_norm.weight") != std::string::npos ||
                     t.name.find("ffn_gate_inp") != std::string::npos;
    EXPECT_EQ(t.type, f32 ? DType::F32 : DType::Q4_0) << t.name;
  }
  const auto* exps = file.FindTensor("blk.1.ffn_down_exps.weight");
  ASSERT_NE(exps, nullptr);
  EXPECT_EQ(exps->ShapeString(), "{1408, 2048, 8}");
  EXPECT_EQ(file.FindTensor("blk.0.ffn_gate_exps.weight"), nullptr);  // layer 0 is dense
  EXPECT_NE(file.FindTensor("blk.0.ffn_down.weight"), nullptr);
  EXPECT_EQ(file.FindTensor("blk.1.attn_k_b.weight")->ShapeString(), "{128, 512, 16}");

  // Content: norms 1, router ~N(0, 0.02), block scales 0.0025.
  const auto* norm = file.FindTensor("blk.1.attn_kv_a_norm.weight");
  const float* nw = reinterpret_cast<const float*>(norm->data);
  for (int i = 0; i < 512; ++i) ASSERT_EQ(nw[i], 1.0f);
  const auto* gate = file.FindTensor("blk.1.ffn_gate_inp.weight");
  const float* g = reinterpret_cast<const float*>(gate->data);
  double s2 = 0;
  for (int64_t i = 0; i < gate->nelements(); ++i) s2 += double(g[i]) * g[i];
  EXPECT_NEAR(std::sqrt(s2 / double(gate->nelements())), 0.02, 0.001);
  const auto* out = file.FindTensor("output.weight");
  uint16_t d;
  std::memcpy(&d, out->data + 18 * 100, 2);
  EXPECT_EQ(d, F32ToF16(0.0025f));
  auto tokens = file.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens.value()->size(), 1024u);
}

// The three layouts hold the same model (spec §2.4, §2.5): split2d's pair has the MLA pair's
// bytes; attn_kv_b's value rows are attn_v_b's rows and its key rows are attn_k_b transposed.
TEST(SynthTest, LayoutsHoldTheSameWeights) {
  const std::string dir = test::TempDir();
  SynthOptions o;
  o.layers = 1;
  o.vocab = 512;
  o.type = "q8_0";
  o.progress = false;
  std::unique_ptr<gguf::File> files[3];
  const Layout layouts[3] = {Layout::kMla, Layout::kSplit2D, Layout::kLegacy};
  for (int k = 0; k < 3; ++k) {
    o.layout = layouts[k];
    o.threads = k + 1;  // the content must not depend on it
    o.output_path = dir + "/l" + std::to_string(k) + ".gguf";
    auto r = WriteSyntheticModel(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    auto f = gguf::File::Open(o.output_path);
    ASSERT_TRUE(f.ok());
    files[k] = std::move(f.value());
  }
  EXPECT_EQ(DetectLayout(*files[1]).value(), TensorLayout::kSplit2D);
  EXPECT_EQ(DetectLayout(*files[2]).value(), TensorLayout::kLegacy);
  auto same = [&](int a, int b, const char* name) {
    const auto* x = files[a]->FindTensor(name);
    const auto* y = files[b]->FindTensor(name);
    ASSERT_TRUE(x && y) << name;
    ASSERT_EQ(x->nbytes, y->nbytes) << name;
    EXPECT_EQ(std::memcmp(x->data, y->data, x->nbytes), 0) << name;
  };
  for (const char* n : {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "output.weight"}) {
    same(0, 1, n);
    same(0, 2, n);
  }
  same(0, 1, "blk.0.attn_k_b.weight");
  same(0, 1, "blk.0.attn_v_b.weight");
  EXPECT_EQ(files[1]->FindTensor("blk.0.attn_k_b.weight")->ShapeString(), "{128, 8192}");

  const int64_t H = 16, r = 512, dn = 128, dv = 128, P = dn + dv;
  const auto* kb = files[0]->FindTensor("blk.0.attn_k_b.weight");
  const auto* vb = files[0]->FindTensor("blk.0.attn_v_b.weight");
  const auto* kvb = files[2]->FindTensor("blk.0.attn_kv_b.weight");
  ASSERT_EQ(kvb->ShapeString(), "{512, 4096}");
  same(1, 2, "blk.0.attn_kv_b.weight");
  std::vector<float> k(size_t(kb->nelements())), kv(size_t(kvb->nelements()));
  quant::DequantizeRow(kb->type, kb->data, k.data(), kb->nelements());
  quant::DequantizeRow(kvb->type, kvb->data, kv.data(), kvb->nelements());
  const size_t rb = RowBytes(DType::Q8_0, r);
  double max_err = 0;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < dv; ++j)
      ASSERT_EQ(std::memcmp(kvb->data + size_t(h * P + dn + j) * rb, vb->data + size_t(h * dv + j) * rb, rb), 0);
    for (int64_t d = 0; d < dn; ++d)
      for (int64_t c = 0; c < r; ++c)
        max_err = std::max(max_err, double(std::fabs(kv[size_t(c + r * (h * P + d))] -
                                                      k[size_t(d + dn * (c + r * h))])));
  }
  // Q8_0 of values that are Q8_0 already: within half a step of the block's new scale
  // (max|x|/127 ≈ 128·0.0025/127, plus its f16 rounding).
  EXPECT_LT(max_err, 0.0025 * 0.55);
  EXPECT_GT(max_err, 0.0);
}

// K-quant files: attn_k_b (128-element rows) falls back to a 32-block type; the rest stays K.
TEST(SynthTest, KQuantFallbackForShortRows) {
  const std::string dir = test::TempDir();
  SynthOptions o;
  o.layers = 1;
  o.vocab = 512;
  o.type = "q4_K";
  o.progress = false;
  o.output_path = dir + "/k.gguf";
  auto r = WriteSyntheticModel(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto f = gguf::File::Open(o.output_path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value()->FindTensor("blk.0.attn_q.weight")->type, DType::Q4_K);
  EXPECT_EQ(f.value()->FindTensor("blk.0.attn_k_b.weight")->type, DType::Q5_0);
  // dense ffn_down has 10944-element rows (not a multiple of 256)
  EXPECT_NE(f.value()->FindTensor("blk.0.ffn_down.weight")->type, DType::Q4_K);
  EXPECT_EQ(f.value()->FindTensor("blk.0.attn_v_b.weight")->type, DType::Q4_K);
}

TEST(SynthTest, WriterPartsMustAddUp) {
  const std::string dir = test::TempDir();
  auto w = gguf::Writer::Create(dir + "/p.gguf");
  ASSERT_TRUE(w.ok());
  const int64_t ne[2] = {32, 4};
  ASSERT_TRUE(w.value()->AddTensor("a", DType::Q8_0, 2, ne).ok());
  ASSERT_TRUE(w.value()->AddTensor("b", DType::F32, 1, ne).ok());
  std::vector<uint8_t> bytes(4 * 34, 1);
  ASSERT_TRUE(w.value()->WriteTensorPart("a", bytes.data(), 34).ok());
  EXPECT_FALSE(w.value()->WriteTensor("a", bytes.data(), bytes.size()).ok());  // already partly written
  EXPECT_FALSE(w.value()->WriteTensorPart("a", bytes.data(), 4 * 34).ok());    // too many bytes
  ASSERT_TRUE(w.value()->WriteTensorPart("a", bytes.data(), 3 * 34).ok());
  EXPECT_FALSE(w.value()->Finish().ok());  // "b" not written
  std::vector<float> b(32, 2.0f);
  ASSERT_TRUE(w.value()->WriteTensorPart("b", b.data(), 64).ok());
  ASSERT_TRUE(w.value()->WriteTensorPart("b", b.data() + 16, 64).ok());
  ASSERT_TRUE(w.value()->Finish().ok());
  auto f = gguf::File::Open(dir + "/p.gguf");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value()->FindTensor("a")->data[0], 1);
  EXPECT_EQ(reinterpret_cast<const float*>(f.value()->FindTensor("b")->data)[31], 2.0f);
}

}  // namespace
}  // namespace mla::convert
