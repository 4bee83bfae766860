// K-quant quantizers (spec §9 Q2_K..Q6_K). Each super-block of 256 goes through the same steps:
//  1. per sub-block, a weighted search for the levels and the sub-block scale (and min);
//  2. the sub-block scales (and mins) are themselves quantized (4, 6 or 8 bits) by a weighted
//     search, giving the f16 super-block scale d (and dmin);
//  3. the levels are recomputed under the scales actually stored, then d (and dmin) are refit by
//     least squares over the whole super-block while that lowers the weighted error.
// Weights: without importance |x| (Q2_K, Q3_K, Q6_K) or rms + |x| (Q4_K, Q5_K). ggml's reference
// uses x^2 for Q3_K/Q6_K; on the fixture weights |x| gives lower error than llama.cpp's files both
// plainly and x^2-weighted (Q3_K 0.979 / 0.935 of theirs, Q6_K 0.982 / 0.998), while x^2 traded
// one for the other. With importance w = imp * sqrt(sigma2 + x^2), sigma2 = 2 * mean(x^2) of the
// super-block (as llama.cpp's imatrix quantizers).
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/internal.h"
#include "quant/search.h"

namespace mla::quant::internal {
namespace {

float Sigma2(const float* x) {
  double s = 0;
  for (int i = 0; i < kQK_K; ++i) s += double(x[i]) * x[i];
  return float(2 * s / kQK_K);
}

float Sum(const float* w, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += w[i];
  return float(s);
}

// ---- formats with a scale and a min per sub-block: y = (d*Ls)*L - (dmin*Lm) -------------------

struct ScaleMinBlock {
  int nsub, sub, nmax;      // sub-blocks, elements per sub-block, largest level
  uint8_t Ls[16], Lm[16];   // quantized sub-block scales and mins
  uint16_t d16, dmin16;
  uint8_t L[kQK_K];
};

void ScaleMinLevels(const float* x, ScaleMinBlock* b) {
  const float d = F16ToF32(b->d16), dmin = F16ToF32(b->dmin16);
  for (int j = 0; j < b->nsub; ++j) {
    const float dl = d * float(b->Ls[j]), ml = dmin * float(b->Lm[j]);
    for (int i = j * b->sub; i < (j + 1) * b->sub; ++i)
      b->L[i] = uint8_t(dl != 0.f ? RoundClamp((x[i] + ml) / dl, 0, b->nmax) : 0);
  }
}

double ScaleMinError(const float* x, const float* w, const ScaleMinBlock& b) {
  const float d = F16ToF32(b.d16), dmin = F16ToF32(b.dmin16);
  double e = 0;
  for (int j = 0; j < b.nsub; ++j) {
    const float dl = d * float(b.Ls[j]), ml = dmin * float(b.Lm[j]);
    for (int i = j * b.sub; i < (j + 1) * b.sub; ++i) {
      const double diff = double(dl * float(b.L[i]) - ml) - x[i];
      e += w[i] * diff * diff;
    }
  }
  return e;
}

// Steps 2 and 3 for Q2_K / Q4_K / Q5_K. `scales`/`mins` from step 1, `sw` the sub-block weights.
void FinishScaleMin(const float* x, const float* w, const float* scales, const float* mins,
                    const float* sw, int scale_max, ScaleMinBlock* b) {
  const float d = QuantizePositive(b->nsub, scale_max, scales, sw, b->Ls);
  const float dmin = QuantizePositive(b->nsub, scale_max, mins, sw, b->Lm);
  b->d16 = ScaleToF16(d);
  b->dmin16 = ScaleToF16(dmin);
  ScaleMinLevels(x, b);
  double best = ScaleMinError(x, w, *b);
  for (int iter = 0; iter < 3; ++iter) {
    // Least squares for (d, e = -dmin) with every integer fixed: x ~ d*a + e*m.
    double aa = 0, am = 0, mm = 0, ax = 0, mx = 0;
    for (int j = 0; j < b->nsub; ++j)
      for (int i = j * b->sub; i < (j + 1) * b->sub; ++i) {
        const double a = double(b->Ls[j]) * b->L[i], m = b->Lm[j];
        aa += w[i] * a * a;
        am += w[i] * a * m;
        mm += w[i] * m * m;
        ax += w[i] * a * x[i];
        mx += w[i] * m * x[i];
      }
    const double det = aa * mm - am * am;
    ScaleMinBlock c = *b;
    if (det > 0) {
      c.d16 = ScaleToF16(float((ax * mm - am * mx) / det));
      c.dmin16 = ScaleToF16(float(-(aa * mx - am * ax) / det));
    } else if (aa > 0) {
      c.d16 = ScaleToF16(float(ax / aa));
    } else {
      break;
    }
    ScaleMinLevels(x, &c);
    const double e = ScaleMinError(x, w, c);
    if (!(e < best)) break;
    *b = c;
    best = e;
  }
}

// Q4_K / Q5_K sub-block scales and mins, 6 bits each, packed as spec §9 get_scale_min_k4 reads.
void PackScaleMinK4(const uint8_t* Ls, const uint8_t* Lm, uint8_t* scales) {
  std::memset(scales, 0, kKScaleBytes);
  for (int s = 0; s < 8; ++s) {
    if (s < 4) {
      scales[s] = Ls[s];
      scales[s + 4] = Lm[s];
    } else {
      scales[s + 4] = uint8_t((Ls[s] & 0xF) | ((Lm[s] & 0xF) << 4));
      scales[s - 4] |= uint8_t((Ls[s] >> 4) << 6);
      scales[s] |= uint8_t((Lm[s] >> 4) << 6);
    }
  }
}

// Step 1 and 2-3 of Q4_K and Q5_K (nmax 15 or 31): 8 sub-blocks of 32.
void QuantizeK4Like(const float* x, const float* qw, int nmax, ScaleMinBlock* b) {
  b->nsub = 8;
  b->sub = 32;
  b->nmax = nmax;
  const float sigma2 = qw ? Sigma2(x) : 0.f;
  float w[kQK_K], scales[8], mins[8], sw[8];
  for (int j = 0; j < 8; ++j) {
    float* wj = w + 32 * j;
    BlockWeights(x + 32 * j, 32, qw ? qw + 32 * j : nullptr, sigma2, WeightKind::kAvgPlusAbs, wj);
    // Search ranges of ggml's reference (no importance) and imatrix quantizers.
    if (qw)
      scales[j] = QuantizeAsymmetric(32, nmax, x + 32 * j, wj, b->L + 32 * j, &mins[j], -0.9f,
                                     0.05f, 36, false, true);
    else if (nmax == 15)
      scales[j] = QuantizeAsymmetric(32, nmax, x + 32 * j, wj, b->L + 32 * j, &mins[j], -1.f, 0.1f,
                                     20, false, true);
    else
      scales[j] = QuantizeAsymmetric(32, nmax, x + 32 * j, wj, b->L + 32 * j, &mins[j], -0.5f,
                                     0.1f, 15, false, true);
    sw[j] = Sum(wj, 32);
  }
  FinishScaleMin(x, w, scales, mins, sw, 63, b);
}

// ---- formats with one signed scale per sub-block: y = (d*S)*q ------------------------------

struct SymBlock {
  int nsub, sub, qmin, qmax;  // levels q in [qmin, qmax]
  int8_t S[16];               // sub-block scales (signed integers)
  uint16_t d16;
  int8_t q[kQK_K];
};

void SymLevels(const float* x, SymBlock* b) {
  const float d = F16ToF32(b->d16);
  for (int j = 0; j < b->nsub; ++j) {
    const float dl = d * float(b->S[j]);
    for (int i = j * b->sub; i < (j + 1) * b->sub; ++i)
      b->q[i] = int8_t(dl != 0.f ? RoundClamp(x[i] / dl, b->qmin, b->qmax) : 0);
  }
}

double SymError(const float* x, const float* w, const SymBlock& b) {
  const float d = F16ToF32(b.d16);
  double e = 0;
  for (int j = 0; j < b.nsub; ++j) {
    const float dl = d * float(b.S[j]);
    for (int i = j * b.sub; i < (j + 1) * b.sub; ++i) {
      const double diff = double(dl * float(b.q[i])) - x[i];
      e += w[i] * diff * diff;
    }
  }
  return e;
}

// Steps 2 and 3 for Q3_K / Q6_K: the signed sub-block scales to integers in [-smax, smax-1].
void FinishSym(const float* x, const float* w, const float* scales, const float* sw, int smax,
               SymBlock* b) {
  const float d = QuantizeSymmetric(b->nsub, smax, scales, sw, b->S, 9);
  b->d16 = ScaleToF16(d);
  SymLevels(x, b);
  double best = SymError(x, w, *b);
  for (int iter = 0; iter < 3; ++iter) {
    double aa = 0, ax = 0;
    for (int j = 0; j < b->nsub; ++j)
      for (int i = j * b->sub; i < (j + 1) * b->sub; ++i) {
        const double a = double(b->S[j]) * b->q[i];
        aa += w[i] * a * a;
        ax += w[i] * a * x[i];
      }
    if (!(aa > 0)) break;
    SymBlock c = *b;
    c.d16 = ScaleToF16(float(ax / aa));
    SymLevels(x, &c);
    const double e = SymError(x, w, c);
    if (!(e < best)) break;
    *b = c;
    best = e;
  }
}

// 16 sub-blocks of 16 with symmetric levels in [-nmax, nmax-1]; scales to [-smax, smax-1].
void QuantizeSym16(const float* x, const float* qw, int nmax, int smax, SymBlock* b) {
  b->nsub = 16;
  b->sub = 16;
  b->qmin = -nmax;
  b->qmax = nmax - 1;
  const float sigma2 = qw ? Sigma2(x) : 0.f;
  float w[kQK_K], scales[16], sw[16];
  for (int j = 0; j < 16; ++j) {
    float* wj = w + 16 * j;
    BlockWeights(x + 16 * j, 16, qw ? qw + 16 * j : nullptr, sigma2, WeightKind::kAbs, wj);
    scales[j] = QuantizeSymmetric(16, nmax, x + 16 * j, wj, b->q + 16 * j, 9);
    sw[j] = Sum(wj, 16);
  }
  FinishSym(x, w, scales, sw, smax, b);
}

}  // namespace

// spec §9 Q2_K: 16 sub-blocks of 16, 2-bit levels, 4-bit scale and min each.
void QuantizeQ2_K(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ2_K* y = static_cast<BlockQ2_K*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    const float* x = src + blk * kQK_K;
    const float* qw = importance ? importance + blk * kQK_K : nullptr;
    ScaleMinBlock b;
    b.nsub = 16;
    b.sub = 16;
    b.nmax = 3;
    const float sigma2 = qw ? Sigma2(x) / 2 : 0.f;
    float w[kQK_K], scales[16], mins[16], sw[16];
    for (int j = 0; j < 16; ++j) {
      float* wj = w + 16 * j;
      BlockWeights(x + 16 * j, 16, qw ? qw + 16 * j : nullptr, sigma2, WeightKind::kAbs, wj);
      // ggml's reference measures absolute deviations here (weights |x|).
      scales[j] = QuantizeAsymmetric(16, 3, x + 16 * j, wj, b.L + 16 * j, &mins[j], -0.5f, 0.1f,
                                     15, qw == nullptr, true);
      sw[j] = Sum(wj, 16);
    }
    FinishScaleMin(x, w, scales, mins, sw, 15, &b);
    BlockQ2_K& o = y[blk];
    for (int j = 0; j < 16; ++j) o.scales[j] = uint8_t(b.Ls[j] | (b.Lm[j] << 4));
    std::memset(o.qs, 0, sizeof(o.qs));
    // Element 128c + 32j + 16h + l: bits 2j of qs[32c + 16h + l].
    for (int i = 0; i < kQK_K; ++i) {
      const int c = i / 128, j = (i / 32) % 4, hl = i % 32;
      o.qs[32 * c + hl] |= uint8_t(b.L[i] << (2 * j));
    }
    o.d = b.d16;
    o.dmin = b.dmin16;
  }
}

