// Wall time per stage of the forward pass, summed while enabled (mla-bench --profile). Stages are
// timed on the thread that runs the forward pass, so a stage's time includes its fork/join and
// any wait for the slowest worker. Off by default; a disabled Scope costs one relaxed load.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace mla::profile {

enum class Stage : int {
  kNorm,           // RMSNorm of the residual stream (attention, FFN, output)
  kQkvProjection,  // q (or q_a, q_b) and kv_a projections
  kLatentWrite,    // kv_a norm, RoPE of k_pe, the cache row write
  kAbsorb,         // q_nope through k_b (absorbed form), q_pe RoPE
  kAttention,      // scores, softmax and weighted sums over the cache (either form)
  kValueHeads,     // o_lat through v_b (absorbed form)
  kOutputProj,     // W_o
  kRouter,         // router logits, top-k, grouping by expert
  kExperts,        // routed and shared experts (gate/up, SiLU·mul, down, weighted sum)
  kDenseFfn,       // the dense layers' FFN
  kResidual,       // residual adds
  kLogits,         // output norm and head
  kCount
};

const char* Name(Stage s);

bool Enabled();
void SetEnabled(bool on);
void Add(Stage s, int64_t ns);

struct Totals {
  std::array<int64_t, size_t(Stage::kCount)> ns{};
  int64_t total() const;
};
// The sums since the last Take(), and starts new ones.
Totals Take();

class Scope {
 public:
  explicit Scope(Stage s) : stage_(s), on_(Enabled()) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (on_)
      Add(stage_, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_)
                      .count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Stage stage_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace mla::profile
