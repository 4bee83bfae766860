// The public entry points of kernels.h, the dispatch table (weight type x ISA -> kernel, filled once
// at start-up from Cpu()) and the generic path: dequantize a chunk of the weight row, then the
// canonical f32 dot product. Types without an integer kernel use the generic path on every ISA.
#include "kernels/kernels.h"

#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

namespace mla::kernels {
namespace {

// Elements dequantized at a time: a multiple of every block size (and of 16, so the canonical lane
// of an element does not depend on the chunking), small enough for the stack of any thread.
constexpr int64_t kChunk = 2048;
// Tokens sharing one dequantized chunk in the generic GEMM.
constexpr int64_t kTokenGroup = 8;

template <DType T, AccumulateF32Fn Acc>
void GemmGeneric(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmDequantF32(T, Acc, w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

template <AccumulateF32Fn Acc>
void FillGeneric(KernelTable& t) {
  size_t count = 0;
  const DTypeInfo* types = AllDTypes(&count);
  for (size_t i = 0; i < count; ++i) {
    TypeKernels& e = t.entry[uint32_t(types[i].type)];
    e.act = DType::F32;
    e.name = "generic";
  }
#define MLA_GENERIC(T) \
  t.entry[uint32_t(DType::T)].gemm = t.generic[uint32_t(DType::T)] = GemmGeneric<DType::T, Acc>
  MLA_GENERIC(F32);
  MLA_GENERIC(F16);
  MLA_GENERIC(BF16);
  MLA_GENERIC(Q4_0);
  MLA_GENERIC(Q4_1);
  MLA_GENERIC(Q5_0);
  MLA_GENERIC(Q5_1);
  MLA_GENERIC(Q8_0);
  MLA_GENERIC(Q8_1);
  MLA_GENERIC(Q2_K);
  MLA_GENERIC(Q3_K);
  MLA_GENERIC(Q4_K);
  MLA_GENERIC(Q5_K);
  MLA_GENERIC(Q6_K);
  MLA_GENERIC(Q8_K);
  MLA_GENERIC(IQ4_NL);
  MLA_GENERIC(IQ4_XS);
#undef MLA_GENERIC
}

void Set(KernelTable& t, DType type, DType act, GemmFn gemm, const char* name) {
  t.entry[uint32_t(type)] = {act, gemm, name};
}

}  // namespace

void GemmDequantF32(DType type, AccumulateF32Fn accumulate, const uint8_t* w, size_t row_bytes,
                    const void* act, size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0,
                    int64_t r1, float* y, int64_t ldy) {
  alignas(64) float buf[kChunk];
  alignas(64) float acc[kTokenGroup][16];
  const uint8_t* a_bytes = static_cast<const uint8_t*>(act);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + size_t(r) * row_bytes;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenGroup) {
      const int64_t nt = std::min(kTokenGroup, n_tokens - t0);
      std::memset(acc, 0, sizeof(acc));
      for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
        const int64_t len = std::min(kChunk, n - i0);
        const float* wf;
        if (type == DType::F32) {
          wf = reinterpret_cast<const float*>(row) + i0;
        } else {
          quant::DequantizeRow(type, row + RowBytes(type, i0), buf, len);
          wf = buf;
        }
        for (int64_t t = 0; t < nt; ++t) {
          const float* a = reinterpret_cast<const float*>(a_bytes + size_t(t0 + t) * act_stride);
          accumulate(wf, a + i0, len, acc[t]);
        }
      }
      for (int64_t t = 0; t < nt; ++t) y[(t0 + t) * ldy + (r - r0)] = Reduce16(acc[t]);
    }
  }
}

