#include "quant/search.h"

#include <cmath>

#include "quant/blocks.h"
#include "quant/internal.h"

namespace mla::quant::internal {
namespace {

// Signed value of largest magnitude (the first one on ties) and that magnitude.
float SignedMax(int n, const float* x, float* amax) {
  float best = 0, m = 0;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > best) {
      best = a;
      m = x[i];
    }
  }
  *amax = best;
  return m;
}

}  // namespace

float QuantizeSymmetric(int n, int nmax, const float* x, const float* w, int8_t* L, int ntry) {
  float amax;
  const float max = SignedMax(n, x, &amax);
  if (amax < kGroupEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0;
  }
  // Candidate inverse scales; keep the one whose least-squares scale explains the most weighted
  // energy: with s = sum(wxl)/sum(wl^2) the error is sum(wx^2) - sum(wxl)^2/sum(wl^2).
  double best_lx = 0, best_l2 = 0;
  bool have = false;
  int8_t tmp[256];
  for (int t = 0; t <= 2 * ntry; ++t) {
    const int k = t == 0 ? 0 : (t % 2 ? (t + 1) / 2 : -(t / 2));  // 0, 1, -1, 2, -2, ...
    const float iscale = -(float(nmax) + 0.1f * float(k)) / max;
    double lx = 0, l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = RoundClamp(iscale * x[i], -nmax, nmax - 1);
      tmp[i] = int8_t(l);
      lx += double(w[i]) * x[i] * l;
      l2 += double(w[i]) * l * l;
    }
    if (!have || (l2 > 0 && (best_l2 == 0 || lx * lx * best_l2 > best_lx * best_lx * l2))) {
      for (int i = 0; i < n; ++i) L[i] = tmp[i];
      best_lx = lx;
      best_l2 = l2;
      have = true;
    }
  }
  if (best_l2 <= 0 || best_lx == 0) {  // weights all zero: plain max scaling
    for (int i = 0; i < n; ++i) L[i] = int8_t(RoundClamp(-float(nmax) / max * x[i], -nmax, nmax - 1));
    return -max / float(nmax);
  }
  // Greedy refinement: move single levels to the nearest level under the current scale when
  // that raises the explained energy (each accepted move strictly lowers the error).
  for (int iter = 0; iter < 8; ++iter) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      if (w[i] <= 0) continue;
      const double scale = best_lx / best_l2;
      const int old_l = L[i];
      const int new_l = RoundClamp(float(x[i] / scale), -nmax, nmax - 1);
      if (new_l == old_l) continue;
      const double lx = best_lx + double(w[i]) * x[i] * (new_l - old_l);
      const double l2 = best_l2 + double(w[i]) * (double(new_l) * new_l - double(old_l) * old_l);
      if (l2 > 0 && lx * lx * best_l2 > best_lx * best_lx * l2) {
        L[i] = int8_t(new_l);
        best_lx = lx;
        best_l2 = l2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  return float(best_lx / best_l2);
}

namespace {

// Weighted error of x ~ scale * L + offset.
double AsymError(int n, const float* x, const float* w, const uint8_t* L, float scale, float offset,
                 bool use_mad) {
  double e = 0;
  for (int i = 0; i < n; ++i) {
    const double diff = double(scale) * L[i] + offset - x[i];
    e += w[i] * (use_mad ? std::fabs(diff) : diff * diff);
  }
  return e;
}

// Weighted sums of a block that do not depend on the levels.
struct AsymConst {
  double w = 0, x = 0, x2 = 0;
};

// Least-squares (scale, offset) for fixed levels (offset <= 0 when `offset_nonpositive`) and the
// weighted error they give, from one pass of sums (the squared error in closed form). False if
// the levels cannot determine a scale.
bool AsymFit(int n, const float* x, const float* w, const uint8_t* L, const AsymConst& c,
             bool offset_nonpositive, bool use_mad, float* scale, float* offset, double* err) {
  double sl = 0, sl2 = 0, sxl = 0;
  for (int i = 0; i < n; ++i) {
    const double wl = double(w[i]) * L[i];
    sl += wl;
    sl2 += wl * L[i];
    sxl += wl * x[i];
  }
  const double det = c.w * sl2 - sl * sl;
  if (det <= 0) return false;
  double s = (c.w * sxl - c.x * sl) / det;
  double o = (sl2 * c.x - sl * sxl) / det;
  if (o > 0 && offset_nonpositive) {  // K-quants only store offsets <= 0: refit the scale alone
    o = 0;
    s = sxl / sl2;
  }
  *scale = float(s);
  *offset = float(o);
  if (use_mad) {
    *err = AsymError(n, x, w, L, *scale, *offset, true);
  } else {
    s = *scale;
    o = *offset;
    *err = s * s * sl2 + 2 * s * o * sl - 2 * s * sxl + o * o * c.w - 2 * o * c.x + c.x2;
  }
  return true;
}

void AsymLevels(int n, int nmax, const float* x, float scale, float offset, uint8_t* L) {
  const float inv = scale != 0 ? 1.f / scale : 0.f;
  for (int i = 0; i < n; ++i) L[i] = uint8_t(RoundClamp((x[i] - offset) * inv, 0, nmax));
}

}  // namespace

