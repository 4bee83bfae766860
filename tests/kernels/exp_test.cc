// kernels::MaxValue, kernels::ExpSum (the online softmax's pieces) and kernels::SiluMul against their scalar twins
// on every ISA, and the polynomial exp against std::exp.
#include <gtest/gtest.h>

#include <cfloat>
#include <limits>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace mla::kernels::test {
namespace {

using ExpSumFn = float (*)(float*, int64_t, float, float);
using MaxFn = float (*)(const float*, int64_t);

struct ExpIsa {
  std::string name;
  ExpSumFn exp_sum;
  MaxFn max;
};

std::vector<ExpIsa> SimdIsas() {
  const CpuFeatures cpu = DetectCpu();
  std::vector<ExpIsa> v;
  if (cpu.avx2) v.push_back({"avx2", avx2::ExpSum, avx2::MaxValue});
  if (cpu.avx512) v.push_back({"avx512", avx512::ExpSum, avx512::MaxValue});
  return v;
}

// Scores from -120 to +30 (so scaled and shifted arguments cover the cut-off at kMinArg, the
// subnormal results just above it and exact zeros), lengths with and without a tail.
TEST(KernelsExp, EveryIsaMatchesScalarTwin) {
  std::mt19937 rng(41);
  std::uniform_real_distribution<float> u(-120.f, 30.f);
  for (int64_t n : {1, 7, 16, 37, 64, 129}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = u(rng);
    x[0] = 0.f;
    const float scale = 0.9f, shift = scalar::MaxValue(x.data(), n) * scale;
    std::vector<float> want = x;
    const float want_sum = scalar::ExpSum(want.data(), n, scale, shift);
    for (const ExpIsa& isa : SimdIsas()) {
      EXPECT_TRUE(SameBits(isa.max(x.data(), n), scalar::MaxValue(x.data(), n))) << isa.name << " n=" << n;
      std::vector<float> got = x;
      EXPECT_TRUE(SameBits(isa.exp_sum(got.data(), n, scale, shift), want_sum)) << isa.name << " n=" << n;
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(SameBits(got[size_t(i)], want[size_t(i)])) << isa.name << " n=" << n << " at " << i;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += want[size_t(i)];
    EXPECT_NEAR(want_sum, sum, 1e-6 * sum);
  }
}

// SiLU(gate)·up on every ISA equals the scalar twin bit for bit (gates from -100 to 100, so the
// polynomial's clamp and cut-off are crossed, in place and with a tail) and std::exp's SiLU
// within 1e-6 relative.
TEST(KernelsExp, SiluMulEveryIsaMatchesScalarTwin) {
  using SiluFn = void (*)(const float*, const float*, float*, int64_t);
  std::vector<std::pair<std::string, SiluFn>> isas;
  const CpuFeatures cpu = DetectCpu();
  if (cpu.avx2) isas.push_back({"avx2", avx2::SiluMul});
  if (cpu.avx512) isas.push_back({"avx512", avx512::SiluMul});
  std::mt19937 rng(43);
  std::uniform_real_distribution<float> ug(-100.f, 100.f), uu(-2.f, 2.f);
  for (int64_t n : {1, 7, 16, 37, 1408}) {
    std::vector<float> g(static_cast<size_t>(n)), u(g.size()), want(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      g[i] = i % 3 == 0 ? ug(rng) : ug(rng) / 20.f;
      u[i] = uu(rng);
    }
    scalar::SiluMul(g.data(), u.data(), want.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double z = g[size_t(i)], ref = z / (1.0 + std::exp(-z)) * u[size_t(i)];
      ASSERT_NEAR(want[size_t(i)], ref, 1e-6 * std::fabs(ref) + 1e-30) << "g=" << z;
    }
    for (const auto& [name, fn] : isas) {
      std::vector<float> got = g;  // in place over the gate, as the MoE calls it
      fn(got.data(), u.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(SameBits(got[size_t(i)], want[size_t(i)])) << name << " n=" << n << " at " << i;
    }
  }
}

// The polynomial stays within 3e-7 relative of std::exp over the softmax's range, is exactly 1
// at 0, and 0 below the cut-off.
TEST(KernelsExp, PolynomialMatchesStdExp) {
  double worst = 0;
  for (float x = -87.f; x <= 0.f; x += 0.0137f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(scalar::ExpPoly(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(scalar::ExpPoly(0.f), 1.f);
  EXPECT_EQ(scalar::ExpPoly(-88.f), 0.f);
  EXPECT_EQ(scalar::ExpPoly(-std::numeric_limits<float>::infinity()), 0.f);
  EXPECT_EQ(scalar::MaxValue(nullptr, 0), -std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace mla::kernels::test
