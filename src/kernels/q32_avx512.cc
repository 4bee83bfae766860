// AVX-512 VNNI kernels of the 32-element-block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL x
// ActQ8x32), on 256-bit
// registers (two 32-element blocks per 512-bit register would need cross-block shuffles that cost
// what they save). Weights are made unsigned (level + offset) so one VPDPBUSD per block, started
// from the activation's neg_sums = -offset * sum(a), yields the signed lane sums.
// GCC 12's AVX-512 intrinsics fill unused lanes from a deliberately self-initialized
// _mm512_undefined_*(), which -Wuninitialized reports at every use; the warning is about the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/blocks.h"
#include "kernels/tile_q32.h"

namespace mla::kernels::avx512 {
namespace {

using quant::BlockIQ4_NL;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;

struct UnsignedOps {
  static constexpr bool kMins = false;
  struct W {
    __m256i u;  // level + ActQ8x32Offset(type)
  };
  static __m256i Dot(const W& w, __m256i aq, __m256i neg) { return _mm256_dpbusd_epi32(neg, w.u, aq); }
};
// Q4_1 / Q5_1: levels unsigned already; neg_sums holds the plain sums for the min term.
struct MinOps {
  static constexpr bool kMins = true;
  struct W {
    __m256i u;
  };
  static __m256i Dot(const W& w, __m256i aq, __m256i) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w.u, aq);
  }
};

// Byte j = 16 where bit j of the little-endian u32 at qh is set.
inline __m256i FifthBits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return _mm256_maskz_mov_epi8(_cvtu32_mask32(h), _mm256_set1_epi8(0x10));
}

struct Q4_0Ops : UnsignedOps {
  using Block = BlockQ4_0;
  static W Load(const Block& x) { return {Nibbles(x.qs)}; }
};
struct Q4_1Ops : MinOps {
  using Block = BlockQ4_1;
  static W Load(const Block& x) { return {Nibbles(x.qs)}; }
};
struct Q5_0Ops : UnsignedOps {
  using Block = BlockQ5_0;
  static W Load(const Block& x) { return {_mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh))}; }
};
struct Q5_1Ops : MinOps {
  using Block = BlockQ5_1;
  static W Load(const Block& x) { return {_mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh))}; }
};

struct Q8_0Ops : UnsignedOps {
  using Block = BlockQ8_0;
  static W Load(const Block& x) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
    return {_mm256_xor_si256(v, _mm256_set1_epi8(char(0x80)))};  // v + 128
  }
};

struct IQ4_NLOps : UnsignedOps {
  using Block = BlockIQ4_NL;
  static W Load(const Block& x) {
    // kIq4nlValues + 128.
    const __m256i lut = _mm256_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, char(129), char(141),
                                         char(153), char(166), char(181), char(197), char(217),
                                         char(241), 1, 24, 45, 63, 79, 93, 106, 118, char(129),
                                         char(141), char(153), char(166), char(181), char(197),
                                         char(217), char(241));
    return {_mm256_shuffle_epi8(lut, Nibbles(x.qs))};
  }
};

// GEMV: 8 rows at a time; GEMM: 4 rows x 4 tokens (32 registers), 4 x 3 for the types with a
// min (their per-row min scales need registers too).
template <class Ops>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  if (n_tokens == 1)
    GemmQ32<Ops, 8, 1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
  else if constexpr (Ops::kMins)
    GemmQ32<Ops, 4, 3>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
  else
    GemmQ32<Ops, 4, 4>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace

void GemmQ4_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<Q4_0Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ4_1(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<Q4_1Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<Q5_0Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ5_1(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<Q5_1Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ8_0(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
              int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<Q8_0Ops>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_NL(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  Gemm<IQ4_NLOps>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}

}  // namespace mla::kernels::avx512
