// Scalar twins of the 32-element-block integer kernels (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL x
// ActQ8x32): the
// canonical order of kernels_internal.h, written plainly. They are the kernels of the scalar ISA
// and the oracle the SIMD versions are tested against bit for bit.
#include <cmath>
#include <type_traits>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "quant/blocks.h"

namespace mla::kernels::scalar {
namespace {

using quant::BlockIQ4_NL;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;

// Bit j of the little-endian u32 qh (the fifth bit of element j of Q5_0 / Q5_1).
int FifthBit(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

// Signed levels of one block in element order (spec §9).
void Levels(const BlockQ4_0& x, int* v) {
  for (int j = 0; j < 16; ++j) {
    v[j] = (x.qs[j] & 0xF) - 8;
    v[j + 16] = (x.qs[j] >> 4) - 8;
  }
}
void Levels(const BlockQ4_1& x, int* v) {
  for (int j = 0; j < 16; ++j) {
    v[j] = x.qs[j] & 0xF;
    v[j + 16] = x.qs[j] >> 4;
  }
}
void Levels(const BlockQ5_0& x, int* v) {
  for (int j = 0; j < 16; ++j) {
    v[j] = ((x.qs[j] & 0xF) | FifthBit(x.qh, j) << 4) - 16;
    v[j + 16] = ((x.qs[j] >> 4) | FifthBit(x.qh, j + 16) << 4) - 16;
  }
}
void Levels(const BlockQ5_1& x, int* v) {
  for (int j = 0; j < 16; ++j) {
    v[j] = (x.qs[j] & 0xF) | FifthBit(x.qh, j) << 4;
    v[j + 16] = (x.qs[j] >> 4) | FifthBit(x.qh, j + 16) << 4;
  }
}
void Levels(const BlockQ8_0& x, int* v) {
  for (int j = 0; j < 32; ++j) v[j] = x.qs[j];
}
void Levels(const BlockIQ4_NL& x, int* v) {
  for (int j = 0; j < 16; ++j) {
    v[j] = quant::kIq4nlValues[x.qs[j] & 0xF];
    v[j + 16] = quant::kIq4nlValues[x.qs[j] >> 4];
  }
}

template <class Block>
constexpr bool kHasMin = std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>;

template <class Block>
float Dot(const Block* w, const ActQ8x32* a, int64_t nb) {
  float lanes[8] = {};
  int v[32];
  for (int64_t b = 0; b < nb; ++b) {
    Levels(w[b], v);
    const float s = F16ToF32(w[b].d) * a[b].d;
    for (int j = 0; j < 8; ++j) {
      int32_t p = 0, sum_a = 0;
      for (int k = 0; k < 4; ++k) {
        p += v[4 * j + k] * a[b].qs[4 * j + k];
        sum_a += a[b].qs[4 * j + k];
      }
      lanes[j] = std::fma(s, float(p), lanes[j]);
      if constexpr (kHasMin<Block>)
        lanes[j] = std::fma(F16ToF32(w[b].m), float(sum_a) * a[b].d, lanes[j]);
    }
  }
  return Reduce8(lanes);
}

template <class Block>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / 32;
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w + size_t(r) * row_bytes);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const ActQ8x32* a = reinterpret_cast<const ActQ8x32*>(static_cast<const uint8_t*>(act) +
                                                            size_t(t) * act_stride);
      y[t * ldy + (r - r0)] = Dot(row, a, nb);
    }
  }
}

}  // namespace

void GemmQ4_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ4_0>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_1(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ4_1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ5_0>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_1(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ5_1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ8_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockQ8_0>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_NL(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<BlockIQ4_NL>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::scalar
