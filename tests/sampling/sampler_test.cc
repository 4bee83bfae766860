// Sampler chain: each stage against hand-computed sets and values, the draw against the expected
// distribution, and the logprobs against a direct float64 computation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <random>
#include <set>
#include <vector>

#include "sampling/sampler.h"

// Counts heap allocations made by this thread while `g_count_allocs` is set: the test of "no
// allocation per Sample call". Replacing the global operator new is allowed by the standard and
// works under ASan (it forwards to malloc/free, which ASan intercepts).
namespace {
thread_local bool g_count_allocs = false;
thread_local int g_allocs = 0;
}  // namespace
void* operator new(std::size_t size) {
  if (g_count_allocs) ++g_allocs;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // malloc'ed above, so free is right
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace mla {
namespace {

SamplingParams Plain(float temperature, uint64_t seed = 1234) {
  SamplingParams p;  // the chain with every truncation off
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

// Draw counts per token over n samples (no Accept, so no penalties build up).
std::vector<int> Histogram(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> h(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    const int32_t id = s.Sample(logits.data());
    EXPECT_GE(id, 0);
    EXPECT_LT(id, int32_t(logits.size()));
    ++h[size_t(id)];
  }
  return h;
}

std::set<int32_t> Support(const std::vector<int>& h) {
  std::set<int32_t> s;
  for (size_t i = 0; i < h.size(); ++i)
    if (h[i] > 0) s.insert(int32_t(i));
  return s;
}

std::set<int32_t> SupportOf(const SamplingParams& p, const std::vector<float>& logits) {
  Sampler s(p, int32_t(logits.size()));
  return Support(Histogram(s, logits, 4000));
}

// Pearson's statistic of observed counts against expected probabilities.
double ChiSquare(const std::vector<int>& h, const std::vector<double>& expected, int n) {
  double chi2 = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(h[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double e = expected[i] * n;
    chi2 += (h[i] - e) * (h[i] - e) / e;
  }
  return chi2;
}

std::vector<float> RandomLogits(int n, uint32_t seed, float scale = 4.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> l(static_cast<size_t>(n));
  for (float& x : l) x = d(rng);
  return l;
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 6);
  const std::vector<float> a = {0.5f, 2.0f, -1.0f, 1.9f, 2.0f, 0.0f};
  EXPECT_EQ(s.Sample(a.data()), 1);
  const std::vector<float> b = {-3.0f, -2.0f, -1.0f, -1.0f, -5.0f, -1.0f};
  EXPECT_EQ(s.Sample(b.data()), 2);
  const std::vector<float> c(6, 0.25f);
  EXPECT_EQ(s.Sample(c.data()), 0);
  // A negative temperature (only reachable unchecked; Validate rejects it) is greedy too.
  p.temperature = -1.0f;
  Sampler neg(p, 6);
  EXPECT_EQ(neg.Sample(a.data()), 1);
  Sampler big(p, 1000);
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> l = RandomLogits(1000, seed);
    EXPECT_EQ(big.Sample(l.data()), std::max_element(l.begin(), l.end()) - l.begin());
  }
}

TEST(Sampler, TopK1EqualsGreedy) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 1;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  Sampler s(p, 5000);
  for (uint32_t seed = 0; seed < 50; ++seed) {
    std::vector<float> l = RandomLogits(5000, seed, 1.0f);
    if (seed % 5 == 0) l[4999] = l[17] = 100.0f;  // a tie: the lower id wins
    const auto best = std::max_element(l.begin(), l.end()) - l.begin();
    EXPECT_EQ(s.Sample(l.data()), best) << seed;
  }
}

TEST(Sampler, SameSeedSameSequence) {
  const std::vector<float> l = RandomLogits(3000, 7, 1.5f);
  SamplingParams p;  // llama.cpp defaults, fixed seed
  p.seed = 42;
  p.repeat_penalty = 1.1f;
  Sampler a(p, 3000), b(p, 3000);
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 300; ++i) {
    sa.push_back(a.Sample(l.data()));
    a.Accept(sa.back());
    sb.push_back(b.Sample(l.data()));
    b.Accept(sb.back());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_GT(std::set<int32_t>(sa.begin(), sa.end()).size(), 10u);  // it really samples
  EXPECT_EQ(a.seed(), 42u);

  p.seed = 43;
  Sampler c(p, 3000);
  std::vector<int32_t> sc;
  for (int i = 0; i < 300; ++i) {
    sc.push_back(c.Sample(l.data()));
    c.Accept(sc.back());
  }
  EXPECT_NE(sa, sc);

  // Reset restarts the stream from the same seed (and clears the history).
  a.Reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 300; ++i) {
    again.push_back(a.Sample(l.data()));
    a.Accept(again.back());
  }
  EXPECT_EQ(again, sa);

  // The random seed is drawn once and reported; reusing it reproduces the run.
  p.seed = kRandomSeed;
  Sampler r(p, 3000);
  EXPECT_NE(r.seed(), kRandomSeed);
  p.seed = r.seed();
  Sampler r2(p, 3000);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r.Sample(l.data()), r2.Sample(l.data()));
}

