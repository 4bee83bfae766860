// The sampler chain (see sampler.h for the order and the determinism contract).
#include "sampling/sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "sampling/logit.h"

namespace mla {
namespace {

using sampling::SanitizeLogit;

template <typename C>
bool Better(const C& a, const C& b) {
  return sampling::Better(a, b, [](const C& c) { return c.logit; });
}

// Moves the candidates that pass `keep` to the front in their current order (a stable, in-place,
// allocation-free partition; what is left behind is dropped) and returns how many there are.
// Stability keeps the draw order canonical (ids ascending) when the set is not sorted.
template <typename C, typename Keep>
size_t KeepIf(C* c, size_t n, Keep keep) {
  size_t out = 0;
  for (size_t i = 0; i < n; ++i)
    if (keep(c[i])) c[out++] = c[i];
  return out;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

// Out-of-range values from an unchecked caller become the nearest harmless setting.
SamplingParams Clamp(SamplingParams p) {
  if (!(p.temperature >= 0)) p.temperature = 0;  // NaN too
  p.temperature = std::min(p.temperature, FLT_MAX);
  p.top_k = std::max(p.top_k, 0);
  if (!(p.top_p <= 1)) p.top_p = 1;  // NaN: disabled; <= 0 keeps the single best token
  if (!(p.min_p >= 0)) p.min_p = 0;
  p.min_p = std::min(p.min_p, 1.0f);
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty)) p.repeat_penalty = 1;
  if (p.repeat_last_n < -1) p.repeat_last_n = 0;
  if (!std::isfinite(p.presence_penalty)) p.presence_penalty = 0;
  if (!std::isfinite(p.frequency_penalty)) p.frequency_penalty = 0;
  return p;
}

}  // namespace

Status Sampler::Validate(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    return Errorf("sampling: temperature must be finite and >= 0, got %g", double(p.temperature));
  if (p.top_k < 0) return Errorf("sampling: top_k must be >= 0 (0 = disabled), got %d", p.top_k);
  if (!(p.top_p > 0 && p.top_p <= 1))
    return Errorf("sampling: top_p must be in (0, 1], got %g", double(p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1))
    return Errorf("sampling: min_p must be in [0, 1], got %g", double(p.min_p));
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty))
    return Errorf("sampling: repeat_penalty must be finite and > 0 (1 = disabled), got %g",
                  double(p.repeat_penalty));
  if (p.repeat_last_n < -1)
    return Errorf("sampling: repeat_last_n must be >= -1 (0 = disabled, -1 = all), got %d",
                  p.repeat_last_n);
  if (!std::isfinite(p.presence_penalty))
    return Errorf("sampling: presence_penalty must be finite, got %g", double(p.presence_penalty));
  if (!std::isfinite(p.frequency_penalty))
    return Errorf("sampling: frequency_penalty must be finite, got %g",
                  double(p.frequency_penalty));
  return Status::Ok();
}

Result<Sampler> Sampler::Create(const SamplingParams& params, int32_t n_vocab) {
  MLA_RETURN_IF_ERROR(Validate(params));
  if (n_vocab < 1) return Errorf("sampling: n_vocab must be >= 1, got %d", n_vocab);
  return Sampler(params, n_vocab);
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(Clamp(params)),
      n_vocab_(std::max(n_vocab, 1)),
      seed_(params.seed == kRandomSeed ? RandomSeed() : params.seed),
      rng_(seed_) {
  cands_.resize(size_t(n_vocab_));
  counts_.assign(size_t(n_vocab_), 0);
  // The ring grows in Accept up to repeat_last_n (which may be far larger than any generation).
  if (params_.repeat_last_n > 0) window_.reserve(size_t(std::min(params_.repeat_last_n, 4096)));
}

void Sampler::Accept(int32_t id) {
  if (id < 0 || id >= n_vocab_ || params_.repeat_last_n == 0) return;
  ++counts_[size_t(id)];
  if (params_.repeat_last_n < 0) return;  // -1: every token since Reset, no window to slide
  if (window_.size() < size_t(params_.repeat_last_n)) {
    window_.push_back(id);
    return;
  }
  --counts_[size_t(window_[window_head_])];
  window_[window_head_] = id;
  window_head_ = (window_head_ + 1) % window_.size();
}

void Sampler::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  window_.clear();
  window_head_ = 0;
  if (params_.seed == kRandomSeed) seed_ = RandomSeed();
  rng_.seed(seed_);
}

bool Sampler::penalize() const {
  const SamplingParams& p = params_;
  return p.repeat_last_n != 0 &&
         (p.repeat_penalty != 1 || p.frequency_penalty != 0 || p.presence_penalty != 0);
}

// llama.cpp's penalties for a token seen `count` > 0 times in the window: the repeat penalty
// divides a positive logit and multiplies a non-positive one (both push it down), then OpenAI's
// frequency (per occurrence) and presence (once) penalties are subtracted.
float Sampler::Penalize(float logit, int32_t id) const {
  const int32_t count = counts_[size_t(id)];
  if (count == 0) return logit;
  const SamplingParams& p = params_;
  logit = logit <= 0 ? logit * p.repeat_penalty : logit / p.repeat_penalty;
  return logit - (float(count) * p.frequency_penalty + p.presence_penalty);
}

void Sampler::PenalizedLogits(const float* logits, float* out) const {
  const bool on = penalize();
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = SanitizeLogit(logits[i]);
    out[i] = on ? Penalize(l, i) : l;
  }
}

