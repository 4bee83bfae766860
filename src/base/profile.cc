#include "base/profile.h"

namespace mla::profile {
namespace {

std::atomic<bool> g_enabled{false};
std::array<std::atomic<int64_t>, size_t(Stage::kCount)> g_ns{};

}  // namespace

const char* Name(Stage s) {
  switch (s) {
    case Stage::kNorm: return "rms_norm";
    case Stage::kQkvProjection: return "q/kv_a projection";
    case Stage::kLatentWrite: return "latent norm+rope+write";
    case Stage::kAbsorb: return "q absorb (k_b)";
    case Stage::kAttention: return "attention over cache";
    case Stage::kValueHeads: return "values (v_b)";
    case Stage::kOutputProj: return "attn output (W_o)";
    case Stage::kRouter: return "router";
    case Stage::kExperts: return "experts";
    case Stage::kDenseFfn: return "dense ffn";
    case Stage::kResidual: return "residual adds";
    case Stage::kLogits: return "output head";
    case Stage::kCount: break;
  }
  return "?";
}

bool Enabled() { return g_enabled.load(std::memory_order_relaxed); }
void SetEnabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }
void Add(Stage s, int64_t ns) { g_ns[size_t(s)].fetch_add(ns, std::memory_order_relaxed); }

int64_t Totals::total() const {
  int64_t t = 0;
  for (int64_t v : ns) t += v;
  return t;
}

Totals Take() {
  Totals t;
  for (size_t i = 0; i < t.ns.size(); ++i) t.ns[i] = g_ns[i].exchange(0, std::memory_order_relaxed);
  return t;
}

}  // namespace mla::profile
