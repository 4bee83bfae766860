// Dot products between weight rows (any DType) and activation rows, the innermost loop of every
// matmul. Each weight type is paired with one activation format; activations are converted to it
// once per input row, then reused for every weight row. Scalar versions are the oracle; AVX2 and
// AVX-512 versions are chosen at run time from Cpu() (spec: design.md "Scalar twin").
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace mla::kernels {

// The activation format paired with weights of `weight` type on the current CPU (for example
// Q8_0 for Q4_0/Q8_0/IQ4_NL, Q8_K for the K-quants, F32 for types with no integer kernel).
DType ActivationType(DType weight);
// Bytes of one activation row of n elements in the paired format.
size_t ActivationRowBytes(DType weight, int64_t n);
// Converts one row of n floats into the format paired with `weight`.
void PrepareActivation(DType weight, const float* x, void* dst, int64_t n);

// y[r - r0] = dot(weight row r, act) for r in [r0, r1). Weight rows are `row_bytes` apart.
void GemvRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act, int64_t n,
              int64_t r0, int64_t r1, float* y);

// For n_tokens activation rows (act_stride bytes apart): y[t * ldy + (r - r0)] for r in [r0, r1).
// Tiled so each weight row is read once for all tokens.
void GemmRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act,
              size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y,
              int64_t ldy);

}  // namespace mla::kernels
