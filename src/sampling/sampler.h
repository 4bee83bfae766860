// The sampler chain that turns one row of logits into the next token, as llama.cpp's common
// sampler does with its default order and defaults:
//
//   penalties -> top-k -> top-p -> min-p -> temperature -> draw      (temperature > 0)
//   penalties -> argmax (lowest id on ties)                          (temperature <= 0, greedy)
//
// Used by mla-cli and, one Sampler per request, by the server (per-request params, logprobs).
//
// Determinism: the draw uses std::mt19937_64, whose output sequence is fixed by the C++
// standard, and turns each 64-bit output into a double in [0, 1) with its top 53 bits (not
// std::uniform_real_distribution, whose algorithm differs between standard libraries); the
// candidates are walked in a canonical order (best first with ids breaking ties once sorted,
// ids ascending otherwise). So the same seed, params, logits and accepted history give the same
// tokens on every run and thread count, and across standard libraries up to the last-bit
// rounding of their exp().
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "base/status.h"

namespace mla {

// llama.cpp's LLAMA_DEFAULT_SEED: this seed value asks for a random seed.
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

struct SamplingParams {
  float temperature = 0.8f;   // >= 0; <= 0 (i.e. 0) means greedy
  int32_t top_k = 40;         // >= 0; 0 = disabled
  float top_p = 0.95f;        // (0, 1]; 1 = disabled
  float min_p = 0.05f;        // [0, 1]; 0 = disabled
  float repeat_penalty = 1.0f;    // > 0; 1 = disabled
  int32_t repeat_last_n = 64;     // >= -1; 0 = no penalties, -1 = every token accepted since Reset
  float presence_penalty = 0.0f;  // OpenAI: subtracted once from every token seen in the window
  float frequency_penalty = 0.0f; // OpenAI: subtracted once per occurrence in the window
  uint64_t seed = kRandomSeed;    // kRandomSeed = draw a seed from std::random_device
};

struct TokenProb {
  int32_t id;
  float logprob;
};

class Sampler {
 public:
  // `params` must pass Validate (use Create for the checked path); out-of-range values are
  // clamped here so that an unchecked Sampler never misbehaves. Buffers for n_vocab candidates
  // are reserved once: Sample allocates nothing.
  explicit Sampler(const SamplingParams& params, int32_t n_vocab);

  // Validate + construct; the error names the bad field and its value.
  static Result<Sampler> Create(const SamplingParams& params, int32_t n_vocab);

  // Every field in its documented range and finite: one error naming the first bad field.
  static Status Validate(const SamplingParams& params);

  // Applies the chain to `logits` (n_vocab floats, not modified) and draws one token. The
  // penalties use the tokens passed to Accept. NaN logits count as -inf. Sample does not call
  // Accept: the caller accepts the token it keeps (and, as llama.cpp's CLI does, the prompt).
  int32_t Sample(const float* logits);

  // Adds a token to the penalty history (the last repeat_last_n accepted tokens). Ids outside
  // [0, n_vocab) have no logit to penalize and are ignored.
  void Accept(int32_t id);

  // The logits after the penalties, i.e. what top-k and the rest of the chain see (n_vocab
  // floats into `out`, NaN read as -inf). For tests, debugging and logprobs of penalized logits.
  void PenalizedLogits(const float* logits, float* out) const;

  // Clears the penalty history and restarts the random stream as llama.cpp's reset does: from
  // the same seed when it was given, from a fresh random seed when params().seed == kRandomSeed.
  void Reset();

  // OpenAI logprobs: the n most probable tokens of softmax(raw logits) over the whole vocabulary,
  // most probable first (lowest id on ties), with natural-log probabilities. n is clamped to
  // [0, n_vocab]. Only `out` is allocated (reuse it across calls to avoid that too).
  static void TopLogprobs(const float* logits, int32_t n_vocab, int32_t n,
                          std::vector<TokenProb>* out);
  // log softmax(raw logits)[id], for the chosen token; -inf when id is out of range.
  static float TokenLogprob(const float* logits, int32_t n_vocab, int32_t id);

  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }
  // The seed actually in use (the random one when params().seed == kRandomSeed).
  uint64_t seed() const { return seed_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  bool penalize() const;
  float Penalize(float logit, int32_t id) const;
  void LoadPenalized(const float* logits);
  int32_t Greedy(const float* logits) const;
  size_t TopK(size_t n);
  size_t TopP(size_t n, bool* sorted);
  size_t MinP(size_t n, bool sorted);
  int32_t Draw(size_t n);

  SamplingParams params_;
  int32_t n_vocab_;
  uint64_t seed_;
  std::mt19937_64 rng_;

  std::vector<Candidate> cands_;  // n_vocab entries, rewritten by every Sample
  std::vector<int32_t> counts_;   // occurrences of each id in the penalty window
  std::vector<int32_t> window_;   // ring of the last repeat_last_n accepted ids
  size_t window_head_ = 0;        // oldest entry once the ring is full
};

}  // namespace mla