float QuantizeAsymmetric(int n, int nmax, const float* x, const float* w, uint8_t* L,
                         float* neg_offset, float rmin, float rdelta, int nstep, bool use_mad,
                         bool offset_nonpositive) {
  float min = x[0], max = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
  }
  if (min > 0 && offset_nonpositive) min = 0;
  if (!(max - min > kGroupEps)) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *neg_offset = -min;
    return 0;
  }
  AsymConst c;
  for (int i = 0; i < n; ++i) {
    c.w += w[i];
    c.x += double(w[i]) * x[i];
    c.x2 += double(w[i]) * x[i] * x[i];
  }
  float best_scale = (max - min) / float(nmax), best_offset = min;
  AsymLevels(n, nmax, x, best_scale, best_offset, L);
  double best = AsymError(n, x, w, L, best_scale, best_offset, use_mad);
  uint8_t tmp[256];
  for (int k = 0; k <= nstep; ++k) {
    const float iscale = (rmin + rdelta * float(k) + float(nmax)) / (max - min);
    for (int i = 0; i < n; ++i) tmp[i] = uint8_t(RoundClamp(iscale * (x[i] - min), 0, nmax));
    float s, o;
    double e;
    if (!AsymFit(n, x, w, tmp, c, offset_nonpositive, use_mad, &s, &o, &e)) continue;
    if (e < best) {
      for (int i = 0; i < n; ++i) L[i] = tmp[i];
      best = e;
      best_scale = s;
      best_offset = o;
    }
  }
  // Alternate requantizing under the fitted terms and refitting while the error drops.
  for (int iter = 0; iter < 4; ++iter) {
    AsymLevels(n, nmax, x, best_scale, best_offset, tmp);
    float s, o;
    double e;
    if (!AsymFit(n, x, w, tmp, c, offset_nonpositive, use_mad, &s, &o, &e)) break;
    if (!(e < best)) break;
    for (int i = 0; i < n; ++i) L[i] = tmp[i];
    best = e;
    best_scale = s;
    best_offset = o;
  }
  *neg_offset = -best_offset;
  return best_scale;
}

float QuantizePositive(int n, int nmax, const float* x, const float* w, uint8_t* L) {
  float max = 0;
  for (int i = 0; i < n; ++i)
    if (x[i] > max) max = x[i];
  if (max < kGroupEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0;
  }
  // As QuantizeSymmetric, over [0, nmax]: candidates, least-squares scale, greedy moves.
  double best_lx = 0, best_l2 = 0;
  bool have = false;
  uint8_t tmp[256];
  for (int k = -4; k <= 4; ++k) {
    const float iscale = (float(nmax) + 0.1f * float(k)) / max;
    double lx = 0, l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = RoundClamp(iscale * x[i], 0, nmax);
      tmp[i] = uint8_t(l);
      lx += double(w[i]) * x[i] * l;
      l2 += double(w[i]) * l * l;
    }
    if (!have || (l2 > 0 && (best_l2 == 0 || lx * lx * best_l2 > best_lx * best_lx * l2))) {
      for (int i = 0; i < n; ++i) L[i] = tmp[i];
      best_lx = lx;
      best_l2 = l2;
      have = true;
    }
  }
  if (best_l2 <= 0 || best_lx <= 0) {  // weights all zero: plain rounding of max scaling
    for (int i = 0; i < n; ++i) L[i] = uint8_t(RoundClamp(float(nmax) * x[i] / max, 0, nmax));
    return max / float(nmax);
  }
  for (int iter = 0; iter < 8; ++iter) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      if (w[i] <= 0) continue;
      const double scale = best_lx / best_l2;
      const int old_l = L[i];
      const int new_l = RoundClamp(float(x[i] / scale), 0, nmax);
      if (new_l == old_l) continue;
      const double lx = best_lx + double(w[i]) * x[i] * (new_l - old_l);
      const double l2 = best_l2 + double(w[i]) * (double(new_l) * new_l - double(old_l) * old_l);
      if (l2 > 0 && lx > 0 && lx * lx * best_l2 > best_lx * best_lx * l2) {
        L[i] = uint8_t(new_l);
        best_lx = lx;
        best_l2 = l2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  return float(best_lx / best_l2);
}

