// Running a GGUF through the engine for the conversion tests' logit checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mla/mla.h"
#include "test_util.h"

namespace mla::test {

// Logits [tokens.size(), n_vocab] of every position, evaluated from position 0 in one batch.
// The default f32 latent cache is the exact mode (the differences left are the weights').
inline std::vector<float> EvalLogits(const std::string& gguf, const std::vector<int32_t>& tokens,
                                     int64_t* n_vocab, DType cache = DType::F32) {
  EngineOptions eo;
  eo.model_path = gguf;
  eo.n_threads = 2;
  auto engine = Engine::Load(eo);
  EXPECT_TRUE(engine.ok()) << gguf << ": " << engine.status().message();
  if (!engine.ok()) return {};
  SessionOptions so;
  so.n_ctx = int64_t(tokens.size());
  so.n_batch = int64_t(tokens.size());
  so.cache_type = cache;
  so.logits_all = true;
  auto session = (*engine)->NewSession(so);
  EXPECT_TRUE(session.ok()) << session.status().message();
  if (!session.ok()) return {};
  *n_vocab = (*session)->n_vocab();
  std::vector<float> logits(tokens.size() * size_t(*n_vocab));
  const Status st = (*session)->Decode(tokens, logits.data());
  EXPECT_TRUE(st.ok()) << st.message();
  return logits;
}

// Mean KL(reference || gguf's logits) over the fixture's token list (models/NAME.tokens.txt or
// the ds3-small eval tokens) and reference NAME.ref.npy.
inline KlStats KlAgainstReference(const std::string& gguf, const std::string& tokens_file,
                                  const std::string& ref_npy, std::vector<float>* logits_out = nullptr,
                                  DType cache = DType::F32) {
  const std::vector<int32_t> tokens = ReadTokens(Fixture(tokens_file));
  std::vector<int64_t> shape;
  const std::vector<float> ref = ReadNpyF32(Fixture(ref_npy), &shape);
  int64_t n_vocab = 0;
  std::vector<float> logits = EvalLogits(gguf, tokens, &n_vocab, cache);
  KlStats s;
  s.mean_kl = 1e9;
  if (logits.empty() || shape.size() != 2 || shape[0] != int64_t(tokens.size()) || shape[1] != n_vocab) {
    ADD_FAILURE() << gguf << ": no logits or shape mismatch with " << ref_npy;
    return s;
  }
  s = CompareLogits(ref.data(), logits.data(), shape[0], shape[1]);
  if (logits_out) *logits_out = std::move(logits);
  return s;
}

// KL(ref || test) of every position (float64 log-softmax, as test_util's CompareLogits).
inline std::vector<double> PerPositionKl(const float* ref, const float* test, int64_t n_pos, int64_t n_vocab) {
  std::vector<double> out;
  std::vector<double> p(static_cast<size_t>(n_vocab)), q(static_cast<size_t>(n_vocab));
  auto log_softmax = [n_vocab](const float* x, std::vector<double>& o) {
    double m = x[0];
    for (int64_t v = 1; v < n_vocab; ++v) m = std::max(m, double(x[v]));
    double s = 0;
    for (int64_t v = 0; v < n_vocab; ++v) s += std::exp(double(x[v]) - m);
    const double l = std::log(s);
    for (int64_t v = 0; v < n_vocab; ++v) o[size_t(v)] = double(x[v]) - m - l;
  };
  for (int64_t t = 0; t < n_pos; ++t) {
    log_softmax(ref + t * n_vocab, p);
    log_softmax(test + t * n_vocab, q);
    double kl = 0;
    for (int64_t v = 0; v < n_vocab; ++v) kl += std::exp(p[size_t(v)]) * (p[size_t(v)] - q[size_t(v)]);
    out.push_back(kl);
  }
  return out;
}

// Mean after dropping the `drop` largest values.
inline double TrimmedMean(std::vector<double> v, size_t drop) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size() > drop ? v.size() - drop : 0;
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += v[i];
  return n ? s / double(n) : 0;
}

// True in builds with AddressSanitizer (the slow quantization/KL sweeps run a subset there).
constexpr bool kSanitized =
#if defined(__SANITIZE_ADDRESS__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

}  // namespace mla::test
