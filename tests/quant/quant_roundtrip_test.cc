// Quantize -> dequantize round trips: error budgets per type, importance weighting, activation
// formats and edge cases (spec §9).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "quant/quant.h"

namespace mla::quant {
namespace {

// Deterministic across standard libraries: mt19937 is fully specified, the transforms are ours.
class Rng {
 public:
  explicit Rng(uint32_t seed) : g_(seed) {}
  double Uniform() { return (double(g_() >> 5) + 0.5) / 134217728.0; }  // (0, 1)
  double Gauss() { return std::sqrt(-2 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform()); }
  double Laplace() { return Uniform() < 0.5 ? std::log(2 * Uniform()) : -std::log(2 * Uniform()); }

 private:
  std::mt19937 g_;
};

enum class Dist { kGauss, kHeavy, kUniform };

// Rows like weight matrices: Gaussian; heavy-tailed (Laplace with ~0.2% outliers of 8-20 sigma,
// per-row scale varying over 2 decades); uniform.
std::vector<float> MakeData(Dist dist, int rows, int n, uint32_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(rows) * n);
  for (int r = 0; r < rows; ++r) {
    const double scale = dist == Dist::kHeavy ? 0.01 * std::pow(10.0, 2 * rng.Uniform()) : 0.02;
    for (int i = 0; i < n; ++i) {
      double v;
      switch (dist) {
        case Dist::kGauss: v = rng.Gauss(); break;
        case Dist::kHeavy:
          v = rng.Laplace();
          if (rng.Uniform() < 0.002) v = (8 + 12 * rng.Uniform()) * (rng.Uniform() < 0.5 ? -1 : 1);
          break;
        default: v = 2 * rng.Uniform() - 1; break;
      }
      x[size_t(r) * n + i] = float(v * scale);
    }
  }
  return x;
}

std::vector<float> RoundTrip(DType type, const std::vector<float>& x, int n,
                             const float* importance = nullptr) {
  const int rows = int(x.size() / n);
  std::vector<uint8_t> q(RowBytes(type, n));
  std::vector<float> y(x.size());
  for (int r = 0; r < rows; ++r) {
    EXPECT_EQ(QuantizeRow(type, x.data() + size_t(r) * n, q.data(), n, importance), q.size());
    DequantizeRow(type, q.data(), y.data() + size_t(r) * n, n);
  }
  return y;
}

double RelRmse(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    s += double(x[i]) * x[i];
  }
  return std::sqrt(e / s);
}

constexpr int kRows = 16, kN = 2048;

struct Budget {
  DType type;
  double gauss, heavy, uniform;  // upper bounds of the relative RMSE, per distribution
};

// Relative RMSE bounds: measured values (in the comment, gauss/heavy/uniform) plus ~15%. They
// follow the bit widths: each bit halves the error (8 bits ~0.5%, 6 ~2%, 5 ~4%, 4 ~8%, 3 ~15%,
// 2 ~30% on Gaussian rows); the heavy-tailed rows cost more for types whose block extreme sets
// the step (Q8_K's 256-wide blocks, Q4_0/Q5_0), the K-quants' and IQ4's searches absorb it.
constexpr Budget kBudgets[] = {
    {DType::F16, 3e-4, 3e-4, 3e-4},         // 0.00021 0.00022 0.00022
    {DType::BF16, 2e-3, 2e-3, 2.1e-3},      // 0.00167 0.00165 0.00176
    {DType::Q8_0, 6.2e-3, 0.0105, 4.4e-3},  // 0.00537 0.00908 0.00376
    {DType::Q8_1, 6.2e-3, 0.0105, 4.4e-3},  // 0.00537 0.00908 0.00376
    {DType::Q8_K, 8e-3, 0.0223, 4.6e-3},    // 0.00695 0.01939 0.00392
    {DType::Q6_K, 0.0201, 0.0311, 0.0152},  // 0.01742 0.02704 0.01322
    {DType::Q5_K, 0.0413, 0.0563, 0.0314},  // 0.03584 0.04889 0.02730
    {DType::Q5_1, 0.0437, 0.0592, 0.0339},  // 0.03799 0.05142 0.02944
    {DType::Q5_0, 0.0493, 0.0851, 0.0359},  // 0.04284 0.07398 0.03119
    {DType::Q4_K, 0.0821, 0.1117, 0.0629},  // 0.07132 0.09711 0.05467
    {DType::Q4_1, 0.0901, 0.1212, 0.0699},  // 0.07834 0.10533 0.06074
    {DType::Q4_0, 0.0986, 0.1536, 0.0744},  // 0.08567 0.13355 0.06468
    {DType::IQ4_NL, 0.0877, 0.1238, 0.0735},  // 0.07630 0.10765 0.06388
    {DType::IQ4_XS, 0.0874, 0.1239, 0.0736},  // 0.07598 0.10773 0.06400
    {DType::Q3_K, 0.1704, 0.2212, 0.1381},  // 0.14817 0.19232 0.12013
    {DType::Q2_K, 0.3361, 0.3902, 0.2673},  // 0.29220 0.33926 0.23240
};

TEST(QuantRoundTrip, ErrorWithinBudgetOfEachType) {
  const auto g = MakeData(Dist::kGauss, kRows, kN, 1);
  const auto h = MakeData(Dist::kHeavy, kRows, kN, 2);
  const auto u = MakeData(Dist::kUniform, kRows, kN, 3);
  for (const Budget& b : kBudgets) {
    SCOPED_TRACE(Name(b.type));
    const double eg = RelRmse(g, RoundTrip(b.type, g, kN));
    const double eh = RelRmse(h, RoundTrip(b.type, h, kN));
    const double eu = RelRmse(u, RoundTrip(b.type, u, kN));
    std::printf("%-7s relative RMSE gauss %.5f heavy %.5f uniform %.5f\n", Name(b.type), eg, eh, eu);
    EXPECT_LE(eg, b.gauss);
    EXPECT_LE(eh, b.heavy);
    EXPECT_LE(eu, b.uniform);
  }
}

// Per-column importance like an imatrix (log-normal, spread over ~3 decades). With it, the
// importance-weighted error must never exceed the plain quantizer's (QuantizeRow guarantees it per
// block) and must drop clearly for the types whose searches use it (measured ratios 0.31..0.82).
TEST(QuantRoundTrip, ImportanceLowersWeightedError) {
  const auto x = MakeData(Dist::kHeavy, kRows, kN, 5);
  std::vector<float> imp(kN);
  Rng rng(9);
  for (float& v : imp) v = float(std::exp(2 * rng.Gauss()));
  for (const Budget& b : kBudgets) {
    SCOPED_TRACE(Name(b.type));
    const auto yw = RoundTrip(b.type, x, kN, imp.data());
    const auto yp = RoundTrip(b.type, x, kN);
    double ew = 0, ep = 0;
    for (int r = 0; r < kRows; ++r) {
      const size_t o = size_t(r) * kN;
      const double rw = WeightedSquaredError(x.data() + o, yw.data() + o, kN, imp.data());
      const double rp = WeightedSquaredError(x.data() + o, yp.data() + o, kN, imp.data());
      EXPECT_LE(rw, rp) << "row " << r;
      ew += rw;
      ep += rp;
    }
    std::printf("%-7s weighted error with/without importance %.4f\n", Name(b.type), ew / ep);
    if (Traits(b.type).uses_importance) {
      EXPECT_LT(ew, 0.9 * ep);
    } else {
      EXPECT_EQ(yw, yp);  // float and activation types ignore importance
    }
  }
}

}  // namespace
}  // namespace mla::quant