// The documented draw: mt19937_64, top 53 bits -> u in [0, 1), weights exp((l - max) / T) walked
// in canonical order (ids ascending when unsorted, best first after top-k).
std::vector<int32_t> ExpectedDraws(const std::vector<float>& l, std::vector<int32_t> set, float t,
                                   uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  float max = -INFINITY;
  for (int32_t id : set) max = std::max(max, l[size_t(id)]);
  std::vector<int32_t> out;
  for (int k = 0; k < n; ++k) {
    double sum = 0;
    for (int32_t id : set) sum += std::exp((l[size_t(id)] - max) / t);
    const double target = double(rng() >> 11) * 0x1.0p-53 * sum;
    double cum = 0;
    int32_t pick = -1;
    for (int32_t id : set) {
      cum += std::exp((l[size_t(id)] - max) / t);
      if (cum > target) {
        pick = id;
        break;
      }
    }
    out.push_back(pick);
  }
  return out;
}

TEST(Sampler, DrawFollowsDocumentedRngAndOrder) {
  const std::vector<float> l = RandomLogits(64, 77, 1.0f);
  SamplingParams p = Plain(0.7f, 31337);
  p.min_p = 0.3f;  // unsorted path: survivors in id order
  std::vector<int32_t> set;
  const float max = *std::max_element(l.begin(), l.end());
  for (int32_t i = 0; i < 64; ++i)
    if (l[size_t(i)] >= max + std::log(0.3f)) set.push_back(i);
  ASSERT_GT(set.size(), 3u);
  Sampler a(p, 64);
  std::vector<int32_t> got;
  for (int i = 0; i < 200; ++i) got.push_back(a.Sample(l.data()));
  EXPECT_EQ(got, ExpectedDraws(l, set, 0.7f, 31337, 200));

  p.min_p = 0;
  p.top_k = 10;  // sorted path: best first
  set.resize(64);
  for (int32_t i = 0; i < 64; ++i) set[size_t(i)] = i;
  std::sort(set.begin(), set.end(), [&](int32_t x, int32_t y) { return l[size_t(x)] > l[size_t(y)]; });
  set.resize(10);
  Sampler b(p, 64);
  got.clear();
  for (int i = 0; i < 200; ++i) got.push_back(b.Sample(l.data()));
  EXPECT_EQ(got, ExpectedDraws(l, set, 0.7f, 31337, 200));
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  // probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625, shuffled over the ids
  const std::vector<float> l = LogitsOf({0.0625, 0.25, 0.0625, 0.5, 0.125});
  SamplingParams p = Plain(1.0f);
  p.top_p = 0.4f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3}));
  p.top_p = 0.74f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1}));
  p.top_p = 0.76f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1, 4}));
  p.top_p = 0.9f;  // 0.875 < 0.9: one of the two 0.0625s joins, the lower id (0)
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{0, 1, 3, 4}));
  p.top_p = 1.0f;
  EXPECT_EQ(SupportOf(p, l).size(), 5u);
  // After top-k 4 (sorted path) top-p sees {0.5, 0.25, 0.125, 0.0625} / 0.9375:
  // 0.533, 0.8, 0.933.
  p.top_k = 4;
  p.top_p = 0.76f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1}));
  p.top_p = 0.85f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1, 4}));
  // With min-p on (the set-aside path): top-p 0.76 -> {3, 1, 4}; min_p 0.2 keeps p >= 0.1.
  p.top_k = 0;
  p.top_p = 0.76f;
  p.min_p = 0.2f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1, 4}));
  p.min_p = 0.3f;  // p >= 0.15: min-p cuts 4 after top-p kept it
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{3, 1}));
}

