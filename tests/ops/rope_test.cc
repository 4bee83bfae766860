// YaRN tables and the softmax scale against the numbers of spec §3.3 / §3.4.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ops/rope.h"

namespace mla::ops {
namespace {

RopeParams V3Params() {
  RopeParams p;
  p.n_rot = 64;
  p.freq_base = 10000;
  p.yarn = true;
  p.factor = 40;
  p.orig_ctx = 4096;
  p.beta_fast = 32;
  p.beta_slow = 1;
  return p;
}

TEST(Rope, YarnCorrDimsV2V3) {
  const RopeParams p = V3Params();
  EXPECT_NEAR(YarnCorrDim(64, 10000, 4096, 32), 10.472, 1e-3);
  EXPECT_NEAR(YarnCorrDim(64, 10000, 4096, 1), 22.513, 1e-3);
  const YarnRange r = YarnCorrRange(p);
  EXPECT_EQ(r.low, 10);
  EXPECT_EQ(r.high, 23);
}

TEST(Rope, YarnCorrDimsKimiK2) {
  RopeParams p = V3Params();
  p.freq_base = 50000;
  p.beta_fast = 1;
  p.beta_slow = 1;
  EXPECT_NEAR(YarnCorrDim(64, 50000, 4096, 1), 19.165, 1e-3);
  const YarnRange r = YarnCorrRange(p);
  EXPECT_EQ(r.low, 19);
  EXPECT_EQ(r.high, 20);
}

TEST(Rope, YarnFrequencyBlend) {
  const Rope rope(V3Params());
  ASSERT_EQ(rope.n_pairs(), 32);
  for (int i = 0; i < 32; ++i) {
    const double extrap = std::pow(10000.0, -2.0 * i / 64);
    const double f = rope.freqs()[size_t(i)];
    if (i <= 10) {
      EXPECT_DOUBLE_EQ(f, extrap) << i;  // original frequency
    } else if (i >= 23) {
      EXPECT_NEAR(f, extrap / 40, 1e-18) << i;  // fully interpolated
    } else {
      const double ramp = (i - 10) / 13.0;
      EXPECT_NEAR(f, extrap / 40 * ramp + extrap * (1 - ramp), 1e-15) << i;
    }
  }
}

TEST(Rope, PlainAndLinear) {
  RopeParams p;
  p.n_rot = 8;
  p.freq_base = 10000;
  const Rope plain(p);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(plain.freqs()[size_t(i)], std::pow(10000.0, -i / 4.0));
  p.factor = 4;
  const Rope linear(p);
  for (int i = 0; i < 4; ++i)
    EXPECT_DOUBLE_EQ(linear.freqs()[size_t(i)], std::pow(10000.0, -i / 4.0) / 4);
}

TEST(Rope, AttentionScaleTable) {
  // spec §3.4 table: (s, yarn_log_multiplier = 0.1·mscale_all_dim) -> scale, d_qk = 192.
  EXPECT_NEAR(AttentionScale(false, 1, 0, 192), 0.0721688, 1e-7);
  EXPECT_NEAR(AttentionScale(true, 40, 0.0707, 192), 0.1147214, 1e-7);
  EXPECT_NEAR(AttentionScale(true, 40, 0.1, 192), 0.1352338, 1e-7);
  EXPECT_NEAR(AttentionScale(true, 32, 0.1, 192), 0.1308608, 1e-7);
  EXPECT_NEAR(AttentionScale(true, 64, 0.1, 192), 0.1446796, 1e-7);
  EXPECT_NEAR(YarnMScale(40, 0.707), 1.2608038, 1e-7);
  EXPECT_NEAR(YarnMScale(40, 1.0), 1.3688879, 1e-7);
  EXPECT_EQ(YarnMScale(1, 1.0), 1.0);
}

TEST(Rope, AdjacentPairsUnitMagnitude) {
  const Rope rope(V3Params());
  std::vector<float> cos(32), sin(32);
  rope.CosSin(1000, cos.data(), sin.data());
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[size_t(i)] = float(i % 7) - 3.0f;
  std::vector<float> y = x;
  rope.Rotate(y.data(), cos.data(), sin.data());
  for (int i = 0; i < 32; ++i) {
    // Pairs (2i, 2i+1), spec §3.3 formula, with the angle in double.
    const double th = 1000.0 * rope.freqs()[size_t(i)];
    const double a = x[2 * size_t(i)], b = x[2 * size_t(i) + 1];
    EXPECT_NEAR(y[2 * size_t(i)], a * std::cos(th) - b * std::sin(th), 1e-5);
    EXPECT_NEAR(y[2 * size_t(i) + 1], a * std::sin(th) + b * std::cos(th), 1e-5);
    EXPECT_NEAR(std::hypot(y[2 * size_t(i)], y[2 * size_t(i) + 1]), std::hypot(a, b), 1e-5);
  }
}

TEST(Rope, RotationsCompose) {
  // R(p + δ) = R(δ)·R(p): what the context shift relies on (spec §5.4).
  const Rope rope(V3Params());
  std::vector<float> c1(32), s1(32), c2(32), s2(32), c3(32), s3(32);
  rope.CosSin(150000, c1.data(), s1.data());
  rope.CosSin(-4321, c2.data(), s2.data());
  rope.CosSin(150000 - 4321, c3.data(), s3.data());
  std::vector<float> a(64), b(64);
  for (int i = 0; i < 64; ++i) a[size_t(i)] = b[size_t(i)] = std::sin(0.3f * float(i)) + 0.5f;
  rope.Rotate(a.data(), c1.data(), s1.data());
  rope.Rotate(a.data(), c2.data(), s2.data());
  rope.Rotate(b.data(), c3.data(), s3.data());
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(a[size_t(i)], b[size_t(i)], 1e-5) << i;
}

}  // namespace
}  // namespace mla::ops