// Copies the penalized logits into the candidate list.
void Sampler::LoadPenalized(const float* logits) {
  const bool on = penalize();
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = SanitizeLogit(logits[i]);
    cands_[size_t(i)] = {i, on ? Penalize(l, i) : l};
  }
}

// Argmax of the penalized logits, straight from the input (no candidate list needed).
int32_t Sampler::Greedy(const float* logits) const {
  const bool on = penalize();
  int32_t best = 0;
  float best_logit = -INFINITY;
  for (int32_t i = 0; i < n_vocab_; ++i) {
    float l = SanitizeLogit(logits[i]);
    if (on) l = Penalize(l, i);
    if (l > best_logit) {  // strict: the lowest id wins among equal maxima
      best = i;
      best_logit = l;
    }
  }
  return best;
}

// Keeps the k best candidates, sorted.
size_t Sampler::TopK(size_t n) {
  const size_t k = size_t(params_.top_k);
  std::partial_sort(cands_.begin(), cands_.begin() + k, cands_.begin() + n, Better<Candidate>);
  return k;
}

// Keeps the smallest best-first prefix whose probability (softmax over the current set) reaches
// top_p, the token that crosses it included. Only that prefix needs to be in order, so an unsorted
// set is sorted a growing block at a time (nth_element moves the next best block to the front);
// and when min-p follows, tokens it will drop anyway (logit below max + log(min_p); top-p never
// removes the maximum) are dropped first. The order is total (ids break ties), so the kept set
// is exactly the one a full sort would give.
size_t Sampler::TopP(size_t n, bool* sorted) {
  if (params_.top_p >= 1) return n;
  auto begin = cands_.begin();
  const float max = *sorted ? begin->logit
                            : std::max_element(begin, begin + n, [](auto& a, auto& b) {
                                return a.logit < b.logit;
                              })->logit;
  if (!(max > -INFINITY)) return n;  // every token banned: Draw picks the lowest id
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += std::exp(cands_[i].logit - max);
  const double target = double(params_.top_p) * z;
  size_t m = n;
  if (!*sorted && params_.min_p > 0) {
    const float threshold = max + std::log(params_.min_p);
    m = KeepIf(cands_.data(), n, [&](const Candidate& c) { return c.logit >= threshold; });
  }
  double cum = 0;
  size_t done = *sorted ? m : 0;  // [0, done) is in final order
  size_t i = 0;
  for (size_t block = 256;; block *= 4) {
    if (done < m) {
      const size_t end = std::min(m, done + block);
      if (end < m) std::nth_element(begin + done, begin + end, begin + m, Better<Candidate>);
      std::sort(begin + done, begin + end, Better<Candidate>);
      done = end;
    }
    for (; i < done; ++i) {
      cum += std::exp(cands_[i].logit - max);
      if (cum >= target) {
        *sorted = true;
        return i + 1;
      }
    }
    if (done == m) break;
  }
  *sorted = true;
  return m;  // rounding left the sum just short of top_p (or min-p cuts first): keep all m
}

// Keeps tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p) (needs no softmax).
size_t Sampler::MinP(size_t n, bool sorted) {
  if (params_.min_p <= 0) return n;
  auto begin = cands_.begin();
  const float max = sorted ? begin->logit
                           : std::max_element(begin, begin + n, [](auto& a, auto& b) {
                               return a.logit < b.logit;
                             })->logit;
  const float threshold = max + std::log(params_.min_p);
  if (sorted) {
    size_t keep = 1;
    while (keep < n && cands_[keep].logit >= threshold) ++keep;
    return keep;
  }
  return KeepIf(cands_.data(), n, [&](const Candidate& c) { return c.logit >= threshold; });
}

// softmax((logit - max) / temperature) over the set, then one uniform draw.
int32_t Sampler::Draw(size_t n) {
  float max = -INFINITY;
  size_t lowest = 0;  // lowest id, the answer when every token is banned
  for (size_t i = 0; i < n; ++i) {
    max = std::max(max, cands_[i].logit);
    if (cands_[i].id < cands_[lowest].id) lowest = i;
  }
  if (!(max > -INFINITY)) return cands_[lowest].id;
  const float t = params_.temperature;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    // Subtracting max before scaling keeps FLT_MAX-sized logits finite for temperature < 1.
    const float w = std::exp((cands_[i].logit - max) / t);
    cands_[i].logit = w;
    sum += w;
  }
  // 53 random bits -> a double uniform in [0, 1), the same on every standard library.
  const double u = double(rng_() >> 11) * 0x1.0p-53;
  const double target = u * sum;
  double cum = 0;
  size_t last = 0;
  for (size_t i = 0; i < n; ++i) {
    if (cands_[i].logit <= 0) continue;
    cum += cands_[i].logit;
    last = i;
    if (cum > target) return cands_[i].id;
  }
  return cands_[last].id;
}

int32_t Sampler::Sample(const float* logits) {
  if (params_.temperature <= 0) return Greedy(logits);
  LoadPenalized(logits);
  size_t n = size_t(n_vocab_);
  bool sorted = false;
  if (params_.top_k > 0 && size_t(params_.top_k) < n) {
    n = TopK(n);
    sorted = true;
  }
  n = TopP(n, &sorted);
  n = MinP(n, sorted);
  return Draw(n);
}

}  // namespace mla
