// The kernels layer's own plumbing, shared by its .cc files and its tests (not for other layers:
// they go through kernels.h). Holds the dispatch table, the activation layouts and the canonical
// reduction order that every ISA reproduces bit for bit.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/cpu.h"
#include "base/dtype.h"
#include "base/fp16.h"
#include "kernels/kernels.h"
#include "quant/blocks.h"

namespace mla::kernels {

// One matrix kernel: for tokens t < n_tokens (activation rows act_stride bytes apart) and weight
// rows r in [r0, r1): y[t * ldy + (r - r0)] = dot(weight row r, activation row t).
using GemmFn = void (*)(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                        int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y,
                        int64_t ldy);

// What one weight type uses on one CPU: the activation format and the kernel.
struct TypeKernels {
  DType act = DType::F32;
  GemmFn gemm = nullptr;
  const char* name = "";  // kernel name for logs, tests and benchmarks ("Q4_K.avx512", "generic")
  // Weights in the row-interleaved layout (below); null for types that have none.
  GemmFn gemm_interleaved = nullptr;
  const char* name_interleaved = "";
};

inline constexpr int kMaxTypeId = 32;

// The dispatch table: weight type -> kernels, filled once for a set of CPU features.
struct KernelTable {
  TypeKernels entry[kMaxTypeId];
  // The generic path of every dequantizable type on this column (f32 activations): what entry
  // holds for types without an integer kernel; kept for all types for tests and benchmarks.
  GemmFn generic[kMaxTypeId] = {};
  const TypeKernels& For(DType t) const { return entry[uint32_t(t) < kMaxTypeId ? uint32_t(t) : 0]; }
};

// The table for `cpu` (tests build one per feature subset to compare ISAs); every type of
// base/dtype.h that has a dequantizer gets an entry.
KernelTable BuildTable(const CpuFeatures& cpu);
// The table for Cpu(), built on first use.
const KernelTable& ActiveTable();

// ---- Activation layouts -------------------------------------------------------------------------

// Activation block paired with 32-element weight blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL),
// ActivationType Q8_0. Quantized with the Q8_K rule (id = 127/amax, q = round-to-even(x * id) in
// [-127, 127], d = 1/id in f32, so the scale is not rounded to f16) and laid out for the kernels:
// neg_sums[j] = -offset * (q[4j] + ... + q[4j+3]), where offset is what the SIMD kernels add to
// the weight levels to make them unsigned (8 for Q4_0, 16 for Q5_0, 128 for Q8_0 and IQ4_NL), so
// a VNNI dot product starting from neg_sums yields the signed sum directly. Q4_1 / Q5_1 levels
// are unsigned already; their offset is -1, so neg_sums holds the plain lane sums of q that the
// min term m * sum(a) needs.
// neg_sum = -offset * (q[0] + ... + q[31]) serves the row-interleaved kernels, whose lanes are
// weight rows rather than groups of 4 elements.
struct ActQ8x32 {
  int32_t neg_sums[8];
  int8_t qs[32];
  float d;
  int32_t neg_sum;
};
static_assert(sizeof(ActQ8x32) == 72);

// ---- Row-interleaved weights (repacked at load, kernels.h InterleaveRows) -----------------------
// Q4_0, Q8_0 and IQ4_NL matrices are stored in groups of kInterleaveRows = 16 rows (Q4_K: below); a group is one
// BlockR16 per 32 columns, in column order, and takes exactly the bytes of its 16 rows. A block
// holds the 16 rows' f16 scales, then the quants in chunks of 64 bytes: chunk c has 4 bytes of
// every row i at [4i, 4i + 4), so one 32-bit lane of a 512-bit register is one row.
//   Q4_0, IQ4_NL (4 chunks): the row's packed bytes qs[4c .. 4c+3] (low nibbles = elements
//     4c .. 4c+3, high nibbles = elements 16+4c ..), unchanged.
//   Q8_0 (8 chunks): elements 4c .. 4c+3 as unsigned bytes q + 128.
// Canonical order (one float chain per row, no reduction across lanes): for each block b,
//   I_b = sum_k level_k * a_k (exact int32; levels as in the 32-element kernels above),
//   acc = fma(f32(d_w) * d_a, float(I_b), acc), from acc = 0; the row's result is acc.
template <int kChunks>
struct BlockR16 {
  uint16_t d[16];
  uint8_t q[kChunks][64];
};
using BlockQ4_0R16 = BlockR16<4>;  // also IQ4_NL
using BlockQ8_0R16 = BlockR16<8>;
static_assert(sizeof(BlockQ4_0R16) == 16 * sizeof(quant::BlockQ4_0));

// Q4_K, Q5_K, Q6_K and IQ4_XS: one block per 256 columns of the group, every per-row field of the
// original blocks stored as 4-byte words side by side (word k of row i at [k][4i, 4i + 4)), so one
// 32-bit lane of a 512-bit register is one row's word:
//   Q4_K, Q5_K: d, dmin, the 12 scale bytes (3 words), Q5_K's qh (8 words: byte l has the fifth
//     bits of element l of the 8 sub-blocks), then qs in 32 words — word c is qs[4c .. 4c+3]: low
//     nibbles elements 4(c % 8).. of sub-block 2(c / 8), high nibbles of sub-block 2(c / 8) + 1;
//   Q6_K: d, the 16 scales (4 words), then the quants in the order the kernel reads them (one
//     sequential stream): for half c and l < 8, q[8c + l] = {ql word 16c + l (quarters 0 and 2 of
//     elements 4l.. in its nibbles), ql word 16c + 8 + l (quarters 1 and 3), qh word 8c + l};
//   IQ4_XS: d, scales_h (16-bit, as they are), scales_l (1 word), then qs in 32 words — word c is
//     qs[4c .. 4c+3]: low nibbles elements 4(c % 4).. of sub-block c / 4, high nibbles 16 + 4(c % 4)..
// Canonical order: that of the row-major K-quant kernels (below), so both layouts give the same bits.
struct BlockQ4_KR16 {
  using Block = quant::BlockQ4_K;
  uint16_t d[16];
  uint16_t dmin[16];
  uint8_t scales[3][64];
  uint8_t q[32][64];
};
struct BlockQ5_KR16 {
  using Block = quant::BlockQ5_K;
  uint16_t d[16];
  uint16_t dmin[16];
  uint8_t scales[3][64];
  uint8_t qh[8][64];
  uint8_t q[32][64];
};
struct BlockQ6_KR16 {
  using Block = quant::BlockQ6_K;
  uint16_t d[16];
  uint8_t scales[4][64];
  uint8_t q[16][3][64];
};
struct BlockIQ4_XSR16 {
  using Block = quant::BlockIQ4_XS;
  uint16_t d[16];
  uint16_t scales_h[16];
  uint8_t scales_l[1][64];
  uint8_t q[32][64];
};
static_assert(sizeof(BlockQ4_KR16) == 16 * sizeof(quant::BlockQ4_K));
static_assert(sizeof(BlockIQ4_XSR16) == 16 * sizeof(quant::BlockIQ4_XS));
static_assert(sizeof(BlockQ5_KR16) == 16 * sizeof(quant::BlockQ5_K));
static_assert(sizeof(BlockQ6_KR16) == 16 * sizeof(quant::BlockQ6_K));

// Row i's words in and out of an interleaved field.
template <int kWords>
inline void PutWords(const void* src, uint8_t (&dst)[kWords][64], int i) {
  for (int k = 0; k < kWords; ++k) std::memcpy(&dst[k][4 * i], static_cast<const uint8_t*>(src) + 4 * k, 4);
}
template <int kWords>
inline void GetWords(const uint8_t (&src)[kWords][64], int i, void* dst) {
  for (int k = 0; k < kWords; ++k) std::memcpy(static_cast<uint8_t*>(dst) + 4 * k, &src[k][4 * i], 4);
}

// Row i's block into / out of an interleaved block (the repacking and its inverse).
template <class R16>  // BlockQ4_KR16 or BlockQ5_KR16
inline void PutRow(R16& x, int i, const typename R16::Block& b) {
  x.d[i] = b.d;
  x.dmin[i] = b.dmin;
  PutWords(b.scales, x.scales, i);
  if constexpr (std::is_same_v<R16, BlockQ5_KR16>) PutWords(b.qh, x.qh, i);
  PutWords(b.qs, x.q, i);
}
inline void PutRow(BlockQ6_KR16& x, int i, const quant::BlockQ6_K& b) {
  x.d[i] = b.d;
  PutWords(b.scales, x.scales, i);
  for (int c = 0; c < 2; ++c)
    for (int l = 0; l < 8; ++l) {
      std::memcpy(&x.q[8 * c + l][0][4 * i], b.ql + 64 * c + 4 * l, 4);
      std::memcpy(&x.q[8 * c + l][1][4 * i], b.ql + 64 * c + 32 + 4 * l, 4);
      std::memcpy(&x.q[8 * c + l][2][4 * i], b.qh + 32 * c + 4 * l, 4);
    }
}
inline void PutRow(BlockIQ4_XSR16& x, int i, const quant::BlockIQ4_XS& b) {
  x.d[i] = b.d;
  x.scales_h[i] = b.scales_h;
  PutWords(b.scales_l, x.scales_l, i);
  PutWords(b.qs, x.q, i);
}
inline quant::BlockIQ4_XS RowBlock(const BlockIQ4_XSR16& x, int i) {
  quant::BlockIQ4_XS b;
  b.d = x.d[i];
  b.scales_h = x.scales_h[i];
  GetWords(x.scales_l, i, b.scales_l);
  GetWords(x.q, i, b.qs);
  return b;
}
template <class R16>  // BlockQ4_KR16 or BlockQ5_KR16
inline typename R16::Block RowBlock(const R16& x, int i) {
  typename R16::Block b;
  b.d = x.d[i];
  b.dmin = x.dmin[i];
  GetWords(x.scales, i, b.scales);
  if constexpr (std::is_same_v<R16, BlockQ5_KR16>) GetWords(x.qh, i, b.qh);
  GetWords(x.q, i, b.qs);
  return b;
}
inline quant::BlockQ6_K RowBlock(const BlockQ6_KR16& x, int i) {
  quant::BlockQ6_K b;
  b.d = x.d[i];
  GetWords(x.scales, i, b.scales);
  for (int c = 0; c < 2; ++c)
    for (int l = 0; l < 8; ++l) {
      std::memcpy(b.ql + 64 * c + 4 * l, &x.q[8 * c + l][0][4 * i], 4);
      std::memcpy(b.ql + 64 * c + 32 + 4 * l, &x.q[8 * c + l][1][4 * i], 4);
      std::memcpy(b.qh + 32 * c + 4 * l, &x.q[8 * c + l][2][4 * i], 4);
    }
  return b;
}
static_assert(sizeof(BlockQ8_0R16) == 16 * sizeof(quant::BlockQ8_0));

// Activation row bytes / preparation for an explicit activation format (kernels.h's versions use
// ActiveTable()'s choice for the weight type).
size_t ActivationRowBytesAs(DType act, int64_t n);
void PrepareActivationAs(DType act, DType weight, const float* x, void* dst, int64_t n);

// Offset of the unsigned weight levels of a 32-element type (see ActQ8x32).
int ActQ8x32Offset(DType weight);
// n floats (multiple of 32 / 256) into ActQ8x32 / Q8_K blocks, with the rule of quant.h's Q8_K
// (the Q8_K output equals quant::QuantizeRow(Q8_K)); AVX2 when the CPU has it, same bits.
void QuantizeActQ8x32(const float* x, ActQ8x32* dst, int64_t n, int offset);
void QuantizeQ8K(const float* x, quant::BlockQ8_K* dst, int64_t n);
// kernels.h QuantizeQ8_0 (AVX2 when the CPU has it, same bits).
void QuantizeQ8_0(const float* x, quant::BlockQ8_0* dst, int64_t n);
// r[i] = x[i] − d·level[i]: what the ActQ8x32 row q (of x) leaves out; AVX2 when the CPU has it,
// same bits.
void ResidualQ8x32(const float* x, const ActQ8x32* q, float* r, int64_t n);

// ---- Canonical float reduction ------------------------------------------------------------------
// Every float dot product keeps 16 lanes (element i of the row goes to lane i % 16, one fused
// multiply-add per element, the row zero-padded to a multiple of 16) and ends with this tree, which
// is what folding a 512-bit register in halves does. AVX2 keeps the 16 lanes in two registers.
inline float Reduce8(const float* s) {
  const float t0 = s[0] + s[4], t1 = s[1] + s[5], t2 = s[2] + s[6], t3 = s[3] + s[7];
  const float u0 = t0 + t2, u1 = t1 + t3;
  return u0 + u1;
}
inline float Reduce16(const float* acc) {
  float s[8];
  for (int i = 0; i < 8; ++i) s[i] = acc[i] + acc[i + 8];
  return Reduce8(s);
}

// ---- Canonical integer dot products -------------------------------------------------------------
// 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) x ActQ8x32, 8 float lanes: for each
// block b in order, with weight levels v (q - 8, q, q5 - 16, q5, q, kIq4nlValues[q]) and
// s_b = f32(d_w) * d_a (one rounding),
//   p_j = sum_{k<4} v[4j+k] * a[4j+k]  (exact int32),  lane_j = fma(s_b, float(p_j), lane_j),
// then for Q4_1 / Q5_1 also lane_j = fma(f32(m_w), float(a[4j] + .. + a[4j+3]) * d_a, lane_j);
// the row result is Reduce8(lanes). (p_j is what one 32-bit lane of maddubs+madd or of a VNNI
// dot product holds, so SIMD versions compute it in any way and still match bit for bit.)
//
// 256-element super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) x Q8_K: per super-block the
// whole integer sum is exact in int32: I = sum_s scale_s * sum_{i in s} level_i * a_i (Q2_K: scale
// sc & 15; Q3_K: levels q - 4 * (1 - hbit), signed scales; Q6_K: levels q - 32; IQ4_XS: scales
// ls - 32, levels kIq4nlValues), and for Q2_K / Q4_K / Q5_K also M = sum_s min_s * (bsums of s).
// Then, in super-block order, sum_i = fma(d_a * d, float(I), sum_i) and
// sum_m = fma(d_a * dmin, float(M), sum_m); the result is sum_i - sum_m (or sum_i). SIMD versions
// run these scalar steps for 8 rows (GEMV) or 8 tokens (GEMM) in the 8 lanes of a register.

// Adds w[i] * a[i] for i < n into the 16 lanes (n need not be a multiple of 16: the tail is
// zero-padded, so callers chunk a row only at multiples of 16).
using AccumulateF32Fn = void (*)(const float* w, const float* a, int64_t n, float* acc16);

// Weights of any dequantizable type against f32 activations: each row dequantized in chunks into a
// stack buffer, then the canonical 16-lane f32 dot product (`accumulate` is the ISA's version).
void GemmDequantF32(DType type, AccumulateF32Fn accumulate, const uint8_t* w, size_t row_bytes,
                    const void* act, size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0,
                    int64_t r1, float* y, int64_t ldy);

// The AVX512_BF16 dot product (VDPBF16PS) treats subnormal inputs as zero, flushes subnormal
// results to zero and rounds to nearest even, ignoring MXCSR; its scalar twins use these.
inline float FlushSubnormal(float x) { return std::fabs(x) < FLT_MIN ? std::copysign(0.f, x) : x; }
inline float Bf16In(uint16_t h) { return FlushSubnormal(BF16ToF32(h)); }

// The online softmax's exp (exp_poly.h), the definition every ISA reproduces.
namespace scalar {
float ExpPoly(float x);
}  // namespace scalar

// ---- Kernels per ISA (each namespace is one column of the dispatch table) ------------------------
// GemmXxx: weights of type Xxx against the paired activations (ActQ8x32 for the 32-element types,
// BlockQ8_K for Q2_K .. Q6_K and IQ4_XS, f32 for F32/F16/BF16, bf16 for GemmBF16xBF16).
#define MLA_KERNELS_DECLARE_GEMM(T)                                                             \
  void Gemm##T(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,          \
               int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy);
