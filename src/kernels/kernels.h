// Dot products between weight rows (any DType) and activation rows, the innermost loop of every
// matmul. Each weight type is paired with one activation format; activations are converted to it
// once per input row, then reused for every weight row. Scalar versions are the oracle; AVX2 and
// AVX-512 versions are chosen at run time from Cpu() (spec: design.md "Scalar twin").
//
// Pairings (kernels_internal.h has the layouts and the exact order of operations):
//   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL    -> Q8_0 rule, 8-bit levels with an f32 scale per 32
//   Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS    -> Q8_K (f32 scale per 256, 16-element sums)
//   BF16                               -> bf16 on CPUs with AVX512_BF16, else f32
//   F32 F16 and every other type       -> f32 (other types: dequantized in chunks, then f32)
// The integer kernels give the same bits on every ISA (and for any tiling: GEMM row t equals GEMV
// of token t); so do the f32 ones. Only BF16 differs between CPUs, by its activation format.
// All functions are thread-safe, allocate nothing and keep no state between calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace mla::kernels {

// The activation format paired with weights of `weight` type on the current CPU (for example
// Q8_0 for Q4_0/Q8_0/IQ4_NL, Q8_K for the K-quants, F32 for types with no integer kernel).
// It names the quantization rule; the byte layout is the kernels' own (use ActivationRowBytes).
DType ActivationType(DType weight);
// Bytes of one activation row of n elements in the paired format.
size_t ActivationRowBytes(DType weight, int64_t n);
// Converts one row of n floats into the format paired with `weight`. A row prepared for one
// weight type serves every weight type with the same ActivationType except among the 32-element
// types, whose layout also depends on the weight type (prepare per weight type there).
void PrepareActivation(DType weight, const float* x, void* dst, int64_t n);
// Two activation rows whose products with a weight row add up to its product with x within about
// 1/30000 of x (where one 8-bit row is within 1/250): hi = PrepareActivation(x) and
// lo = PrepareActivation(x − hi's values). For weights paired with Q8_0 activations (Q4_0, Q8_0,
// IQ4_NL...); `residual` holds n floats of scratch.
void PrepareActivationSplit(DType weight, const float* x, void* hi, void* lo, float* residual, int64_t n);

// y[r - r0] = dot(weight row r, act) for r in [r0, r1). Weight rows are `row_bytes` apart.
void GemvRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act, int64_t n,
              int64_t r0, int64_t r1, float* y);

// For n_tokens activation rows (act_stride bytes apart): y[t * ldy + (r - r0)] for r in [r0, r1).
// Tiled: each weight block is decoded once per group of tokens (4 or 8) and the weight rows of a
// call stay in cache across the groups.
void GemmRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act,
              size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y,
              int64_t ldy);

// n floats (a multiple of 32) as Q8_0 blocks (quant.h's BlockQ8_0) by the activations' rule:
// id = 127/amax, levels round-to-even(x · id), d = 1/id stored as f16. For weights requantized at run
// time (the decompressed attention's per-head W_UK / W_UV), vectorised; files are written by
// quant::QuantizeRow, whose ggml rounding (half away from zero) this does not reproduce.
void QuantizeQ8_0(const float* x, void* dst, int64_t n);

// f32 -> bf16, round to nearest even (base/fp16.h F32ToBF16's bits), vectorised.
void ConvertToBF16(const float* x, uint16_t* dst, int64_t n);
// f16 -> f32 (exact; base/fp16.h F16ToF32's bits), vectorised: reading an f16 latent cache.
void ConvertF16ToF32(const uint16_t* x, float* dst, int64_t n);

// ---- Online softmax pieces ---------------------------------------------------------------------
// MaxValue: the largest of x[0..n) (-inf for n = 0). ExpSum: x[i] = exp(x[i]·scale - shift) and
// returns their sum; exp is a polynomial (relative error ~2e-7, 0 where exp(·) < FLT_MIN) and the
// sum keeps a fixed order, the same bits on every ISA.
float MaxValue(const float* x, int64_t n);
float ExpSum(float* x, int64_t n, float scale, float shift);

// SwiGLU's gate (spec §4.1): out[i] = gate[i] / (1 + e^(−gate[i])) · up[i], e^x the same
// polynomial; `out` may be `gate` or `up`. The same bits on every ISA.
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

// ---- Weighted sums of rows (the value side of latent attention) -------------------------------
// o[h·ldo + j] += Σ_{i < n_rows} p[h·ldp + i] · x_i[j] for h < n_out, j < n_cols, where x_i is row
// i of `rows` (F32, F16 or BF16, row_bytes apart). One fused multiply-add chain per output element
// in row order: the same bits on every ISA, except BF16 rows on AVX512_BF16 CPUs, which go two
// rows per VDPBF16PS step with the weights rounded to bf16 (as BF16 matrices pair with bf16
// activations there).
bool CanAccumulateRows(DType type);
void AccumulateRows(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                    int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t n_cols);

// ---- Row-interleaved weights ---------------------------------------------------------------------
// Q4_0, Q8_0 and IQ4_NL matrices (and Q4_K, Q5_K, Q6_K, IQ4_XS where the CPU has AVX-512 VNNI) whose row
// count is a multiple of kInterleaveRows can be copied once at load into groups of 16 rows whose
// blocks sit side by side (kernels_internal.h BlockR16, BlockQ4_KR16...; same size as the original). One SIMD
// lane then holds one row, so a block's dot product needs no reduction across lanes, and the
// weights stream as one sequential run per group. The layout and the results are the same on every
// ISA (each row: one exact integer sum per block, one float chain); the 32-element types differ in
// the last bits from the row-major kernels above, the K-quants give their bits exactly.
inline constexpr int64_t kInterleaveRows = 16;

// Whether this CPU's kernel table has an interleaved kernel for `weight`.
bool CanInterleave(DType weight);
// Writes n_rows rows (n_rows % kInterleaveRows == 0) of `weight` type from `src` (row-major) to
// `dst` (interleaved, the same number of bytes).
void InterleaveRows(DType weight, const uint8_t* src, uint8_t* dst, int64_t n_rows,
                    size_t row_bytes);
// Row r (n elements) of an interleaved matrix, dequantized: what quant::DequantizeRow gives for the
// original row.
void DequantizeInterleavedRow(DType weight, const uint8_t* w, size_t row_bytes, int64_t n, int64_t r,
                              float* out);
// GemmRows for an interleaved matrix (`w` = its first row); r0 and r1 multiples of
// kInterleaveRows. Activations are prepared with PrepareActivation as for GemmRows.
void GemmRowsInterleaved(DType weight, const uint8_t* w, size_t row_bytes, const void* act,
                         size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1,
                         float* y, int64_t ldy);

}  // namespace mla::kernels