namespace {

// Twice every midpoint of two neighbouring grid values is an integer, so v goes to level j + 1
// instead of j exactly when 2v >= kIq4nlValues[j] + kIq4nlValues[j + 1] (ties go up, as in ggml),
// and that test only depends on floor(2v): one table entry per integer of 2v between the first
// and the last midpoint. 2v is exact in float, so there is no rounding on the way.
constexpr int kIq4Lo = kIq4nlValues[0] + kIq4nlValues[1], kIq4Hi = kIq4nlValues[14] + kIq4nlValues[15];
struct Iq4Table {
  uint8_t index[kIq4Hi - kIq4Lo];
  constexpr Iq4Table() : index() {
    for (int f = kIq4Lo; f < kIq4Hi; ++f) {
      int j = 0;
      while (j < 15 && f >= kIq4nlValues[j] + kIq4nlValues[j + 1]) ++j;
      index[f - kIq4Lo] = uint8_t(j);
    }
  }
};
constexpr Iq4Table kIq4Table;

}  // namespace

int NearestIq4(float v) {
  const float v2 = v + v;
  if (!(v2 >= float(kIq4Lo))) return 0;  // also NaN
  if (v2 >= float(kIq4Hi)) return 15;
  return kIq4Table.index[int(std::floor(v2)) - kIq4Lo];
}

namespace {

// Least-squares fit of x ~ d * grid[L] with L the nearest levels of id * x: accumulates
// sum(w q x) and sum(w q^2) in float, term by term in order (as ggml, so that the choice between
// two candidates, and with it the file, is the same as llama-quantize's).
void Iq4Sums(int n, const float* x, const float* w, float id, float* sumqx, float* sumq2) {
  float qx = 0, q2 = 0;
  for (int i = 0; i < n; ++i) {
    const float q = float(kIq4nlValues[NearestIq4(id * x[i])]);
    qx += w[i] * q * x[i];
    q2 += w[i] * q * q;
  }
  *sumqx = qx;
  *sumq2 = q2;
}

}  // namespace

float QuantizeIq4(int n, const float* x, const float* w, uint8_t* L, int ntry) {
  float amax;
  const float max = SignedMax(n, x, &amax);
  if (amax < kGroupEps) {
    for (int i = 0; i < n; ++i) L[i] = uint8_t(NearestIq4(0));
    return 0;
  }
  // The candidates are those of ggml's reference search: first the extreme at +127 (past the
  // short end of the grid, so it lands on +113), then the extreme at -127 + k for |k| <= ntry,
  // on the long end. Trying the short end as thoroughly (extreme at 113 + k) finds scales with a
  // ~2 % smaller squared error, but it gives the block's extreme the short end in a third of the
  // blocks instead of 3 %, and on ds3-small (IQ4_NL, |x| weights) that raised the mean KL from
  // 2.19e-3 to 2.89e-3, and to 4.2e-3 with the short end only: the error measure misses this.
  float sumqx, sumq2;
  Iq4Sums(n, x, w, 1.f / (max / 127.f), &sumqx, &sumq2);
  float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int k = -ntry; k <= ntry; ++k) {
    Iq4Sums(n, x, w, float(k + kIq4nlValues[0]) / max, &sumqx, &sumq2);
    // Least-squares error is sum(wx^2) - sumqx^2/sumq2: keep the largest sumqx^2/sumq2.
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  // Only for magnitudes near the float limit (the float sums overflow): plain scaling.
  if (!std::isfinite(d)) d = max / float(kIq4nlValues[0]);
  const float id = d != 0.f ? 1.f / d : 0.f;
  for (int i = 0; i < n; ++i) L[i] = uint8_t(NearestIq4(id * x[i]));
  return d;
}

void BlockWeights(const float* x, int n, const float* importance, float sigma2, WeightKind kind,
                  float* w) {
  if (importance) {
    double total = 0;
    for (int i = 0; i < n; ++i) total += importance[i];
    if (total > 0) {
      for (int i = 0; i < n; ++i) w[i] = importance[i] * std::sqrt(sigma2 + x[i] * x[i]);
      return;
    }
  }
  switch (kind) {
    case WeightKind::kSquare:
      for (int i = 0; i < n; ++i) w[i] = x[i] * x[i];
      break;
    case WeightKind::kAbs:
      for (int i = 0; i < n; ++i) w[i] = std::fabs(x[i]);
      break;
    case WeightKind::kAvgPlusAbs: {
      double s2 = 0;
      for (int i = 0; i < n; ++i) s2 += double(x[i]) * x[i];
      const float av = float(std::sqrt(s2 / n));
      for (int i = 0; i < n; ++i) w[i] = av + std::fabs(x[i]);
      break;
    }
  }
}

}  // namespace mla::quant::internal
