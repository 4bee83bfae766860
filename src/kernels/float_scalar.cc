// Scalar twins of the float dot products (spec: design.md "Scalar twin"). F32, F16 and BF16 weights
// against f32 activations use the canonical 16-lane order of kernels_internal.h, one fused
// multiply-add per element (the weights convert to f32 exactly), which the AVX2 and AVX-512
// versions reproduce bit for bit. BF16 x BF16 emulates the AVX512_BF16 dot product instead.
#include <cfloat>
#include <cmath>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels::scalar {

void AccumulateF32(const float* w, const float* a, int64_t n, float* acc16) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc16[l] = std::fma(w[i + l], a[i + l], acc16[l]);
  if (i < n) {
    // Zero padding of the last 16 (fma(0, 0, acc) turns -0 into +0, as the SIMD versions do).
    for (int l = 0; l < 16; ++l)
      acc16[l] = i + l < n ? std::fma(w[i + l], a[i + l], acc16[l]) : std::fma(0.f, 0.f, acc16[l]);
  }
}

void GemmF32(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmDequantF32(DType::F32, AccumulateF32, w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y,
                 ldy);
}
void GemmF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmDequantF32(DType::F16, AccumulateF32, w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y,
                 ldy);
}
void GemmBF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmDequantF32(DType::BF16, AccumulateF32, w, row_bytes, act, act_stride, n_tokens, n, r0, r1,
                 y, ldy);
}

namespace {

// 16 lanes; 32 elements per step (zero-padded at the end); lane i adds the product of element
// 2i+1, then of element 2i (each product of two bf16 is exact in f32 unless it underflows).
float DotBF16Pairs(const uint16_t* w, const uint16_t* a, int64_t n) {
  float acc[16] = {};
  for (int64_t i0 = 0; i0 < n; i0 += 32) {
    for (int l = 0; l < 16; ++l) {
      for (int e : {2 * l + 1, 2 * l}) {
        const int64_t i = i0 + e;
        const float p = i < n ? FlushSubnormal(Bf16In(w[i]) * Bf16In(a[i])) : 0.f;
        acc[l] = FlushSubnormal(acc[l] + p);
      }
    }
  }
  return Reduce16(acc);
}

}  // namespace

void GemmBF16xBF16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* row = reinterpret_cast<const uint16_t*>(w + size_t(r) * row_bytes);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const uint16_t* a = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(act) +
                                                            size_t(t) * act_stride);
      y[t * ldy + (r - r0)] = DotBF16Pairs(row, a, n);
    }
  }
}

}  // namespace mla::kernels::scalar