// spec §9 Q3_K: 16 sub-blocks of 16, 3-bit signed levels, 6-bit signed scales.
void QuantizeQ3_K(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ3_K* y = static_cast<BlockQ3_K*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    const float* x = src + blk * kQK_K;
    SymBlock b;
    QuantizeSym16(x, importance ? importance + blk * kQK_K : nullptr, 4, 32, &b);
    BlockQ3_K& o = y[blk];
    std::memset(o.scales, 0, sizeof(o.scales));
    for (int s = 0; s < 16; ++s) {
      const int ls = b.S[s] + 32;  // 0..63
      if (s < 8)
        o.scales[s] |= uint8_t(ls & 0xF);
      else
        o.scales[s - 8] |= uint8_t((ls & 0xF) << 4);
      o.scales[8 + s % 4] |= uint8_t((ls >> 4) << (2 * (s / 4)));
    }
    std::memset(o.qs, 0, sizeof(o.qs));
    std::memset(o.hmask, 0, sizeof(o.hmask));
    // Element 128c + 32j + 16h + l: low bits at 2j of qs[32c + 16h + l], the high bit (set when
    // the level is >= 0, i.e. no -4 offset) at bit 4c + j of hmask[16h + l].
    for (int i = 0; i < kQK_K; ++i) {
      const int c = i / 128, j = (i / 32) % 4, hl = i % 32;
      const int q = b.q[i] + 4;  // 0..7
      o.qs[32 * c + hl] |= uint8_t((q & 3) << (2 * j));
      if (q & 4) o.hmask[hl] |= uint8_t(1 << (4 * c + j));
    }
    o.d = b.d16;
  }
}

