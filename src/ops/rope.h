// Rotary position embedding as DeepSeek applies it (spec §3.3, §3.4): adjacent pairs
// (2i, 2i+1) of the rope dims only, unit magnitude, YaRN frequency blend. Angles are formed in
// double and reduced modulo 2π before cos/sin, which are then rounded to f32.
#pragma once

#include <cstdint>
#include <vector>

namespace mla::ops {

struct RopeParams {
  int n_rot = 0;              // d_r, even
  double freq_base = 10000;   // b
  bool yarn = false;          // rope.scaling.type == "yarn"
  double factor = 1;          // s (YaRN factor, or the linear factor when !yarn)
  double orig_ctx = 4096;     // L_orig
  double beta_fast = 32;      // β_f
  double beta_slow = 1;       // β_s
};

// Spec §3.3: corr(β) = n·ln(L_orig / (β·2π)) / (2·ln b).
double YarnCorrDim(int n_rot, double freq_base, double orig_ctx, double beta);
struct YarnRange {
  double low = 0, high = 0;  // low = max(0, floor(corr(β_f))), high = min(n−1, ceil(corr(β_s)))
};
YarnRange YarnCorrRange(const RopeParams& p);

// Spec §3.4: mscale(s, m) = 1 if s ≤ 1 else 1 + 0.1·m·ln s.
double YarnMScale(double s, double m);
// Spec §3.4: M²/sqrt(d_qk) with M = mscale(s, 10·yarn_log_multiplier); no YaRN → 1/sqrt(d_qk).
double AttentionScale(bool yarn, double factor, double yarn_log_multiplier, int d_qk);

// The per-pair frequencies ω[i], i < n_rot/2, and rotation by position.
class Rope {
 public:
  Rope() = default;
  explicit Rope(const RopeParams& p);

  const RopeParams& params() const { return params_; }
  int n_pairs() const { return int(freqs_.size()); }
  const std::vector<double>& freqs() const { return freqs_; }

  // cos/sin of pos·ω[i] for every pair (n_pairs() floats each). `pos` may be negative (a shift
  // by δ rotates by −|δ|, spec §5.4).
  void CosSin(int64_t pos, float* cos, float* sin) const;

  // In place on x[0 .. 2·n_pairs()) with tables from CosSin (spec §3.3 pair formula).
  void Rotate(float* x, const float* cos, const float* sin) const;

 private:
  RopeParams params_;
  std::vector<double> freqs_;
};

}  // namespace mla::ops
