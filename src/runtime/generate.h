// The generation loop used by mla-cli: evaluate a prompt after the session's tokens, then sample
// and evaluate one token at a time until an end-of-generation token, n_predict tokens, the
// caller's stop, or a full context.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "base/status.h"
#include "runtime/session.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace mla {

struct GenerateStats {
  int64_t n_prompt = 0;
  double prompt_ms = 0;
  int64_t n_generated = 0;  // tokens sampled (the last one may not be evaluated)
  int64_t n_decoded = 0;    // generated tokens evaluated
  double gen_ms = 0;
  bool context_full = false;
  int64_t n_shifts = 0;     // context shifts done
  bool end_of_generation = false;
};

struct GenerateOptions {
  int64_t n_predict = -1;  // < 0: until an end-of-generation token or a full context
  float* prompt_logits = nullptr;  // if set (logits_all session): n_prompt × V prompt logits
  // At a full context: keep the first n_keep tokens, drop half of the rest and go on (spec §5.4)
  // instead of stopping.
  bool context_shift = false;
  int64_t n_keep = 0;
};

// on_token(id) is called for every sampled token (including a final end-of-generation token);
// returning false stops. Sampled tokens are accepted into the sampler's penalty history, as are
// the prompt tokens. Stats accumulate into *stats.
Status Generate(Session& session, Sampler& sampler, const Tokenizer& tokenizer,
                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                const std::function<bool(int32_t)>& on_token, GenerateStats* stats);

}  // namespace mla