KernelTable BuildTable(const CpuFeatures& cpu) {
  // The AVX-512 column needs VNNI (its integer kernels are VPDPBUSD); BF16 x BF16 needs AVX512_BF16.
  const bool avx512 = cpu.avx512 && cpu.avx512_vnni;
  const bool avx2 = cpu.avx2;
  KernelTable t;
  if (avx512)
    FillGeneric<avx512::AccumulateF32>(t);
  else if (avx2)
    FillGeneric<avx2::AccumulateF32>(t);
  else
    FillGeneric<scalar::AccumulateF32>(t);
#define MLA_SET(T, ACT)                                                                   \
  if (avx512)                                                                             \
    Set(t, DType::T, DType::ACT, avx512::Gemm##T, #T ".avx512");                          \
  else if (avx2)                                                                          \
    Set(t, DType::T, DType::ACT, avx2::Gemm##T, #T ".avx2");                              \
  else                                                                                    \
    Set(t, DType::T, DType::ACT, scalar::Gemm##T, #T ".scalar");
  MLA_SET(Q4_0, Q8_0)
  MLA_SET(Q4_1, Q8_0)
  MLA_SET(Q5_0, Q8_0)
  MLA_SET(Q5_1, Q8_0)
  MLA_SET(Q8_0, Q8_0)
  MLA_SET(IQ4_NL, Q8_0)
  MLA_SET(Q2_K, Q8_K)
  MLA_SET(Q3_K, Q8_K)
  MLA_SET(Q4_K, Q8_K)
  MLA_SET(Q5_K, Q8_K)
  MLA_SET(Q6_K, Q8_K)
  MLA_SET(IQ4_XS, Q8_K)
  MLA_SET(F32, F32)
  MLA_SET(F16, F32)
  MLA_SET(BF16, F32)
#undef MLA_SET
#define MLA_SET_R16(T)                                                                    \
  {                                                                                       \
    TypeKernels& e = t.entry[uint32_t(DType::T)];                                         \
    e.gemm_interleaved = avx512 ? avx512::Gemm##T##R16 : avx2 ? avx2::Gemm##T##R16 : scalar::Gemm##T##R16; \
    e.name_interleaved = avx512 ? #T ".r16.avx512" : avx2 ? #T ".r16.avx2" : #T ".r16.scalar"; \
  }
  MLA_SET_R16(Q4_0)
  MLA_SET_R16(Q8_0)
  MLA_SET_R16(IQ4_NL)
#undef MLA_SET_R16
  // Q4_K, Q5_K, Q6_K, IQ4_XS: AVX-512 VNNI kernels (the scalar twins serve the scalar column and the
  // tests); the AVX2 column keeps the row-major layout.
#define MLA_SET_R16_K(T)                                                                  \
  if (avx512 || !avx2) {                                                                  \
    TypeKernels& e = t.entry[uint32_t(DType::T)];                                         \
    e.gemm_interleaved = avx512 ? avx512::Gemm##T##R16 : scalar::Gemm##T##R16;            \
    e.name_interleaved = avx512 ? #T ".r16.avx512" : #T ".r16.scalar";                    \
  }
  MLA_SET_R16_K(Q4_K)
  MLA_SET_R16_K(Q5_K)
  MLA_SET_R16_K(Q6_K)
  MLA_SET_R16_K(IQ4_XS)
#undef MLA_SET_R16_K
  // BF16 weights pair with bf16 activations where VDPBF16PS exists (as llama.cpp does; the
  // activation rounding is below that of the Q8 activations of the quantized types).
  if (avx512 && cpu.avx512_bf16) Set(t, DType::BF16, DType::BF16, avx512::GemmBF16xBF16, "BF16.avx512bf16");
  return t;
}

const KernelTable& ActiveTable() {
  static const KernelTable table = BuildTable(Cpu());
  return table;
}

size_t ActivationRowBytesAs(DType act, int64_t n) {
  switch (act) {
    case DType::Q8_0:
      return size_t(n / 32) * sizeof(ActQ8x32);
    case DType::Q8_K:
      return RowBytes(DType::Q8_K, n);
    case DType::BF16:
      return size_t(n) * 2;
    default:
      return size_t(n) * sizeof(float);
  }
}

void PrepareActivationAs(DType act, DType weight, const float* x, void* dst, int64_t n) {
  switch (act) {
    case DType::Q8_0:
      QuantizeActQ8x32(x, static_cast<ActQ8x32*>(dst), n, ActQ8x32Offset(weight));
      return;
    case DType::Q8_K:
      QuantizeQ8K(x, static_cast<quant::BlockQ8_K*>(dst), n);
      return;
    case DType::BF16:
      quant::QuantizeRow(act, x, dst, n);
      return;
    default:
      std::memcpy(dst, x, size_t(n) * sizeof(float));
      return;
  }
}

DType ActivationType(DType weight) { return ActiveTable().For(weight).act; }

size_t ActivationRowBytes(DType weight, int64_t n) {
  return ActivationRowBytesAs(ActivationType(weight), n);
}

void PrepareActivation(DType weight, const float* x, void* dst, int64_t n) {
  PrepareActivationAs(ActivationType(weight), weight, x, dst, n);
}

void PrepareActivationSplit(DType weight, const float* x, void* hi, void* lo, float* residual, int64_t n) {
  PrepareActivation(weight, x, hi, n);
  ResidualQ8x32(x, static_cast<const ActQ8x32*>(hi), residual, n);
  PrepareActivation(weight, residual, lo, n);
}

void GemvRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act, int64_t n,
              int64_t r0, int64_t r1, float* y) {
  ActiveTable().For(weight).gemm(w, row_bytes, act, 0, 1, n, r0, r1, y, 0);
}

void GemmRows(DType weight, const uint8_t* w, size_t row_bytes, const void* act,
              size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y,
              int64_t ldy) {
  ActiveTable().For(weight).gemm(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels
