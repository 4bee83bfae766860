// The scale searches shared by the quantizers: given the values of one (sub-)block and a weight
// per value, find integer levels and scale(s) that minimise the weighted squared error
// sum(w * (x - y)^2). Same family as ggml's make_qx_quants / make_qkx2_quants / make_qp_quants /
// the IQ4 grid search; our own formulation (least-squares refits plus greedy refinement).
#pragma once

#include <cstdint>

namespace mla::quant::internal {

// Below this magnitude a (sub-)block is treated as all zero (its scale could not be stored).
inline constexpr float kGroupEps = 1e-15f;

// Symmetric: x ~ scale * L with integer L in [-nmax, nmax - 1]. Tries 2*ntry+1 candidate inverse
// scales around nmax/max|x| (the signed extreme maps to -nmax, which has the full range), refits
// the scale by least squares for each, then moves single levels while that improves the fit.
// Writes L (signed); returns the scale (0 when the block is zero).
float QuantizeSymmetric(int n, int nmax, const float* x, const float* w, int8_t* L, int ntry);

// Asymmetric: x ~ scale * L + offset, L in [0, nmax], returned as *neg_offset = -offset (the
// "min" of Q4_K/Q5_K/Q2_K, which store offsets <= 0 only: `offset_nonpositive`; Q4_1/Q5_1 store
// any offset). Candidate inverse scales
// (nmax + rmin + rdelta*k) / (max - min) for k = 0..nstep, least-squares refit of both terms,
// then refit/requantize rounds while they improve. `use_mad` measures sum(w*|x - y|) instead.
float QuantizeAsymmetric(int n, int nmax, const float* x, const float* w, uint8_t* L,
                         float* neg_offset, float rmin, float rdelta, int nstep, bool use_mad,
                         bool offset_nonpositive);

// Non-negative values (sub-block scales or mins) to d * L, L in [0, nmax]; weighted search over
// d as above. Returns d (0 when all values are ~0).
float QuantizePositive(int n, int nmax, const float* x, const float* w, uint8_t* L);

// Index of the IQ4_NL grid value nearest to v (ties to the upper one, NaN to 0; as ggml).
int NearestIq4(float v);

// IQ4 grid: x ~ scale * kIq4nlValues[L]. ggml's reference search: the least-squares scale of
// the best of 2*ntry+2 candidate inverse scales (the block's signed extreme at +127, then at
// -127 + k for |k| <= ntry), float sums in ggml's order. Writes L under that scale (unrounded, as
// ggml) and returns it (0 when the block is zero).
float QuantizeIq4(int n, const float* x, const float* w, uint8_t* L, int ntry);

// Default weights and importance: fills w[0..n) for a block. Without importance, `kind` picks
// the default of the type; with it, w = importance * sqrt(sigma2 + x^2) (a block whose importance
// is all zero falls back to the default).
enum class WeightKind { kSquare, kAbs, kAvgPlusAbs };
void BlockWeights(const float* x, int n, const float* importance, float sigma2, WeightKind kind,
                  float* w);

}  // namespace mla::quant::internal
