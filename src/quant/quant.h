// Conversions between f32 and every ggml type of base/dtype.h (spec §9): one traits table,
// scalar reference code. Dequantization is bit-exact with ggml's reference (and the PyPI gguf
// package); quantization is ggml-compatible (the legacy reference quantizers bit-exact, the
// K-quants and IQ4 with importance-weighted searches of comparable or better quality).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace mla::quant {

// Converts n elements (a multiple of the block size) of one type to f32.
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
// Quantizes n floats (a multiple of the block size); `importance` (length n) or null.
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);

struct TypeTraits {
  DType type;
  DequantizeFn dequantize;  // null: not supported
  QuantizeFn quantize;      // null: not supported
  // Whether `importance` changes the result (false for float and activation types, which ignore it).
  bool uses_importance;
};

// The one table entry of `type` (block geometry and names live in base/dtype.h).
const TypeTraits& Traits(DType type);

// n elements (multiple of the block size) of `type` to f32, bit-exact with ggml's reference.
void DequantizeRow(DType type, const void* src, float* dst, int64_t n);
// True for every type of dtype.h (the activation formats Q8_1 and Q8_K included).
bool CanDequantize(DType type);
// True for every type of dtype.h.
bool CanQuantize(DType type);
// Quantizes n floats (multiple of the block size) to `type`. `importance` (length n, >= 0, or null)
// weights the squared error in the searches, like llama.cpp's imatrix; with it, each block keeps
// whichever of the weighted and the plain quantization has the smaller importance-weighted error,
// so importance never makes that error worse. Returns bytes written = RowBytes(type, n).
size_t QuantizeRow(DType type, const float* src, void* dst, int64_t n,
                   const float* importance = nullptr);

// Importance-weighted squared error sum(w * (x - y)^2) (w == null: plain), in double.
double WeightedSquaredError(const float* x, const float* y, int64_t n, const float* w);

}  // namespace mla::quant
