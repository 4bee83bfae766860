// exp for the online softmax (exp.cc), written once over a register type so the scalar twin and the
// AVX2 / AVX-512 versions run the same steps: exp(x) = 2^n · p(r), n = round-to-even(x·log2 e),
// r = x - n·ln 2 in two fused steps, p Cephes' degree-7 polynomial in fixed fused multiply-add steps
// (relative error ~2e-7); 0 below kMinArg (exp would be subnormal), NaN taken as kMaxArg.
// `V` provides Reg, Set1, Min, Mul, Add, Fmadd, RoundEven, ScaleByPow2(y, n) = y·2^n and
// AtLeast(x, c, v) = (x < c ? 0 : v) (NaN x keeps v). Include only from exp*.cc (internal linkage).
#pragma once

namespace mla::kernels {
namespace {

namespace exp_poly {
inline constexpr float kMinArg = -87.3f, kMaxArg = 88.3f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kMinusLn2Hi = -0.693359375f, kMinusLn2Lo = 2.12194440e-4f;
inline constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                       kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
}  // namespace exp_poly

template <class V>
typename V::Reg ExpPolyOf(typename V::Reg x0) {
  using namespace exp_poly;
  const typename V::Reg x = V::Min(x0, V::Set1(kMaxArg));
  const typename V::Reg n = V::RoundEven(V::Mul(x, V::Set1(kLog2e)));
  typename V::Reg r = V::Fmadd(n, V::Set1(kMinusLn2Hi), x);
  r = V::Fmadd(n, V::Set1(kMinusLn2Lo), r);
  typename V::Reg y = V::Fmadd(V::Set1(kP0), r, V::Set1(kP1));
  y = V::Fmadd(y, r, V::Set1(kP2));
  y = V::Fmadd(y, r, V::Set1(kP3));
  y = V::Fmadd(y, r, V::Set1(kP4));
  y = V::Fmadd(y, r, V::Set1(kP5));
  y = V::Fmadd(y, V::Mul(r, r), r);
  y = V::Add(y, V::Set1(1.f));
  return V::AtLeast(x0, kMinArg, V::ScaleByPow2(y, n));
}

}  // namespace
}  // namespace mla::kernels
