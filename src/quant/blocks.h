// Block layouts of the ggml quantized types (spec §9), field for field in storage order.
// f16 fields are kept as raw IEEE binary16 bits (uint16_t); convert with base/fp16.h.
// Every struct is packed by construction (no padding). The static_asserts pin the sizes of spec §9;
// quant_test's TraitsCoverEveryType checks them against the geometry table of base/dtype.h.
#pragma once

#include <cstdint>

#include "base/dtype.h"

namespace mla::quant {

inline constexpr int kQK4_0 = 32;   // elements per block of the 32-element ("legacy") types
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_NL = 32;
inline constexpr int kQK_K = 256;   // elements per super-block of the K-quants and IQ4_XS
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales/mins of Q4_K / Q5_K

// spec §9 Q4_0: y = d*(q - 8), low nibbles are elements 0..15, high nibbles 16..31.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// spec §9 Q4_1: y = d*q + m.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK4_0 / 2];
};

// spec §9 Q5_0: fifth bit of element j is bit j of the little-endian u32 in qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};

// spec §9 Q5_1.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};

// spec §9 Q8_0.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// spec §9 Q8_1 (activation format): s = d * sum(qs), stored as f16.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_0];
};

// spec §9 Q2_K: 16 sub-blocks of 16; scales[k] = (4-bit min << 4) | 4-bit scale.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// spec §9 Q3_K: 2 low bits in qs, high bit in hmask, 16 six-bit signed scales packed in 12 bytes.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// spec §9 Q4_K: 8 sub-blocks of 32, 6-bit scale and min each (see GetScaleMinK4).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// spec §9 Q5_K: Q4_K plus a fifth bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// spec §9 Q6_K: 4 low bits in ql, 2 high bits in qh, 16 signed 8-bit scales.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// spec §9 Q8_K (activation format): f32 scale; bsums[g] = sum of qs[16g .. 16g+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// spec §9 IQ4_NL: 4-bit indices into kIq4nlValues.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK4_NL / 2];
};

// spec §9 IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 in scales_h).
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

// The non-linear 4-bit grid of IQ4_NL / IQ4_XS (spec §9).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// 6-bit scale and min of sub-block s (< 8) of a Q4_K / Q5_K block (spec §9 get_scale_min_k4).
inline void GetScaleMinK4(int s, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (s < 4) {
    *sc = q[s] & 63;
    *m = q[s + 4] & 63;
  } else {
    *sc = uint8_t((q[s + 4] & 0xF) | ((q[s - 4] >> 6) << 4));
    *m = uint8_t((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
  }
}

// Signed 6-bit scale s (< 16) of a Q3_K block, already minus 32 (spec §9).
inline int Q3KScale(const uint8_t* scales, int s) {
  const int low = s < 8 ? (scales[s] & 0xF) : (scales[s - 8] >> 4);
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// 6-bit scale of sub-block b (< 8) of an IQ4_XS block, minus 32 (spec §9).
inline int IQ4XSScale(const BlockIQ4_XS& x, int b) {
  const int ls = ((x.scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((x.scales_h >> (2 * b)) & 3) << 4);
  return ls - 32;
}

// Each layout must match the geometry table of base/dtype.h (spec §9).
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);

// Block struct of a DType, for generic code (BlockOf<DType::Q4_K>::type).
template <DType T> struct BlockOf;
template <> struct BlockOf<DType::Q4_0> { using type = BlockQ4_0; };
template <> struct BlockOf<DType::Q4_1> { using type = BlockQ4_1; };
template <> struct BlockOf<DType::Q5_0> { using type = BlockQ5_0; };
template <> struct BlockOf<DType::Q5_1> { using type = BlockQ5_1; };
template <> struct BlockOf<DType::Q8_0> { using type = BlockQ8_0; };
template <> struct BlockOf<DType::Q8_1> { using type = BlockQ8_1; };
template <> struct BlockOf<DType::Q2_K> { using type = BlockQ2_K; };
template <> struct BlockOf<DType::Q3_K> { using type = BlockQ3_K; };
template <> struct BlockOf<DType::Q4_K> { using type = BlockQ4_K; };
template <> struct BlockOf<DType::Q5_K> { using type = BlockQ5_K; };
template <> struct BlockOf<DType::Q6_K> { using type = BlockQ6_K; };
template <> struct BlockOf<DType::Q8_K> { using type = BlockQ8_K; };
template <> struct BlockOf<DType::IQ4_NL> { using type = BlockIQ4_NL; };
template <> struct BlockOf<DType::IQ4_XS> { using type = BlockIQ4_XS; };

}  // namespace mla::quant
