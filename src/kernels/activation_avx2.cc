// AVX2 activation quantization (ActQ8x32, Q8_K): the arithmetic of activation.cc on 8 lanes — the
// same max, the same scalar scale, one multiply and a round-to-even per element — so the output is
// bit-identical to the scalar version (tested).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/kernels_internal.h"

namespace mla::kernels::avx2 {
namespace {

// max |x[i]| over n (a multiple of 8) floats; NaN lanes are ignored as in the scalar std::max.
inline float AbsMax(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 levels as int32: round-to-even(x * id), then clamped to [-127, 127] (NaN -> -127, as the
// scalar Level(): MAXPS returns its second operand when the first is NaN).
inline __m256i Levels8(const float* x, __m256 id) {
  __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.f)), _mm256_set1_ps(127.f));
  return _mm256_cvtps_epi32(v);
}

// 32 levels as bytes in element order.
inline __m256i Levels32(const float* x, float id_scalar) {
  const __m256 id = _mm256_set1_ps(id_scalar);
  const __m256i w01 = _mm256_packs_epi32(Levels8(x, id), Levels8(x + 8, id));
  const __m256i w23 = _mm256_packs_epi32(Levels8(x + 16, id), Levels8(x + 24, id));
  const __m256i b = _mm256_packs_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Sums of the 8 groups of 4 consecutive bytes.
inline __m256i QuadSums(__m256i q) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
}

inline float Scale(float amax, float* d) {
  const float id = amax > 0.f ? 127.f / amax : 0.f;
  *d = amax > 0.f ? 1.f / id : 0.f;
  return id;
}

}  // namespace

void QuantizeActQ8x32(const float* x, ActQ8x32* dst, int64_t n, int offset) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    ActQ8x32& o = dst[b];
    const __m256i q = Levels32(x, Scale(AbsMax(x, 32), &o.d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), q);
    const __m256i neg = _mm256_mullo_epi32(QuadSums(q), _mm256_set1_epi32(-offset));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.neg_sums), neg);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(neg), _mm256_extracti128_si256(neg, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    o.neg_sum = _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1)));
  }
}

void QuantizeQ8_0(const float* x, quant::BlockQ8_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float d;
    const __m256i q = Levels32(x, Scale(AbsMax(x, 32), &d));
    dst[b].d = F32ToF16(d);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst[b].qs), q);
  }
}

void QuantizeQ8K(const float* x, quant::BlockQ8_K* dst, int64_t n) {
  for (int64_t b = 0; b < n / quant::kQK_K; ++b, x += quant::kQK_K) {
    quant::BlockQ8_K& o = dst[b];
    const float id = Scale(AbsMax(x, quant::kQK_K), &o.d);
    __m256i quads[8];
    for (int k = 0; k < 8; ++k) {
      const __m256i q = Levels32(x + 32 * k, id);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + 32 * k), q);
      quads[k] = QuadSums(q);
    }
    // bsums[2k + h] = sum of quads 4h .. 4h+3 of run k.
    for (int k = 0; k < 8; k += 2) {
      const __m256i s = _mm256_hadd_epi32(quads[k], quads[k + 1]);  // pairs, per 128-bit lane
      const __m256i t = _mm256_hadd_epi32(s, s);  // lane 0: k.h0, k+1.h0; lane 1: k.h1, k+1.h1
      o.bsums[2 * k] = int16_t(_mm256_extract_epi32(t, 0));
      o.bsums[2 * k + 1] = int16_t(_mm256_extract_epi32(t, 4));
      o.bsums[2 * k + 2] = int16_t(_mm256_extract_epi32(t, 1));
      o.bsums[2 * k + 3] = int16_t(_mm256_extract_epi32(t, 5));
    }
  }
}

// F32ToBF16 on 8 lanes in integer arithmetic (round to nearest even, NaN kept quiet), so the
// bits equal the scalar conversion for every input, subnormals included.
void ConvertToBF16(const float* x, uint16_t* dst, int64_t n) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(64);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
    // 32 -> 16 bits within each 128-bit lane, then the two lanes' low halves together.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) dst[i] = F32ToBF16(x[i]);
}

// One multiply and one subtraction per element, as the scalar version.
void ResidualQ8x32(const float* x, const ActQ8x32* q, float* r, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32, r += 32) {
    const __m256 d = _mm256_set1_ps(q[b].d);
    for (int i = 0; i < 32; i += 8) {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q[b].qs + i));
      const __m256 level = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
      _mm256_storeu_ps(r + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_mul_ps(d, level)));
    }
  }
}

// VCVTPH2PS is exact, as F16ToF32 is: the same bits for every input but signalling NaNs, which it
// returns quiet.
void ConvertF16ToF32(const uint16_t* x, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) dst[i] = F16ToF32(x[i]);
}

}  // namespace mla::kernels::avx2
