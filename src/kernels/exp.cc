// The online softmax's pieces (kernels.h): the largest score and exp(scale·x - shift) with its sum;
// and SwiGLU's SiLU·up, which needs the same exp.
// exp is one polynomial in fixed fused multiply-add steps (exp_poly.h, instantiated here for
// floats and in exp_avx2.cc / exp_avx512.cc for registers), so every ISA gives the same bits; the
// sum keeps the canonical 16 lanes and Reduce16.
#include <cmath>
#include <limits>

#include "base/cpu.h"
#include "kernels/exp_poly.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels {

namespace scalar {

namespace {

struct Scalar {
  using Reg = float;
  static float Set1(float x) { return x; }
  static float Min(float a, float b) { return std::fmin(a, b); }  // NaN a -> b, as MINPS
  static float Mul(float a, float b) { return a * b; }
  static float Add(float a, float b) { return a + b; }
  static float Fmadd(float a, float b, float c) { return std::fma(a, b, c); }
  static float RoundEven(float x) { return std::nearbyint(x); }
  static float ScaleByPow2(float y, float n) { return y * Bits2F32(uint32_t(int(n) + 127) << 23); }
  static float AtLeast(float x, float c, float v) { return x < c ? 0.f : v; }
};

}  // namespace

float ExpPoly(float x) { return ExpPolyOf<Scalar>(x); }

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

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.f + ExpPoly(-gate[i])) * up[i];
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

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const CpuFeatures& cpu = Cpu();
  if (cpu.avx512) return avx512::SiluMul(gate, up, out, n);
  if (cpu.avx2) return avx2::SiluMul(gate, up, out, n);
  scalar::SiluMul(gate, up, out, n);
}

}  // namespace mla::kernels
