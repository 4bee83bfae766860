// The fused absorbed attention against a plain two-pass softmax in double, for every cache type,
// and its independence of the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "base/fp16.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

namespace mla::ops {
namespace {

struct Case {
  DType type;
  int64_t n_latent, n_rope;
};

class MlaAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(MlaAttentionTest, MatchesTwoPassSoftmax) {
  const Case c = GetParam();
  const int64_t n_head = 3, n_ctx = 1100, n_tok = 4, nk = c.n_latent + c.n_rope;
  const int64_t block = Info(c.type).block_elems;
  const int64_t row_elems = (nk + block - 1) / block * block;
  const size_t row_bytes = RowBytes(c.type, row_elems);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 1);

  // Cache rows, stored in the type, and their dequantized values (the reference's input).
  std::vector<uint8_t> cache(row_bytes * size_t(n_ctx));
  std::vector<float> rows(static_cast<size_t>(row_elems * n_ctx), 0.0f);
  for (int64_t r = 0; r < n_ctx; ++r) {
    std::vector<float> v(static_cast<size_t>(row_elems), 0.0f);
    for (int64_t i = 0; i < nk; ++i) v[size_t(i)] = nd(rng);
    quant::QuantizeRow(c.type, v.data(), cache.data() + size_t(r) * row_bytes, row_elems);
    quant::DequantizeRow(c.type, cache.data() + size_t(r) * row_bytes, rows.data() + r * row_elems,
                         row_elems);
  }
  const LatentView view{c.type, cache.data(), row_bytes, c.n_latent, c.n_rope, row_elems};
  std::vector<float> q(static_cast<size_t>(n_tok * n_head * nk));
  for (float& v : q) v = nd(rng);
  // Visible lengths: below a chunk (one range), across chunk boundaries (129 rows: 3 ranges of a
  // chunk each), ranges of several chunks merged (600 rows: 8 of 1-2 chunks; 1100: 8 of 2-3), the
  // whole cache.
  std::vector<int64_t> vis = {1, 129, 600, n_ctx};
  const float scale = 0.3f;

  MlaAttentionArgs a;
  a.n_tokens = n_tok;
  a.n_head = n_head;
  a.q = q.data();
  a.q_stride = nk;
  a.n_visible = vis.data();
  a.scale = scale;
  std::vector<float> out1(static_cast<size_t>(n_tok * n_head * c.n_latent)), out2(out1.size()),
      out3(out1.size());
  ThreadPool one(1), two(2), eight(8);
  std::vector<float> scratch(MlaAttentionScratchFloats(view, n_head) * 8);
  a.o_lat = out1.data();
  MlaAttention(one, view, a, scratch.data());
  a.o_lat = out2.data();
  MlaAttention(two, view, a, scratch.data());
  a.o_lat = out3.data();
  MlaAttention(eight, view, a, scratch.data());  // more threads than tokens: ranges split
  EXPECT_EQ(out1, out2);
  EXPECT_EQ(out1, out3);

  // Where bf16 rows pair with bf16 activations (VDPBF16PS), the kernels round the queries and
  // the softmax weights to bf16: the reference rounds the queries too, and the weights' rounding
  // (relative 2^-9 each) bounds the rest by 2^-8 of the weighted mean of |value|.
  const bool bf16_pairs = kernels::ActivationType(c.type) == DType::BF16;
  if (bf16_pairs)
    for (float& v : q) v = BF16ToF32(F32ToBF16(v));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t h = 0; h < n_head; ++h) {
      const float* qh = q.data() + (t * n_head + h) * nk;
      std::vector<double> s(static_cast<size_t>(vis[size_t(t)]));
      double mx = -1e300;
      for (int64_t r = 0; r < vis[size_t(t)]; ++r) {
        double d = 0;
        for (int64_t i = 0; i < nk; ++i) d += double(qh[i]) * rows[size_t(r * row_elems + i)];
        s[size_t(r)] = scale * d;
        mx = std::max(mx, s[size_t(r)]);
      }
      double z = 0;
      for (double& v : s) z += (v = std::exp(v - mx));
      for (int64_t ci = 0; ci < c.n_latent; ++ci) {
        double o = 0, mag = 0;
        for (int64_t r = 0; r < vis[size_t(t)]; ++r) {
          o += s[size_t(r)] / z * rows[size_t(r * row_elems + ci)];
          mag += s[size_t(r)] / z * std::fabs(rows[size_t(r * row_elems + ci)]);
        }
        EXPECT_NEAR(out1[size_t((t * n_head + h) * c.n_latent + ci)], o, 2e-5 + (bf16_pairs ? mag / 256 : 0))
            << "t " << t << " h " << h << " c " << ci;
      }
    }
}