TEST(Sampler, MinPKeepsTokensAboveFractionOfMax) {
  const std::vector<float> l = LogitsOf({0.1, 0.4, 0.05, 0.3, 0.15});
  SamplingParams p = Plain(1.0f);
  p.min_p = 0.3f;  // p >= 0.12
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{1, 3, 4}));
  p.min_p = 0.2f;  // p >= 0.08
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{0, 1, 3, 4}));
  p.min_p = 0.8f;  // p >= 0.32
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{1}));
  p.min_p = 1.0f;  // only the maximum (ties included)
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{1}));
  p.top_k = 3;     // sorted path
  p.min_p = 0.3f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{1, 3, 4}));
}

TEST(Sampler, ChainOrderIsTopKThenTopPThenMinP) {
  // probabilities 0.4, 0.3, 0.15, 0.1, 0.05
  const std::vector<float> l = LogitsOf({0.4, 0.3, 0.15, 0.1, 0.05});
  SamplingParams p = Plain(1.0f);
  // top-p over the full set: 0.4, 0.7, 0.85 >= 0.72 -> {0,1,2}. Had min-p (0.2: keeps {0..3})
  // gone first, top-p over the renormalized four would stop at {0,1} (0.421, 0.737).
  p.top_p = 0.72f;
  p.min_p = 0.2f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{0, 1, 2}));
  // top-k 2 first: top-p over {0.4, 0.3} renormalized keeps both.
  p.top_k = 2;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{0, 1}));
  // Temperature comes last: a high temperature does not bring back truncated tokens.
  p.top_k = 0;
  p.temperature = 50.0f;
  EXPECT_EQ(SupportOf(p, l), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, TemperatureScalesLogits) {
  // p(1) / p(0) = 3^(1/T)
  const std::vector<float> l = {0.0f, float(std::log(3.0))};
  const int n = 20000;
  for (float t : {0.5f, 1.0f, 2.0f, 4.0f}) {
    Sampler s(Plain(t, 99), 2);
    const std::vector<int> h = Histogram(s, l, n);
    const double r = std::pow(3.0, 1.0 / t);
    const double expected = r / (1 + r);
    EXPECT_NEAR(double(h[1]) / n, expected, 0.015) << "temperature " << t;
  }
}

TEST(Sampler, FrequenciesFollowSoftmaxAtTemperature1) {
  // Raw logits (not log-probabilities) so the softmax itself is under test.
  const std::vector<float> l = {1.0f, 0.0f, 2.5f, -1.0f, 0.5f, 1.5f, -0.5f, 2.0f};
  std::vector<double> e(l.size());
  double z = 0;
  for (size_t i = 0; i < l.size(); ++i) z += std::exp(double(l[i]));
  for (size_t i = 0; i < l.size(); ++i) e[i] = std::exp(double(l[i])) / z;
  const int n = 40000;
  Sampler s(Plain(1.0f, 2024), int32_t(l.size()));
  // 7 degrees of freedom: P(chi2 > 30) < 1e-4. Fixed seed, so deterministic; the bound is loose.
  EXPECT_LT(ChiSquare(Histogram(s, l, n), e, n), 30.0);
}

