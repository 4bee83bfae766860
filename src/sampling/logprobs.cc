// OpenAI-style logprobs: log softmax of the raw logits over the whole vocabulary, independent of
// the sampler chain (penalties, truncation and temperature do not change them).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "sampling/logit.h"
#include "sampling/sampler.h"

namespace mla {
namespace {

using sampling::SanitizeLogit;

// log(sum(exp(logits))), computed in double around the maximum.
double LogSumExp(const float* logits, int32_t n_vocab) {
  float max = -INFINITY;
  for (int32_t i = 0; i < n_vocab; ++i) max = std::max(max, SanitizeLogit(logits[i]));
  if (!(max > -INFINITY)) return -INFINITY;
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(SanitizeLogit(logits[i]) - max);
  return double(max) + std::log(sum);
}

bool Better(const TokenProb& a, const TokenProb& b) {
  return sampling::Better(a, b, [](const TokenProb& t) { return t.logprob; });
}

}  // namespace

float Sampler::TokenLogprob(const float* logits, int32_t n_vocab, int32_t id) {
  if (logits == nullptr || id < 0 || id >= n_vocab) return -INFINITY;
  const double lse = LogSumExp(logits, n_vocab);
  if (!(lse > -INFINITY)) return -INFINITY;
  return float(double(SanitizeLogit(logits[id])) - lse);
}

void Sampler::TopLogprobs(const float* logits, int32_t n_vocab, int32_t n,
                          std::vector<TokenProb>* out) {
  out->clear();
  if (logits == nullptr || n_vocab <= 0 || n <= 0) return;
  const size_t k = size_t(std::min(n, n_vocab));
  out->reserve(k);
  // A heap of the k best seen so far with the worst on top (Better as "less"), holding logits:
  // one pass, O(n_vocab log k), no buffer besides `out`.
  for (int32_t i = 0; i < n_vocab; ++i) {
    const TokenProb c{i, SanitizeLogit(logits[i])};
    if (out->size() < k) {
      out->push_back(c);
      std::push_heap(out->begin(), out->end(), Better);
    } else if (Better(c, out->front())) {
      std::pop_heap(out->begin(), out->end(), Better);
      out->back() = c;
      std::push_heap(out->begin(), out->end(), Better);
    }
  }
  std::sort_heap(out->begin(), out->end(), Better);  // best first
  const double lse = LogSumExp(logits, n_vocab);
  for (TokenProb& t : *out)
    t.logprob = lse > -INFINITY ? float(double(t.logprob) - lse) : -INFINITY;
}

}  // namespace mla
