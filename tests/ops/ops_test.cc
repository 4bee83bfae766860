// Element-wise ops, top-k ties and the matmul's determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "ops/activation.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/softmax.h"
#include "ops/topk.h"
#include "quant/quant.h"

namespace mla::ops {
namespace {

TEST(Ops, RmsNorm) {
  const float x[4] = {1, -2, 3, -4};
  const float w[4] = {1, 0.5f, 2, 1};
  float y[4];
  RmsNorm(x, w, y, 4, 1e-6f);
  const double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-6);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], x[i] / rms * w[i], 1e-6);
}

TEST(Ops, SoftmaxAndSigmoid) {
  float x[3] = {1, 2, 3};
  Softmax(x, 3);
  const double z = std::exp(-2.0) + std::exp(-1.0) + 1;
  EXPECT_NEAR(x[0], std::exp(-2.0) / z, 1e-7);
  EXPECT_NEAR(x[2], 1 / z, 1e-7);
  float big[2] = {1000, 1000};  // max subtracted: no overflow
  Softmax(big, 2);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  float s[2] = {0, -2};
  Sigmoid(s, 2);
  EXPECT_FLOAT_EQ(s[0], 0.5f);
  EXPECT_NEAR(s[1], 1 / (1 + std::exp(2.0)), 1e-7);
}

TEST(Ops, SiluMul) {
  const float g[3] = {0, 1, -3}, u[3] = {5, 2, 1};
  float o[3];
  SiluMul(g, u, o, 3);
  EXPECT_FLOAT_EQ(o[0], 0);
  EXPECT_NEAR(o[1], 2 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(o[2], -3 / (1 + std::exp(3.0)), 1e-6);
}

TEST(Ops, TopKPrefersLowerIndexOnTies) {
  const float inf = std::numeric_limits<float>::infinity();
  const float v[8] = {0.5f, 0.9f, 0.5f, -inf, 0.9f, std::nanf(""), 0.1f, -inf};
  int32_t idx[8];
  TopK(v, 8, 8, idx);
  const int32_t want[8] = {1, 4, 0, 2, 6, 3, 7, 5};  // NaN last
  for (int i = 0; i < 8; ++i) EXPECT_EQ(idx[i], want[i]) << i;
  int32_t top2[2];
  TopK(v, 8, 2, top2);
  EXPECT_EQ(top2[0], 1);
  EXPECT_EQ(top2[1], 4);
}

// Naive reference: dequantize the row, dot in double.
std::vector<double> Reference(const Matrix& w, const float* x, int64_t n_tokens) {
  std::vector<double> y(static_cast<size_t>(n_tokens * w.n_out));
  std::vector<float> row(static_cast<size_t>(w.n_in));
  for (int64_t o = 0; o < w.n_out; ++o) {
    quant::DequantizeRow(w.type, w.data + size_t(o) * w.row_bytes, row.data(), w.n_in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double s = 0;
      for (int64_t i = 0; i < w.n_in; ++i) s += double(row[size_t(i)]) * x[t * w.n_in + i];
      y[size_t(t * w.n_out + o)] = s;
    }
  }
  return y;
}

class MatMulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatMulTest, MatchesReferenceAndIsThreadCountIndependent) {
  const DType type = GetParam();
  const int64_t n_in = 256, n_out = 70, n_tok = 5;  // 70 rows: not a multiple of the chunk
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> wf(static_cast<size_t>(n_in * n_out)), x(static_cast<size_t>(n_in * n_tok));
  for (float& v : wf) v = nd(rng);
  for (float& v : x) v = nd(rng);
  const size_t rb = RowBytes(type, n_in);
  std::vector<uint8_t> wq(rb * size_t(n_out));
  for (int64_t o = 0; o < n_out; ++o)
    quant::QuantizeRow(type, wf.data() + o * n_in, wq.data() + size_t(o) * rb, n_in);
  const Matrix w{type, wq.data(), n_in, n_out, rb};
  const std::vector<double> ref = Reference(w, x.data(), n_tok);

  std::vector<float> y1(static_cast<size_t>(n_tok * n_out)), y2(y1.size()), y3(y1.size());
  std::vector<uint8_t> scratch(MatMulScratchBytes(w, n_tok));
  ThreadPool one(1), three(3);
  MatMul(one, w, x.data(), n_in, n_tok, y1.data(), n_out, scratch.data());
  MatMul(three, w, x.data(), n_in, n_tok, y2.data(), n_out, scratch.data());
  EXPECT_EQ(y1, y2);  // bit-identical for any thread count
  // Single-token path (GEMV) per token.
  for (int64_t t = 0; t < n_tok; ++t)
    MatMul(three, w, x.data() + t * n_in, n_in, 1, y3.data() + t * n_out, n_out, scratch.data());
  // The kernels may quantize activations (Q8 pairing), so the tolerance is relative to
  // |w_o|·|x_t| (a wrong row or token would be off by about that much): 1e-4 of it for f32
  // weights, 1e-2 for the others (whose activations may be f16/bf16/q8).
  const bool is_float = type == DType::F32;
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    quant::DequantizeRow(type, wq.data() + size_t(o) * rb, row.data(), n_in);
    double wn = 0;
    for (float v : row) wn += double(v) * v;
    for (int64_t t = 0; t < n_tok; ++t) {
      double xn = 0;
      for (int64_t i = 0; i < n_in; ++i) xn += double(x[size_t(t * n_in + i)]) * x[size_t(t * n_in + i)];
      const double tol = (is_float ? 1e-4 : 1e-2) * std::sqrt(wn * xn);
      const size_t i = size_t(t * n_out + o);
      EXPECT_NEAR(y1[i], ref[i], tol) << "row " << o << " token " << t;
      EXPECT_NEAR(y3[i], y1[i], tol) << "row " << o << " token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatMulTest,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0,
                                           DType::Q4_K, DType::Q6_K),
                         [](const auto& info) { return std::string(Name(info.param)); });

TEST(Ops, MatMulGroupsIsPerGroupMatMul) {
  // 3 groups of 4 rows × 32 inputs; group g reads x at offset g·40 and writes y at g·4.
  const int64_t G = 3, R = 4, n_in = 32, n_tok = 2, ldx = G * 40, ldy = G * 4;
  std::vector<float> wf(static_cast<size_t>(G * R * n_in)), x(static_cast<size_t>(n_tok * ldx));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = float(int(i % 13) - 6) / 8;
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 5) - 2);
  const Matrix w{DType::F32, reinterpret_cast<const uint8_t*>(wf.data()), n_in, G * R,
                 size_t(n_in) * 4};
  std::vector<float> y(static_cast<size_t>(n_tok * ldy));
  std::vector<uint8_t> scratch(MatMulScratchBytes(w, n_tok * G));
  ThreadPool pool(2);
  MatMulGroups(pool, w, G, x.data(), ldx, 40, n_tok, y.data(), ldy, 4, scratch.data());
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t r = 0; r < R; ++r) {
        double s = 0;
        for (int64_t i = 0; i < n_in; ++i)
          s += double(wf[size_t((g * R + r) * n_in + i)]) * x[size_t(t * ldx + g * 40 + i)];
        EXPECT_NEAR(y[size_t(t * ldy + g * 4 + r)], s, 1e-4);
      }
}

}  // namespace
}  // namespace mla::ops
