// Weight binding: k_b / v_b derivation from attn_kv_b (spec §2.5), types kept for derived
// tensors, and that weights are used in place from the mapping (nothing near the file size is
// allocated).
#include <gtest/gtest.h>

#include <malloc.h>

#include <cstring>
#include <vector>

#include "base/fp16.h"
#include "model/model.h"
#include "model/latent_cache.h"
#include "model/weights.h"
#include "model/workspace.h"
#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "model_test_util.h"
#include "quant/quant.h"

namespace mla {
namespace {

using test::Model;

TEST(Weights, SplitKvBFollowsTheSpecIndexing) {
  const int64_t r_kv = 3, H = 2, d_n = 2, d_v = 4, P = d_n + d_v;
  std::vector<float> kvb(static_cast<size_t>(r_kv * H * P));
  for (size_t i = 0; i < kvb.size(); ++i) kvb[i] = float(i);
  std::vector<float> k_b(static_cast<size_t>(H * r_kv * d_n)), v_b(static_cast<size_t>(H * d_v * r_kv));
  SplitKvB(kvb.data(), r_kv, H, d_n, d_v, k_b.data(), v_b.data());
  for (int64_t h = 0; h < H; ++h)
    for (int64_t c = 0; c < r_kv; ++c) {
      // k_b[d, c, h] at d + d_n·(c + r_kv·h) = kvb[c, h·P + d] at c + r_kv·(h·P + d)
      for (int64_t d = 0; d < d_n; ++d)
        EXPECT_EQ(k_b[size_t(d + d_n * (c + r_kv * h))], kvb[size_t(c + r_kv * (h * P + d))]);
      // v_b[c, j, h] at c + r_kv·(j + d_v·h) = kvb[c, h·P + d_n + j]
      for (int64_t j = 0; j < d_v; ++j)
        EXPECT_EQ(v_b[size_t(c + r_kv * (j + d_v * h))], kvb[size_t(c + r_kv * (h * P + d_n + j))]);
    }
}

TEST(Weights, DerivedTypes) {
  EXPECT_EQ(DerivedKvType(DType::F32, 1), DType::F32);
  EXPECT_EQ(DerivedKvType(DType::F16, 1), DType::F16);
  EXPECT_EQ(DerivedKvType(DType::BF16, 1e30f), DType::BF16);
  EXPECT_EQ(DerivedKvType(DType::Q8_0, 3), DType::F16);
  EXPECT_EQ(DerivedKvType(DType::Q4_K, 1e6f), DType::F32);  // beyond f16 range
}

// The derived pair of a legacy file equals the converter's attn_k_b / attn_v_b of the mla file
// (the fixtures hold the same weights in both layouts), bit for bit in f32.
TEST(Weights, DerivedFromLegacyEqualsMlaLayout) {
  for (const char* name : {"ds2-lite-tiny", "ds3-tiny"}) {
    SCOPED_TRACE(name);
    auto legacy = mla::Model::Load(Model(std::string(name) + ".legacy.gguf"));
    auto mla = mla::Model::Load(Model(std::string(name) + ".mla.gguf"));
    auto split = mla::Model::Load(Model(std::string(name) + ".split2d.gguf"));
    ASSERT_TRUE(legacy.ok() && mla.ok() && split.ok());
    EXPECT_TRUE((*legacy)->weights().derived);
    EXPECT_EQ((*legacy)->weights().derived_type, DType::F32);
    EXPECT_FALSE((*mla)->weights().derived);
    EXPECT_FALSE((*split)->weights().derived);
    EXPECT_EQ((*mla)->weights().bytes_allocated, 0u);
    for (size_t il = 0; il < (*mla)->weights().layers.size(); ++il) {
      for (auto get : {+[](const LayerWeights& l) { return l.attn_k_b; },
                       +[](const LayerWeights& l) { return l.attn_v_b; }}) {
        const ops::Matrix a = get((*legacy)->weights().layers[il]);
        const ops::Matrix b = get((*mla)->weights().layers[il]);
        const ops::Matrix c = get((*split)->weights().layers[il]);
        ASSERT_EQ(a.n_in, b.n_in);
        ASSERT_EQ(a.n_out, b.n_out);
        ASSERT_EQ(c.n_out, b.n_out);
        EXPECT_EQ(0, std::memcmp(a.data, b.data, a.row_bytes * size_t(a.n_out)));
        EXPECT_EQ(0, std::memcmp(c.data, b.data, c.row_bytes * size_t(c.n_out)));
      }
    }
  }
}

// Quantized attn_kv_b: derived tensors are f16 copies of its dequantized values.
TEST(Weights, DerivedFromQuantizedKvB) {
  auto m = mla::Model::Load(Model("ds3-small.legacy.Q8_0.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Weights& w = (*m)->weights();
  const ModelConfig& c = (*m)->config();
  EXPECT_TRUE(w.derived);
  EXPECT_EQ(w.derived_type, DType::F16);
  // Two layers × (k_b + v_b) × H·r_kv·d_n values × 2 bytes, and nothing else.
  EXPECT_EQ(w.bytes_allocated, size_t(c.n_layer * 2 * c.n_head * c.kv_lora_rank * c.n_nope * 2));
  const gguf::TensorInfo* kvb = (*m)->file().FindTensor("blk.1.attn_kv_b.weight");
  ASSERT_NE(kvb, nullptr);
  const int64_t r_kv = c.kv_lora_rank, P = c.n_nope + c.n_v;
  std::vector<float> row(static_cast<size_t>(r_kv));
  const LayerWeights& l = w.layers[1];
  const uint16_t* k_b = reinterpret_cast<const uint16_t*>(l.attn_k_b.data);
  const uint16_t* v_b = reinterpret_cast<const uint16_t*>(l.attn_v_b.data);
  for (int64_t h : {0L, c.n_head - 1}) {
    for (int64_t d : {0L, c.n_nope - 1}) {
      quant::DequantizeRow(kvb->type, kvb->data + size_t(h * P + d) * kvb->row_bytes(), row.data(), r_kv);
      for (int64_t ci = 0; ci < r_kv; ++ci)
        EXPECT_EQ(k_b[(h * r_kv + ci) * c.n_nope + d], F32ToF16(row[size_t(ci)]));
    }
    for (int64_t j : {0L, c.n_v - 1}) {
      quant::DequantizeRow(kvb->type, kvb->data + size_t(h * P + c.n_nope + j) * kvb->row_bytes(), row.data(), r_kv);
      for (int64_t ci = 0; ci < r_kv; ++ci)
        EXPECT_EQ(v_b[(h * c.n_v + j) * r_kv + ci], F32ToF16(row[size_t(ci)]));
    }
  }
}

// NOTES "Forward pass": loading the Q4_K_M file allocates no more than what the load log
// reports as derived (here nothing): the weights are used from the mapping, or repacked into
// buffers that replace the mapping's pages of them (counted apart, weights.h).
TEST(Weights, QuantizedFileIsUsedInPlace) {
  const std::string path = Model("ds3-small.Q4_K_M.gguf");
  [[maybe_unused]] const size_t before = mallinfo2().uordblks;  // unused under ASan (below)
  auto m = mla::Model::Load(path);
  [[maybe_unused]] const size_t after = mallinfo2().uordblks;
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Weights& w = (*m)->weights();
  EXPECT_EQ(w.bytes_allocated, 0u);
  EXPECT_GT(w.bytes_mapped, (*m)->file().file_bytes() * 8 / 10);
  bool logged = false;
  for (const auto& line : (*m)->load_log()) logged |= line.find("0 B allocated") != std::string::npos;
  EXPECT_TRUE(logged);
#if !defined(__SANITIZE_ADDRESS__)
  // Heap growth: metadata (vocabulary strings, tensor infos) only, far below the file size.
  if (after > 0) {
    const size_t grown = after > before ? after - before : 0;
    EXPECT_LT(grown, w.bytes_allocated + (size_t(1) << 20));
    EXPECT_LT(grown, (*m)->file().file_bytes() / 4);
  }
#endif
}

TEST(Weights, MissingOrMisshapenTensorsAreErrors) {
  auto f = gguf::File::Open(Model("ds3-tiny.mla.gguf"));
  ASSERT_TRUE(f.ok());
  auto c = LoadConfig(**f, {});
  ASSERT_TRUE(c.ok());
  ModelConfig bad = *c;
  bad.kv_lora_rank = 16;  // the file's tensors say 32
  auto w = BindWeights(**f, bad);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("expected shape"), std::string::npos) << w.status().message();
}

}  // namespace
}  // namespace mla

namespace mla {
namespace {

// The workspace's attention scratch holds what either attention form needs for every cache type
// a session may pick (their layouts differ: a bf16 cache rebuilds K/V in bf16 beside f32 results).
TEST(Workspace, AttentionScratchFitsEveryCacheType) {
  auto m = mla::Model::Load(Model("ds3-small.Q4_0.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ModelConfig& c = (*m)->config();
  const Weights& w = (*m)->weights();
  for (int64_t n_batch : {int64_t(1), int64_t(512)}) {
    auto ws = Workspace::Create(c, w, n_batch, 2, false);
    ASSERT_TRUE(ws.ok()) << ws.status().message();
    for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
      const int64_t elems = LatentCache::RowElems(type, c.latent_row());
      const ops::LatentView view{type, nullptr, RowBytes(type, elems), c.kv_lora_rank, c.n_rope, elems};
      EXPECT_LE(ops::MlaAttentionScratchFloats(view, c.n_head), (*ws)->attn_scratch_floats) << Name(type);
      for (const LayerWeights& l : w.layers)
        EXPECT_LE(ops::MlaDecompressedScratchFloats(view, l.attn_k_b, l.attn_v_b, c.n_nope, c.n_v, n_batch),
                  (*ws)->attn_scratch_floats)
            << Name(type) << " batch " << n_batch;
    }
  }
}

}  // namespace
}  // namespace mla