#define MLA_KERNELS_DECLARE_ISA                                                                 \
  void QuantizeActQ8x32(const float* x, ActQ8x32* dst, int64_t n, int offset);                  \
  void QuantizeQ8K(const float* x, quant::BlockQ8_K* dst, int64_t n);                           \
  void QuantizeQ8_0(const float* x, quant::BlockQ8_0* dst, int64_t n);                          \
  void AccumulateF32(const float* w, const float* a, int64_t n, float* acc16);                 \
  void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows,       \
                       const float* p, int64_t ldp, int64_t n_out, float* o, int64_t ldo,      \
                       int64_t j0, int64_t j1);                                                 \
  float MaxValue(const float* x, int64_t n);                                                    \
  void ConvertToBF16(const float* x, uint16_t* dst, int64_t n);                                 \
  void ConvertF16ToF32(const uint16_t* x, float* dst, int64_t n);                               \
  void ResidualQ8x32(const float* x, const ActQ8x32* q, float* r, int64_t n);                   \
  float ExpSum(float* x, int64_t n, float scale, float shift);                                  \
  void SiluMul(const float* gate, const float* up, float* out, int64_t n);                      \
  void AccumulateRowsBF16Pairs(const uint8_t* rows, size_t row_bytes, int64_t n_rows,            \
                               const float* p, int64_t ldp, int64_t n_out, float* o, int64_t ldo, \
                               int64_t j0, int64_t j1);                                           \
  MLA_KERNELS_DECLARE_GEMM(Q4_0)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q4_1)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q5_0)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q5_1)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q8_0)                                                                \
  MLA_KERNELS_DECLARE_GEMM(IQ4_NL)                                                              \
  MLA_KERNELS_DECLARE_GEMM(Q2_K)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q3_K)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q4_K)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q5_K)                                                                \
  MLA_KERNELS_DECLARE_GEMM(Q6_K)                                                                \
  MLA_KERNELS_DECLARE_GEMM(IQ4_XS)                                                              \
  MLA_KERNELS_DECLARE_GEMM(F32)                                                                 \
  MLA_KERNELS_DECLARE_GEMM(F16)                                                                 \
  MLA_KERNELS_DECLARE_GEMM(BF16)                                                                \
  MLA_KERNELS_DECLARE_GEMM(BF16xBF16)                                                           \
  MLA_KERNELS_DECLARE_GEMM(Q4_0R16)                                                             \
  MLA_KERNELS_DECLARE_GEMM(Q8_0R16)                                                             \
  MLA_KERNELS_DECLARE_GEMM(IQ4_NLR16)                                                           \
  MLA_KERNELS_DECLARE_GEMM(Q4_KR16)                                                             \
  MLA_KERNELS_DECLARE_GEMM(Q5_KR16)                                                             \
  MLA_KERNELS_DECLARE_GEMM(Q6_KR16)                                                             \
  MLA_KERNELS_DECLARE_GEMM(IQ4_XSR16)

// The oracles: plain C++ with the canonical order (integer sums per lane or per super-block, then
// the same float operations in the same order as the SIMD versions).
namespace scalar {
MLA_KERNELS_DECLARE_ISA
}  // namespace scalar
// AVX2 + FMA + F16C (files *_avx2.cc).
namespace avx2 {
MLA_KERNELS_DECLARE_ISA
}  // namespace avx2
// AVX-512 F/BW/DQ/VL + VNNI; GemmBF16xBF16 also needs AVX512_BF16 (files *_avx512.cc).
namespace avx512 {
MLA_KERNELS_DECLARE_ISA
}  // namespace avx512

#undef MLA_KERNELS_DECLARE_ISA
#undef MLA_KERNELS_DECLARE_GEMM

}  // namespace mla::kernels
