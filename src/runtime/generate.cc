#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

namespace mla {
namespace {

double Ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

Status Generate(Session& session, Sampler& sampler, const Tokenizer& tokenizer,
                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                const std::function<bool(int32_t)>& on_token, GenerateStats* stats) {
  if (!prompt.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    MLA_RETURN_IF_ERROR(session.Decode(prompt, options.prompt_logits));
    stats->prompt_ms += Ms(t0);
    stats->n_prompt += int64_t(prompt.size());
    for (int32_t id : prompt) sampler.Accept(id);
  }
  if (!session.logits()) return Status::Error("generate: nothing evaluated yet (empty prompt)");
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; options.n_predict < 0 || i < options.n_predict; ++i) {
    const int32_t id = sampler.Sample(session.logits());
    sampler.Accept(id);
    ++stats->n_generated;
    const bool keep_going = on_token(id);
    if (tokenizer.IsEndOfGeneration(id)) {
      stats->end_of_generation = true;
      break;
    }
    if (!keep_going) break;
    if (options.n_predict >= 0 && i + 1 == options.n_predict) break;  // last one needs no eval
    if (session.n_past() >= session.n_ctx()) {
      const int64_t n_keep = std::clamp<int64_t>(options.n_keep, 0, session.n_past() - 2);
      const int64_t n_discard = (session.n_past() - n_keep) / 2;
      if (!options.context_shift || n_discard <= 0) {
        stats->context_full = true;
        break;
      }
      MLA_RETURN_IF_ERROR(session.Shift(n_keep + n_discard, -n_discard));
      ++stats->n_shifts;
    }
    MLA_RETURN_IF_ERROR(session.Decode(&id, 1));
    ++stats->n_decoded;
  }
  stats->gen_ms += Ms(t0);
  return Status::Ok();
}

}  // namespace mla