// The decompressed form over several chunks (300 prompt tokens: rows 0-127, 128-255, 256-299):
// tokens that see none of a chunk skip it, and the batch gives the bits of one token per call,
// in f32 (f16 cache) and bf16 (bf16 cache) arithmetic, for a prompt from row 0 and at depth;
// with Q4_0 weights the f16 cache's K/V rebuild runs in the 8-bit kernels (interleaved Q8_0).
class MlaDecompressedTest : public ::testing::TestWithParam<DType> {};

TEST_P(MlaDecompressedTest, BatchEqualsTokenByToken) {
  const DType weights = GetParam();
  const int64_t H = 2, r_kv = 32, d_r = 8, d_n = 32, d_v = 16, d_qk = d_n + d_r, n_ctx = 300;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> kb(size_t(H * r_kv * d_n)), vb(size_t(H * d_v * r_kv));
  for (float& v : kb) v = nd(rng) * 0.2f;
  for (float& v : vb) v = nd(rng) * 0.2f;
  // The weights in their type; kb / vb then hold the values they decode to (the reference's).
  auto store = [&](std::vector<float>& x, int64_t n_in, std::vector<uint8_t>& buf) {
    const int64_t n_rows = int64_t(x.size()) / n_in;
    const size_t rb = RowBytes(weights, n_in);
    buf.resize(rb * size_t(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
      quant::QuantizeRow(weights, x.data() + r * n_in, buf.data() + size_t(r) * rb, n_in);
      quant::DequantizeRow(weights, buf.data() + size_t(r) * rb, x.data() + r * n_in, n_in);
    }
    return Matrix{weights, buf.data(), n_in, n_rows, rb};
  };
  std::vector<uint8_t> kb_buf, vb_buf;
  const Matrix k_b = store(kb, d_n, kb_buf), v_b = store(vb, r_kv, vb_buf);
  // f32 weights: rounding only; Q4_0 weights: Q8_0 activations of the cached rows and Q8_0
  // requantized weights: about 1 % of an output (measured: 0.017 on 1.01 where one row is seen).
  const double tolerance = weights == DType::F32 ? 1e-4 : 3e-2;
  for (DType type : {DType::F16, DType::BF16}) {
    const int64_t row_elems = r_kv + d_r;
    const size_t row_bytes = RowBytes(type, row_elems);
    std::vector<uint8_t> cache(row_bytes * size_t(n_ctx));
    std::vector<float> v(static_cast<size_t>(row_elems));
    for (int64_t r = 0; r < n_ctx; ++r) {
      for (float& x : v) x = nd(rng);
      quant::QuantizeRow(type, v.data(), cache.data() + size_t(r) * row_bytes, row_elems);
    }
    const LatentView view{type, cache.data(), row_bytes, r_kv, d_r, row_elems};
    for (int64_t row0 : {int64_t(0), int64_t(200)}) {
      const int64_t n = n_ctx - row0;
      std::vector<float> q(size_t(n * H * d_qk));
      for (float& x : q) x = nd(rng);
      std::vector<int64_t> vis(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) vis[size_t(t)] = row0 + t + 1;
      ThreadPool pool(2);
      std::vector<float> scratch(MlaDecompressedScratchFloats(view, k_b, v_b, d_n, d_v, n) * 2);
      MlaDecompressedArgs a;
      a.n_head = H;
      a.n_nope = d_n;
      a.n_v = d_v;
      a.q_stride = H * d_qk;
      a.scale = 0.2f;
      std::vector<float> batch(size_t(n * H * d_v)), one(batch.size());
      a.n_tokens = n;
      a.q = q.data();
      a.n_visible = vis.data();
      a.o = batch.data();
      MlaAttentionDecompressed(pool, view, k_b, v_b, a, scratch.data());
      for (int64_t t = 0; t < n; ++t) {
        a.n_tokens = 1;
        a.q = q.data() + t * H * d_qk;
        a.n_visible = vis.data() + t;
        a.o = one.data() + t * H * d_v;
        MlaAttentionDecompressed(pool, view, k_b, v_b, a, scratch.data());
      }
      for (size_t i = 0; i < batch.size(); ++i)
        ASSERT_EQ(batch[i], one[i]) << Name(type) << " row0 " << row0 << " token " << i / (H * d_v);
      if (type != DType::F16) continue;
      // And the f16 batch against attention in double over every visible row.
      std::vector<float> rows(static_cast<size_t>(n_ctx * row_elems));
      for (int64_t r = 0; r < n_ctx; ++r)
        quant::DequantizeRow(type, cache.data() + size_t(r) * row_bytes, rows.data() + r * row_elems, row_elems);
      for (int64_t t = 0; t < n; t += 7)
        for (int64_t h = 0; h < H; ++h) {
          const float* qh = q.data() + (t * H + h) * d_qk;
          std::vector<double> p(static_cast<size_t>(vis[size_t(t)])), o(size_t(d_v), 0.0);
          double mx = -1e300, z = 0;
          for (int64_t r = 0; r < vis[size_t(t)]; ++r) {
            const float* c = rows.data() + r * row_elems;
            double s = 0;
            for (int64_t d = 0; d < d_n; ++d) {
              double k = 0;  // K_nope[d] = W_UK[d] · c, W_UK stored transposed (row c: d_n values)
              for (int64_t i = 0; i < r_kv; ++i) k += double(kb[size_t((h * r_kv + i) * d_n + d)]) * c[i];
              s += qh[d] * k;
            }
            for (int64_t d = 0; d < d_r; ++d) s += double(qh[d_n + d]) * c[r_kv + d];
            p[size_t(r)] = 0.2 * s;
            mx = std::max(mx, p[size_t(r)]);
          }
          for (double& x : p) z += (x = std::exp(x - mx));
          for (int64_t r = 0; r < vis[size_t(t)]; ++r)
            for (int64_t j = 0; j < d_v; ++j) {
              double vj = 0;
              for (int64_t i = 0; i < r_kv; ++i)
                vj += double(vb[size_t((h * d_v + j) * r_kv + i)]) * rows[size_t(r * row_elems + i)];
              o[size_t(j)] += p[size_t(r)] / z * vj;
            }
          for (int64_t j = 0; j < d_v; ++j)
            ASSERT_NEAR(batch[size_t((t * H + h) * d_v + j)], o[size_t(j)], tolerance * std::max(1.0, std::abs(o[size_t(j)])))
                << "row0 " << row0 << " t " << t;
        }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, MlaDecompressedTest, ::testing::Values(DType::F32, DType::Q4_0),
                         [](const auto& info) { return std::string(Name(info.param)); });

INSTANTIATE_TEST_SUITE_P(CacheTypes, MlaAttentionTest,
                         ::testing::Values(Case{DType::F32, 32, 8}, Case{DType::F16, 32, 8},
                                           Case{DType::BF16, 64, 16},
                                           Case{DType::Q8_0, 32, 8},  // 40 values padded to 64
                                           Case{DType::Q8_0, 64, 32}),
                         [](const auto& info) {
                           return std::string(Name(info.param.type)) + "_" +
                                  std::to_string(info.param.n_latent);
                         });

}  // namespace
}  // namespace mla::ops

namespace mla::ops {
namespace {

// spec §3.7, V3 shapes (H 128, r_kv 512, d_n 128, d_r 64, d_v 128): absorbed decode costs
// 16,777,216 + 139,264·T multiply-adds; rebuilding K/V from the latent costs
// T·H·r_kv·(d_n + d_v) + H·T·(d_qk + d_v), after staging the H·r_kv·(d_n + d_v) weights.
TEST(MlaCost, SpecNumbersAndChoice) {
  const int64_t T = 4096;
  const MlaCost decode = EstimateMlaCost(128, 512, 128, 64, 128, 1, &T);
  EXPECT_EQ(decode.absorbed, 16777216.0 + 139264.0 * T);
  EXPECT_EQ(decode.decompressed, (T + kMlaStageCost) * 128 * 512 * 256 + 128.0 * T * 320);
  EXPECT_LT(decode.absorbed, decode.decompressed);
  // A 2048-token prefill from position 0: decompressing once per batch wins.
  std::vector<int64_t> vis(2048);
  for (size_t i = 0; i < vis.size(); ++i) vis[i] = int64_t(i) + 1;
  const MlaCost prefill = EstimateMlaCost(128, 512, 128, 64, 128, 2048, vis.data());
  EXPECT_LT(prefill.decompressed, prefill.absorbed);
}

// The integer rebuild's measured rate moves the switch (attention_bench Choice/*, V2-Lite heads
// at depth 8192: decompressed measured faster from ~120 tokens): a 128-token batch decompresses
// with it and not at the f32 rate; a 64-token batch stays absorbed either way.
TEST(MlaCost, IntegerRebuildMovesTheSwitch) {
  auto at_depth = [](int64_t m, double rebuild_cost) {
    std::vector<int64_t> vis(static_cast<size_t>(m));
    for (int64_t t = 0; t < m; ++t) vis[size_t(t)] = 8192 + t + 1;
    return EstimateMlaCost(16, 512, 128, 64, 128, m, vis.data(), rebuild_cost);
  };
  const LatentView f16{DType::F16, nullptr, 1152, 512, 64, 576};
  const LatentView bf16{DType::BF16, nullptr, 1152, 512, 64, 576};
  const Matrix k_b{DType::Q4_0, nullptr, 128, 16 * 512, RowBytes(DType::Q4_0, 128)};
  const Matrix v_b{DType::Q4_0, nullptr, 512, 16 * 128, RowBytes(DType::Q4_0, 512)};
  const Matrix k_f32{DType::F32, nullptr, 128, 16 * 512, 128 * 4};
  const double integer = MlaRebuildCost(f16, k_b, v_b, 128, 128);
  EXPECT_LT(integer, 1.0);
  EXPECT_EQ(MlaRebuildCost(bf16, k_b, v_b, 128, 128), 1.0);  // a bf16 cache rebuilds in bf16
  EXPECT_EQ(MlaRebuildCost(f16, k_f32, v_b, 128, 128), 1.0);  // f32 weights: the f32 rebuild
  const MlaCost m128 = at_depth(128, integer), m128_f32 = at_depth(128, 1.0), m64 = at_depth(64, integer);
  EXPECT_LT(m128.decompressed, m128.absorbed);
  EXPECT_GT(m128_f32.decompressed, m128_f32.absorbed);
  EXPECT_GT(m64.decompressed, m64.absorbed);
}

// The first token of a generation sees one row: rebuilding that row is cheaper than absorbing
// the query, but staging the weights is not (attention_bench Prefill/f16/t2/ctx1/m1), so it stays
// absorbed; so do short batches from position 0, while a 512-token prompt decompresses.
TEST(MlaCost, StagingKeepsTinyBatchesAbsorbed) {
  auto from_start = [](int64_t m) {
    std::vector<int64_t> vis(static_cast<size_t>(m));
    for (int64_t t = 0; t < m; ++t) vis[size_t(t)] = t + 1;
    return EstimateMlaCost(16, 512, 128, 64, 128, m, vis.data(), 0.65);
  };
  for (int64_t m : {1, 2, 16, 32}) {
    const MlaCost c = from_start(m);
    EXPECT_LT(c.absorbed, c.decompressed) << m;
  }
  const MlaCost prompt = from_start(512);
  EXPECT_LT(prompt.decompressed, prompt.absorbed);
}

}  // namespace
}  // namespace mla::ops