// spec §9 Q4_K
void QuantizeQ4_K(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ4_K* y = static_cast<BlockQ4_K*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    ScaleMinBlock b;
    QuantizeK4Like(src + blk * kQK_K, importance ? importance + blk * kQK_K : nullptr, 15, &b);
    BlockQ4_K& o = y[blk];
    PackScaleMinK4(b.Ls, b.Lm, o.scales);
    for (int u = 0; u < 4; ++u)
      for (int l = 0; l < 32; ++l)
        o.qs[32 * u + l] = uint8_t(b.L[64 * u + l] | (b.L[64 * u + 32 + l] << 4));
    o.d = b.d16;
    o.dmin = b.dmin16;
  }
}

// spec §9 Q5_K
void QuantizeQ5_K(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ5_K* y = static_cast<BlockQ5_K*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    ScaleMinBlock b;
    QuantizeK4Like(src + blk * kQK_K, importance ? importance + blk * kQK_K : nullptr, 31, &b);
    BlockQ5_K& o = y[blk];
    PackScaleMinK4(b.Ls, b.Lm, o.scales);
    std::memset(o.qh, 0, sizeof(o.qh));
    for (int u = 0; u < 4; ++u)
      for (int l = 0; l < 32; ++l) {
        const int lo = b.L[64 * u + l], hi = b.L[64 * u + 32 + l];
        o.qs[32 * u + l] = uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
        o.qh[l] |= uint8_t(((lo >> 4) << (2 * u)) | ((hi >> 4) << (2 * u + 1)));
      }
    o.d = b.d16;
    o.dmin = b.dmin16;
  }
}

// spec §9 Q6_K: 16 sub-blocks of 16, 6-bit signed levels, 8-bit signed scales.
void QuantizeQ6_K(const float* src, void* dst, int64_t n, const float* importance) {
  BlockQ6_K* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    const float* x = src + blk * kQK_K;
    SymBlock b;
    QuantizeSym16(x, importance ? importance + blk * kQK_K : nullptr, 32, 128, &b);
    BlockQ6_K& o = y[blk];
    for (int s = 0; s < 16; ++s) o.scales[s] = b.S[s];
    for (int c = 0; c < 2; ++c)
      for (int l = 0; l < 32; ++l) {
        const int q1 = b.q[128 * c + l] + 32, q2 = b.q[128 * c + l + 32] + 32;
        const int q3 = b.q[128 * c + l + 64] + 32, q4 = b.q[128 * c + l + 96] + 32;
        o.ql[64 * c + l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
        o.ql[64 * c + l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
        o.qh[32 * c + l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    o.d = b.d16;
  }
}

}  // namespace mla::quant::internal