TEST(Sampler, ChainMatchesTruncatedTemperedSoftmax) {
  // Defaults (top_k 40, top_p 0.95, temperature 0.8) with min_p 0.1, on 50 tokens: top-k cuts 10,
  // top-p then keeps 20, min-p then 16.
  std::vector<float> l(50);
  for (size_t i = 0; i < l.size(); ++i) l[i] = -0.15f * float(i) + 0.01f * float(i % 7);
  // The expected distribution, computed directly: sort, cut at 40, top-p on the softmax of the
  // 40, min-p relative to the max, then softmax(logit / 0.8) over the survivors.
  std::vector<int> order(l.size());
  for (size_t i = 0; i < l.size(); ++i) order[i] = int(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  order.resize(40);
  double z = 0;
  for (int i : order) z += std::exp(double(l[i]) - l[order[0]]);
  size_t keep = 0;
  double cum = 0;
  while (keep < order.size()) {
    cum += std::exp(double(l[order[keep]]) - l[order[0]]) / z;
    ++keep;
    if (cum >= 0.95) break;
  }
  order.resize(keep);
  ASSERT_EQ(order.size(), 20u);  // top-p really bites
  const float max = l[size_t(order[0])];
  std::erase_if(order, [&](int i) { return std::exp(double(l[i]) - max) < 0.1; });
  ASSERT_EQ(order.size(), 16u);  // and so does min-p
  std::vector<double> e(l.size(), 0.0);
  double zt = 0;
  for (int i : order) zt += std::exp(double(l[i]) / 0.8);
  for (int i : order) e[size_t(i)] = std::exp(double(l[i]) / 0.8) / zt;

  SamplingParams p;
  p.seed = 5;
  p.min_p = 0.1f;
  Sampler s(p, int32_t(l.size()));
  const int n = 40000;
  const std::vector<int> h = Histogram(s, l, n);
  // 16 degrees of freedom: P(chi2 > 50) < 1e-4.
  EXPECT_LT(ChiSquare(h, e, n), 50.0);
}

TEST(Sampler, RepeatFrequencyPresencePenaltiesExact) {
  SamplingParams p = Plain(1.0f);
  p.repeat_penalty = 1.5f;
  p.frequency_penalty = 0.25f;
  p.presence_penalty = 0.125f;
  p.repeat_last_n = 4;
  Sampler s(p, 6);
  const std::vector<float> l = {3.0f, -1.0f, 0.0f, 2.0f, 1.0f, -2.0f};
  for (int32_t id : {5, 0, 1, 1, 2}) s.Accept(id);  // 5 falls out of the window of 4
  std::vector<float> out(6);
  s.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out[0], 3.0f / 1.5f - (0.25f + 0.125f));         // positive: divided; seen once
  EXPECT_EQ(out[1], -1.0f * 1.5f - (2 * 0.25f + 0.125f));    // negative: multiplied; seen twice
  EXPECT_EQ(out[2], 0.0f - (0.25f + 0.125f));                // zero stays zero before OpenAI terms
  EXPECT_EQ(out[3], 2.0f);                                   // never seen
  EXPECT_EQ(out[4], 1.0f);
  EXPECT_EQ(out[5], -2.0f);                                  // slid out of the window
  EXPECT_FLOAT_EQ(out[0], 1.625f);
  EXPECT_FLOAT_EQ(out[1], -2.125f);

  s.Accept(3);  // the window becomes {1, 1, 2, 3}: 0 slides out
  s.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[3], 2.0f / 1.5f - 0.375f);

  s.Reset();
  s.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out, l);

  // -1: every accepted token counts; 0: no penalties at all.
  p.repeat_last_n = -1;
  Sampler all(p, 6);
  for (int i = 0; i < 100; ++i) all.Accept(4);
  all.Accept(0);
  all.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out[4], 1.0f / 1.5f - (100 * 0.25f + 0.125f));
  EXPECT_EQ(out[0], 2.0f - 0.375f);
  p.repeat_last_n = 0;
  Sampler none(p, 6);
  none.Accept(0);
  none.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out, l);
}

