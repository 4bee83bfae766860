// IQ4_NL / IQ4_XS quantizers (spec §9): 4-bit indices into the non-linear grid kIq4nlValues.
// Per 32 values, ggml's best-scale search over the grid (search.h). IQ4_NL stores that scale as
// f16 and indexes under the unrounded scale, with ggml's weights: without importance these are
// the bytes of llama-quantize (checked against an independent re-implementation of ggml's
// algorithm; on ds3-small.F16.gguf 87 % of the blocks equal those of llama.cpp's IQ4_NL file,
// which was made from the f32 weights: the others differ by the f16 rounding of the input, mostly
// by one unit of d). IQ4_XS then quantizes the 8 sub-block scales to 6-bit signed integers under
// one f16 d, re-indexes under the stored scales and refits d by least squares.
// Weights with importance: imp * sqrt(sigma2 + x^2), sigma2 = 2 * mean(x^2) of the (super-)block
// (as llama.cpp). Without: x^2 for IQ4_NL (as llama.cpp), |x| for IQ4_XS (its own search; |x|
// gives a lower plain error than x^2 there, 0.987 of llama.cpp's file against 0.997).
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/internal.h"
#include "quant/search.h"

namespace mla::quant::internal {
namespace {

constexpr int kNtry = 7;  // the extreme tried at -127 + k for |k| <= kNtry (as llama-quantize)

// sigma2 of the importance weights: twice the mean square, summed in float in order (as ggml).
float Sigma2(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s * (2.f / float(n));
}

void PackNibbles32(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
}

struct Xs {
  int8_t S[8];  // sub-block scales, [-32, 31]
  uint16_t d16;
  uint8_t L[kQK_K];
};

void XsIndices(const float* x, Xs* b) {
  const float d = F16ToF32(b->d16);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * float(b->S[j]);
    const float id = dl != 0.f ? 1.f / dl : 0.f;
    for (int i = 32 * j; i < 32 * j + 32; ++i) b->L[i] = uint8_t(NearestIq4(x[i] * id));
  }
}

double XsError(const float* x, const float* w, const Xs& b) {
  const float d = F16ToF32(b.d16);
  double e = 0;
  for (int j = 0; j < 8; ++j) {
    const float dl = d * float(b.S[j]);
    for (int i = 32 * j; i < 32 * j + 32; ++i) {
      const double diff = double(dl * float(kIq4nlValues[b.L[i]])) - x[i];
      e += w[i] * diff * diff;
    }
  }
  return e;
}

}  // namespace

void QuantizeIQ4_NL(const float* src, void* dst, int64_t n, const float* importance) {
  BlockIQ4_NL* y = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t blk = 0; blk < n / kQK4_NL; ++blk) {
    const float* x = src + blk * kQK4_NL;
    const float* qw = importance ? importance + blk * kQK4_NL : nullptr;
    float w[kQK4_NL];
    uint8_t L[kQK4_NL];
    BlockWeights(x, kQK4_NL, qw, qw ? Sigma2(x, kQK4_NL) : 0.f, WeightKind::kSquare, w);
    // L is indexed under the unrounded scale, as ggml (re-indexing under the f16 one changes the
    // squared error by less than 0.001 % on ds3-small, and would no longer give ggml's bytes).
    y[blk].d = ScaleToF16(QuantizeIq4(kQK4_NL, x, w, L, kNtry));
    PackNibbles32(L, y[blk].qs);
  }
}

void QuantizeIQ4_XS(const float* src, void* dst, int64_t n, const float* importance) {
  BlockIQ4_XS* y = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    const float* x = src + blk * kQK_K;
    const float* qw = importance ? importance + blk * kQK_K : nullptr;
    const float sigma2 = qw ? Sigma2(x, kQK_K) : 0.f;
    float w[kQK_K], scales[8], sw[8];
    Xs b;
    for (int j = 0; j < 8; ++j) {
      BlockWeights(x + 32 * j, 32, qw ? qw + 32 * j : nullptr, sigma2, WeightKind::kAbs, w + 32 * j);
      scales[j] = QuantizeIq4(32, x + 32 * j, w + 32 * j, b.L + 32 * j, kNtry);
      double s = 0;
      for (int i = 0; i < 32; ++i) s += w[32 * j + i];
      sw[j] = float(s);
    }
    b.d16 = ScaleToF16(QuantizeSymmetric(8, 32, scales, sw, b.S, 9));
    XsIndices(x, &b);
    double best = XsError(x, w, b);
    for (int iter = 0; iter < 3; ++iter) {  // refit d with every integer fixed
      double aa = 0, ax = 0;
      for (int i = 0; i < kQK_K; ++i) {
        const double a = double(b.S[i / 32]) * kIq4nlValues[b.L[i]];
        aa += w[i] * a * a;
        ax += w[i] * a * x[i];
      }
      if (!(aa > 0)) break;
      Xs c = b;
      c.d16 = ScaleToF16(float(ax / aa));
      XsIndices(x, &c);
      const double e = XsError(x, w, c);
      if (!(e < best)) break;
      b = c;
      best = e;
    }
    BlockIQ4_XS& o = y[blk];
    o.d = b.d16;
    o.scales_h = 0;
    std::memset(o.scales_l, 0, sizeof(o.scales_l));
    for (int j = 0; j < 8; ++j) {
      const int ls = b.S[j] + 32;  // 0..63
      o.scales_l[j / 2] |= uint8_t((ls & 0xF) << (4 * (j % 2)));
      o.scales_h = uint16_t(o.scales_h | ((ls >> 4) << (2 * j)));
    }
    for (int j = 0; j < 8; ++j) PackNibbles32(b.L + 32 * j, o.qs + 16 * j);
  }
}

}  // namespace mla::quant::internal
