// Per-type conversion functions behind the traits table of quant.cc (not a public header:
// everything outside src/quant goes through quant.h).
#pragma once

#include <cstdint>

#include "base/fp16.h"

namespace mla::quant::internal {

// Round to nearest with ties to even, clamped to [lo, hi] before conversion so that inf / NaN /
// huge products (e.g. 1/d for a subnormal d) never reach an int cast (NaN goes to lo).
// Inside the clamp |v| < 2^22, where adding 1.5*2^23 rounds to an integer in the low mantissa
// bits with the FPU's ties-to-even (same results as nearbyint, without a libm call).
inline int RoundClamp(float v, int lo, int hi) {
  if (!(v >= float(lo))) return lo;
  if (v > float(hi)) return hi;
  const float t = v + 12582912.f;
  return int(F32Bits(t) & 0x7fffff) - 0x400000;
}

// f16 for a block scale: saturates instead of overflowing to inf, so that a block with a huge
// outlier dequantizes to large finite values (ggml would store inf and produce inf/NaN).
inline uint16_t ScaleToF16(float d) {
  if (d > 65504.f) d = 65504.f;
  if (d < -65504.f) d = -65504.f;
  return F32ToF16(d);
}

#define MLA_DECLARE_TYPE(T)                                        \
  void Dequantize##T(const void* src, float* dst, int64_t n);      \
  void Quantize##T(const float* src, void* dst, int64_t n, const float* importance);

MLA_DECLARE_TYPE(F32)
MLA_DECLARE_TYPE(F16)
MLA_DECLARE_TYPE(BF16)
MLA_DECLARE_TYPE(Q4_0)
MLA_DECLARE_TYPE(Q4_1)
MLA_DECLARE_TYPE(Q5_0)
MLA_DECLARE_TYPE(Q5_1)
MLA_DECLARE_TYPE(Q8_0)
MLA_DECLARE_TYPE(Q8_1)
MLA_DECLARE_TYPE(Q2_K)
MLA_DECLARE_TYPE(Q3_K)
MLA_DECLARE_TYPE(Q4_K)
MLA_DECLARE_TYPE(Q5_K)
MLA_DECLARE_TYPE(Q6_K)
MLA_DECLARE_TYPE(Q8_K)
MLA_DECLARE_TYPE(IQ4_NL)
MLA_DECLARE_TYPE(IQ4_XS)

#undef MLA_DECLARE_TYPE

}  // namespace mla::quant::internal
