// The online softmax's pieces (kernels.h): the largest score and exp(scale·x - shift) with its sum.
// exp is one polynomial in fixed fused multiply-add steps (below), so the AVX2 and AVX-512
// versions (exp_avx2.cc, exp_avx512.cc) equal this scalar twin bit for bit; the sum keeps the
// canonical 16 lanes and Reduce16.
#include <cmath>
#include <limits>

#include "base/cpu.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels {

namespace scalar {

float ExpPoly(float x) {
  using namespace exp_poly;
  if (x < kMinArg) return 0.f;  // below this exp(x) is subnormal: softmax weights that small are 0
  x = std::fmin(x, kMaxArg);
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, kMinusLn2Hi, x);
  r = std::fma(n, kMinusLn2Lo, r);
  float y = std::fma(kP0, r, kP1);
  y = std::fma(y, r, kP2);
  y = std::fma(y, r, kP3);
  y = std::fma(y, r, kP4);
  y = std::fma(y, r, kP5);
  y = std::fma(y, r * r, r);
  y = y + 1.f;
  return y * Pow2(int(n));
}

float MaxValue(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::fmax(m, x[i]);
  return m;
}

float ExpSum(float* x, int64_t n, float scale, float shift) {
  float acc[16] = {};
  for (int64_t i = 0; i < n; ++i) {
    x[i] = ExpPoly(x[i] * scale - shift);
    acc[i % 16] += x[i];
  }
  return Reduce16(acc);
}

}  // namespace scalar

float MaxValue(const float* x, int64_t n) {
  const CpuFeatures& cpu = Cpu();
  if (cpu.avx512) return avx512::MaxValue(x, n);
  if (cpu.avx2) return avx2::MaxValue(x, n);
  return scalar::MaxValue(x, n);
}

float ExpSum(float* x, int64_t n, float scale, float shift) {
  const CpuFeatures& cpu = Cpu();
  if (cpu.avx512) return avx512::ExpSum(x, n, scale, shift);
  if (cpu.avx2) return avx2::ExpSum(x, n, scale, shift);
  return scalar::ExpSum(x, n, scale, shift);
}

}  // namespace mla::kernels