TEST(Sampler, PenaltiesSteerGreedyAndSampling) {
  SamplingParams p = Plain(0.0f);
  p.repeat_penalty = 1.1f;  // 2.0 / 1.1 = 1.818 < 1.9
  Sampler s(p, 3);
  const std::vector<float> l = {2.0f, 1.9f, -5.0f};
  EXPECT_EQ(s.Sample(l.data()), 0);
  s.Accept(0);
  EXPECT_EQ(s.Sample(l.data()), 1);
  s.Accept(1);  // 1.9 / 1.1 = 1.727 < 1.818
  EXPECT_EQ(s.Sample(l.data()), 0);
  // A huge presence penalty bans seen tokens from sampling too.
  p = Plain(1.0f);
  p.presence_penalty = 1000.0f;
  Sampler t(p, 3);
  t.Accept(0);
  t.Accept(1);
  const std::vector<int> h = Histogram(t, l, 500);
  EXPECT_EQ(h[2], 500);
  // Out-of-range ids have no logit and are ignored.
  t.Reset();
  t.Accept(-1);
  t.Accept(3);
  std::vector<float> out(3);
  t.PenalizedLogits(l.data(), out.data());
  EXPECT_EQ(out, l);
}

TEST(Sampler, OddLogits) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  SamplingParams p;  // defaults
  p.seed = 3;
  Sampler s(p, 4);
  const std::vector<float> banned = {-inf, -inf, -inf, -inf};
  EXPECT_EQ(s.Sample(banned.data()), 0);
  const std::vector<float> one = {-inf, nan, 0.0f, -inf};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(one.data()), 2);
  const std::vector<float> certain = {1.0f, inf, 3.0f, nan};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(certain.data()), 1);
  p = Plain(0.1f, 3);
  Sampler cold(p, 4);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(cold.Sample(certain.data()), 1);
  std::vector<TokenProb> top;
  Sampler::TopLogprobs(certain.data(), 4, 2, &top);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].id, 1);
  EXPECT_EQ(top[0].logprob, 0.0f);
  EXPECT_EQ(top[1].id, 2);
  EXPECT_LT(top[1].logprob, -1e38f);  // 3 - FLT_MAX
  Sampler::TopLogprobs(banned.data(), 4, 2, &top);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].id, 0);
  EXPECT_EQ(top[0].logprob, -inf);
}

