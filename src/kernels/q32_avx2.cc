// AVX2 kernels of the 32-element-block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL x ActQ8x32).
// Lane sums come from maddubs (unsigned x signed byte pairs) + madd; Q8_0 and IQ4_NL use the sign
// trick |w| * (a * sign(w)), exact because activations never hold -128 (ActQ8x32).
#include "quant/blocks.h"
#include "kernels/tile_q32.h"

namespace mla::kernels::avx2 {
namespace {

using quant::BlockIQ4_NL;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;

inline __m256i SumPairs(__m256i p16) { return _mm256_madd_epi16(p16, _mm256_set1_epi16(1)); }

// Unsigned levels (level + offset, offset from ActQ8x32Offset): the lane sums of maddubs + madd,
// plus neg_sums = -offset * sum(a) when the offset is not 0.
template <bool kAddNeg>
struct UnsignedOps {
  struct W {
    __m256i u;
  };
  static __m256i Dot(const W& w, __m256i aq, __m256i neg) {
    const __m256i p = SumPairs(_mm256_maddubs_epi16(w.u, aq));
    return kAddNeg ? _mm256_add_epi32(p, neg) : p;
  }
};

struct Q4_0Ops : UnsignedOps<true> {  // level + 8
  using Block = BlockQ4_0;
  static constexpr bool kMins = false;
  static W Load(const Block& x) { return {Nibbles(x.qs)}; }
};
struct Q4_1Ops : UnsignedOps<false> {
  using Block = BlockQ4_1;
  static constexpr bool kMins = true;
  static W Load(const Block& x) { return {Nibbles(x.qs)}; }
};
struct Q5_0Ops : UnsignedOps<true> {  // level + 16
  using Block = BlockQ5_0;
  static constexpr bool kMins = false;
  static W Load(const Block& x) { return {_mm256_or_si256(Nibbles(x.qs), FifthBitsAvx2(x.qh))}; }
};
struct Q5_1Ops : UnsignedOps<false> {
  using Block = BlockQ5_1;
  static constexpr bool kMins = true;
  static W Load(const Block& x) { return {_mm256_or_si256(Nibbles(x.qs), FifthBitsAvx2(x.qh))}; }
};

struct SignedOps {
  static constexpr bool kMins = false;
  struct W {
    __m256i abs, v;
  };
  static W FromLevels(__m256i v) { return {_mm256_abs_epi8(v), v}; }
  static __m256i Dot(const W& w, __m256i aq, __m256i) {
    return SumPairs(_mm256_maddubs_epi16(w.abs, _mm256_sign_epi8(aq, w.v)));
  }
};

struct Q8_0Ops : SignedOps {
  using Block = BlockQ8_0;
  static W Load(const Block& x) {
    return FromLevels(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)));
  }
};

struct IQ4_NLOps : SignedOps {
  using Block = BlockIQ4_NL;
  static W Load(const Block& x) {
    const __m256i lut = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlValues)));
    return FromLevels(_mm256_shuffle_epi8(lut, Nibbles(x.qs)));
  }
};

// GEMV: 4 rows at a time; GEMM: 2 rows x 4 tokens (16 ymm registers).
template <class Ops>
void Gemm(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride, int64_t n_tokens,
          int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  if (n_tokens == 1)
    GemmQ32<Ops, 4, 1>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
  else
    GemmQ32<Ops, 2, 4>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
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

}  // namespace mla::kernels::avx2
