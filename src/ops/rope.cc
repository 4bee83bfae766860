#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace mla::ops {

double YarnCorrDim(int n_rot, double freq_base, double orig_ctx, double beta) {
  return n_rot * std::log(orig_ctx / (beta * 2 * std::numbers::pi)) / (2 * std::log(freq_base));
}

YarnRange YarnCorrRange(const RopeParams& p) {
  YarnRange r;
  r.low = std::max(0.0, std::floor(YarnCorrDim(p.n_rot, p.freq_base, p.orig_ctx, p.beta_fast)));
  r.high = std::min(double(p.n_rot - 1),
                    std::ceil(YarnCorrDim(p.n_rot, p.freq_base, p.orig_ctx, p.beta_slow)));
  return r;
}

double YarnMScale(double s, double m) { return s <= 1 ? 1.0 : 1.0 + 0.1 * m * std::log(s); }

double AttentionScale(bool yarn, double factor, double yarn_log_multiplier, int d_qk) {
  // The GGUF key stores 0.1·mscale_all_dim, so M = 1 + yarn_log_multiplier·ln s.
  const double m = yarn ? YarnMScale(factor, 10.0 * yarn_log_multiplier) : 1.0;
  return m * m / std::sqrt(double(d_qk));
}

Rope::Rope(const RopeParams& p) : params_(p) {
  const int n = p.n_rot;
  freqs_.resize(size_t(n / 2));
  YarnRange range;
  if (p.yarn) range = YarnCorrRange(p);
  for (int i = 0; i < n / 2; ++i) {
    const double extrap = std::pow(p.freq_base, -2.0 * i / n);
    const double interp = extrap / p.factor;
    if (!p.yarn) {
      freqs_[size_t(i)] = interp;  // linear scaling (factor 1 = plain RoPE)
      continue;
    }
    const double ramp =
        std::clamp((i - range.low) / std::max(0.001, range.high - range.low), 0.0, 1.0);
    freqs_[size_t(i)] = interp * ramp + extrap * (1 - ramp);  // keep = 1 − ramp
  }
}

void Rope::CosSin(int64_t pos, float* cos, float* sin) const {
  constexpr double kTwoPi = 2 * std::numbers::pi;
  for (size_t i = 0; i < freqs_.size(); ++i) {
    const double theta = std::fmod(double(pos) * freqs_[i], kTwoPi);
    cos[i] = float(std::cos(theta));
    sin[i] = float(std::sin(theta));
  }
}

void Rope::Rotate(float* x, const float* cos, const float* sin) const {
  for (size_t i = 0; i < freqs_.size(); ++i) {
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * cos[i] - b * sin[i];
    x[2 * i + 1] = a * sin[i] + b * cos[i];
  }
}

}  // namespace mla::ops