TEST(Sampler, ValidateNamesFieldAndValue) {
  EXPECT_TRUE(Sampler::Validate(SamplingParams{}).ok());
  struct Case {
    SamplingParams p;
    const char* field;
    const char* value;
  };
  std::vector<Case> cases;
  auto add = [&](auto set, const char* field, const char* value) {
    SamplingParams p;
    set(p);
    cases.push_back({p, field, value});
  };
  add([](SamplingParams& p) { p.temperature = -0.5f; }, "temperature", "-0.5");
  add([](SamplingParams& p) { p.temperature = NAN; }, "temperature", "nan");
  add([](SamplingParams& p) { p.temperature = INFINITY; }, "temperature", "inf");
  add([](SamplingParams& p) { p.top_k = -1; }, "top_k", "-1");
  add([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p", "0");
  add([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p", "1.5");
  add([](SamplingParams& p) { p.min_p = -0.25f; }, "min_p", "-0.25");
  add([](SamplingParams& p) { p.min_p = 1.25f; }, "min_p", "1.25");
  add([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty", "0");
  add([](SamplingParams& p) { p.repeat_last_n = -2; }, "repeat_last_n", "-2");
  add([](SamplingParams& p) { p.presence_penalty = INFINITY; }, "presence_penalty", "inf");
  add([](SamplingParams& p) { p.frequency_penalty = NAN; }, "frequency_penalty", "nan");
  for (const Case& c : cases) {
    const Status st = Sampler::Validate(c.p);
    ASSERT_FALSE(st.ok()) << c.field;
    EXPECT_NE(st.message().find(c.field), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::string("got ") + c.value), std::string::npos) << st.message();
    EXPECT_FALSE(Sampler::Create(c.p, 10).ok());
  }
  // Edges that are valid.
  SamplingParams edge;
  edge.temperature = 0;
  edge.top_k = 0;
  edge.top_p = 1;
  edge.min_p = 1;
  edge.repeat_last_n = -1;
  edge.presence_penalty = -2;
  EXPECT_TRUE(Sampler::Validate(edge).ok());
  const auto bad_vocab = Sampler::Create(SamplingParams{}, 0);
  ASSERT_FALSE(bad_vocab.ok());
  EXPECT_NE(bad_vocab.status().message().find("n_vocab"), std::string::npos);
  auto good = Sampler::Create(SamplingParams{}, 10);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->n_vocab(), 10);
  EXPECT_EQ(good->params().top_k, 40);
}

TEST(Sampler, TopLogprobsMatchDirectComputation) {
  const int32_t v = 2000;
  std::vector<float> l = RandomLogits(v, 11, 3.0f);
  l[100] = l[1500] = 50.0f;  // a tie at the top: lower id first
  double max = *std::max_element(l.begin(), l.end()), z = 0;
  for (float x : l) z += std::exp(double(x) - max);
  const double lse = max + std::log(z);
  std::vector<int32_t> ids(static_cast<size_t>(v));
  for (int32_t i = 0; i < v; ++i) ids[size_t(i)] = i;
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return l[size_t(a)] > l[size_t(b)] || (l[size_t(a)] == l[size_t(b)] && a < b);
  });
  std::vector<TokenProb> top;
  for (int32_t n : {1, 5, 20}) {
    Sampler::TopLogprobs(l.data(), v, n, &top);
    ASSERT_EQ(top.size(), size_t(n));
    for (int32_t i = 0; i < n; ++i) {
      EXPECT_EQ(top[size_t(i)].id, ids[size_t(i)]) << i;
      EXPECT_NEAR(top[size_t(i)].logprob, double(l[size_t(ids[size_t(i)])]) - lse, 1e-5) << i;
    }
  }
  EXPECT_EQ(top[0].id, 100);
  EXPECT_EQ(top[1].id, 1500);
  EXPECT_NEAR(top[0].logprob, std::log(0.5), 1e-5);  // the two 50s hold nearly all the mass
  for (int32_t id : {0, 100, 777, 1999}) {
    EXPECT_NEAR(Sampler::TokenLogprob(l.data(), v, id), double(l[size_t(id)]) - lse, 1e-5);
  }
  EXPECT_EQ(Sampler::TokenLogprob(l.data(), v, v), -std::numeric_limits<float>::infinity());
  // n is clamped to the vocabulary; the probabilities sum to 1.
  Sampler::TopLogprobs(l.data(), 8, 100, &top);
  ASSERT_EQ(top.size(), 8u);
  double total = 0;
  for (const TokenProb& t : top) total += std::exp(double(t.logprob));
  EXPECT_NEAR(total, 1.0, 1e-6);
  Sampler::TopLogprobs(l.data(), v, 0, &top);
  EXPECT_TRUE(top.empty());
}

TEST(Sampler, SampleDoesNotAllocate) {
  // The counter itself works (so a zero below means something).
  g_allocs = 0;
  g_count_allocs = true;
  auto* probe = new std::vector<int>(10);
  g_count_allocs = false;
  delete probe;
  ASSERT_GE(g_allocs, 1);

  const int32_t v = 32000;
  const std::vector<float> l = RandomLogits(v, 21, 2.0f);
  SamplingParams configs[4];
  configs[1].top_k = 0;             // sort path with min-p set aside
  configs[2] = Plain(1.0f);         // plain softmax over everything
  configs[3].temperature = 0;       // greedy
  configs[0].repeat_penalty = 1.2f; // defaults + penalties
  for (const SamplingParams& p : configs) {
    Sampler s(p, v);
    s.Accept(1);
    (void)s.Sample(l.data());
    g_allocs = 0;
    g_count_allocs = true;
    for (int i = 0; i < 20; ++i) (void)s.Sample(l.data());
    g_count_allocs = false;
    EXPECT_EQ(g_allocs, 0);
  }
}

}  // namespace
}  // namespace mla
