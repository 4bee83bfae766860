// Route() on hand-written router logits (spec §4.2, §4.3): both gating functions, the selection
// bias used for choosing only, both group rules, normalisation, scale and ties.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/moe.h"

namespace mla {
namespace {

struct Routed {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

Routed RunRoute(const RouterParams& p, const std::vector<float>& logits,
                const std::vector<float>* bias = nullptr) {
  std::vector<float> fs(static_cast<size_t>(RouteScratchFloats(p)));
  std::vector<int32_t> is(static_cast<size_t>(std::max<int64_t>(1, RouteScratchInts(p))));
  Routed r;
  r.experts.resize(size_t(p.n_used));
  r.weights.resize(size_t(p.n_used));
  Route(p, logits.data(), bias ? bias->data() : nullptr, r.experts.data(), r.weights.data(),
        fs.data(), is.data());
  return r;
}

double Sig(double x) { return 1 / (1 + std::exp(-x)); }

TEST(Route, SoftmaxGreedyV2Lite) {
  RouterParams p{GatingFunc::kSoftmax, 4, 2, 1, 1, false, 1.0f};
  const Routed r = RunRoute(p, {1, 3, 2, 0});
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 2}));
  const double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0) + 1;
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(2.0) / z, 1e-6);
}

TEST(Route, SoftmaxScaleWithoutNorm) {
  RouterParams p{GatingFunc::kSoftmax, 4, 2, 1, 1, false, 16.0f};  // V2: scale 16, no norm
  const Routed r = RunRoute(p, {0, 0, 1, 0});
  const double z = 3 + std::exp(1.0);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2, 0}));  // tie among 0, 1, 3: lowest index
  EXPECT_NEAR(r.weights[0], 16 * std::exp(1.0) / z, 1e-5);
  EXPECT_NEAR(r.weights[1], 16 / z, 1e-5);
}

TEST(Route, SigmoidBiasChoosesButDoesNotWeigh) {
  RouterParams p{GatingFunc::kSigmoid, 4, 2, 1, 1, true, 2.5f};  // V3: norm + 2.5
  const std::vector<float> bias = {3, 0, 0, -5};
  const Routed r = RunRoute(p, {0, 0.5f, 1, 2}, &bias);
  // sel = sigmoid + bias = {3.5, 0.62, 0.73, -4.1}: experts 0 and 2, although 3 scores highest.
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 2}));
  const double s0 = Sig(0), s2 = Sig(1);
  EXPECT_NEAR(r.weights[0], 2.5 * s0 / (s0 + s2), 1e-6);
  EXPECT_NEAR(r.weights[1], 2.5 * s2 / (s0 + s2), 1e-6);
  // Without the bias the unbiased scores choose.
  const Routed plain = RunRoute(p, {0, 0.5f, 1, 2});
  EXPECT_EQ(plain.experts, (std::vector<int32_t>{3, 2}));
}

// 8 experts in 4 groups of 2, keep 2 groups, choose 2 experts.
TEST(Route, GroupLimitedV3SumOfTopTwo) {
  RouterParams p{GatingFunc::kSigmoid, 8, 2, 4, 2, true, 1.0f};
  // All logits 0 (score 0.5); the bias shapes the selection values:
  // groups {0.9, 0.0} {0.6, 0.6} {0.5, 0.5} {0.1, 0.1}: sums 0.9 1.2 1.0 0.2 -> keep 1 and 2.
  const std::vector<float> target = {0.9f, 0.0f, 0.6f, 0.6f, 0.5f, 0.5f, 0.1f, 0.1f};
  std::vector<float> bias(8);
  for (int i = 0; i < 8; ++i) bias[size_t(i)] = target[size_t(i)] - 0.5f;
  const Routed r = RunRoute(p, std::vector<float>(8, 0.0f), &bias);
  // Expert 0 (0.9) is the best single expert but its group is not kept; 2 and 3 tie: index order.
  EXPECT_EQ(r.experts, (std::vector<int32_t>{2, 3}));
  EXPECT_NEAR(r.weights[0], 0.5, 1e-6);  // unbiased 0.5 each, normalised
  EXPECT_NEAR(r.weights[1], 0.5, 1e-6);
}

TEST(Route, GroupLimitedV2Maximum) {
  RouterParams p{GatingFunc::kSoftmax, 8, 2, 4, 2, false, 1.0f};
  // Softmax scores; group maxima e^2, e^1.5, e^1.4, e^-1 -> keep groups 0 and 1 (the sum of the
  // top two would keep 1 and 2 instead: 2e^1.5 > 2e^1.4 > e^2 + e^-10).
  const std::vector<float> logits = {2.0f, -10.0f, 1.5f, 1.5f, 1.4f, 1.4f, -1.0f, -1.0f};
  const Routed r = RunRoute(p, logits);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 2}));
  double z = 0;
  for (float l : logits) z += std::exp(double(l));
  EXPECT_NEAR(r.weights[0], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(1.5) / z, 1e-6);
}

TEST(Route, GroupTiesKeepLowerGroup) {
  RouterParams p{GatingFunc::kSoftmax, 6, 1, 3, 1, false, 1.0f};
  // Equal group maxima everywhere: group 0 is kept, expert 0 wins its tie with expert 1.
  const Routed r = RunRoute(p, {1, 1, 1, 1, 1, 1});
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0}));
}

}  // namespace
}  // namespace mla
