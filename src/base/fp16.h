// IEEE binary16 and bfloat16 conversions, exact for every input (subnormals, inf, NaN).
#pragma once

#include <cstdint>
#include <cstring>

namespace mla {

inline float Bits2F32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t F32Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0x1f) return Bits2F32(sign | 0x7f800000 | (man << 13));  // inf / NaN
  if (exp == 0) {
    if (man == 0) return Bits2F32(sign);
    // subnormal: normalise
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400) == 0);
    man &= 0x3ff;
    return Bits2F32(sign | uint32_t(127 - 15 - e) << 23 | (man << 13));
  }
  return Bits2F32(sign | (exp + 112) << 23 | (man << 13));
}

// Round to nearest even, like the hardware conversion (and ggml's).
inline uint16_t F32ToF16(float f) {
  uint32_t x = F32Bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  x &= 0x7fffffff;
  if (x >= 0x7f800000) return uint16_t(sign | 0x7c00 | (x > 0x7f800000 ? 0x200 : 0));  // inf/NaN
  if (x >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds to inf
  if (x < 0x38800000) {                                // subnormal or zero in f16
    if (x < 0x33000000) return sign;                   // below half the smallest subnormal
    const uint32_t e = x >> 23;
    uint32_t man = (x & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;  // 14 + (113 - e) - 1
    uint32_t r = man >> shift;
    const uint32_t rem = man & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = x + 0xfff + ((x >> 13) & 1);  // round to nearest even at bit 13
  r -= 0x38000000;                          // rebias 127 -> 15
  return uint16_t(sign | (r >> 13));
}

inline float BF16ToF32(uint16_t h) { return Bits2F32(uint32_t(h) << 16); }

// Round to nearest even; NaN stays NaN (quiet), as ggml does.
inline uint16_t F32ToBF16(float f) {
  const uint32_t u = F32Bits(f);
  const uint32_t rounded = (u + (0x7fff + ((u >> 16) & 1))) >> 16;
  // A select, not a branch, so loops over rows vectorise.
  return uint16_t((u & 0x7fffffff) > 0x7f800000 ? (u >> 16) | 64 : rounded);
}

}  // namespace mla
