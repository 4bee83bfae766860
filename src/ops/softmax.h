// Softmax and sigmoid over small vectors (router scores, spec §4.2), in f32 with the row maximum
// subtracted first (spec §3.9).
#pragma once

#include <cstdint>

namespace mla::ops {

// In place. An all −∞ row gives all zeros.
void Softmax(float* x, int64_t n);
// In place: x = 1 / (1 + e^(−x)).
void Sigmoid(float* x, int64_t n);

// One chunk of an online softmax (latent attention, spec §3.9): s[0..n) holds raw scores; *max and
// *sum are the running maximum and sum of the chunks before, o[0..n_out) what they accumulated.
// Rescales o and *sum to the new maximum, turns s into exp(scale·s − max) and adds their sum.
// scale > 0, so the largest scaled score is the largest score, scaled.
void OnlineSoftmaxChunk(float* s, int64_t n, float scale, float* max, float* sum, float* o, int64_t n_out);

}  // namespace mla::ops
