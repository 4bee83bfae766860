// The AVX2 f32 register (8 lanes) as the shared kernel loops see it (exp_poly.h,
// accumulate_loop.h): one set of traits for every AVX2 file that runs such a loop. Include only
// from *_avx2.cc files (internal linkage, compiled with the ISA's flags).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "base/dtype.h"

namespace mla::kernels::avx2 {
namespace {

struct V8 {
  using Reg = __m256;
  static constexpr int64_t kLanes = 8;
  // f32 / f16 / bf16 values at element j of a row, as f32.
  static Reg Load(DType type, const uint8_t* row, int64_t j) {
    if (type == DType::F16)
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j)));
    if (type == DType::BF16)
      return _mm256_castsi256_ps(_mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j))), 16));
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + j);
  }
  static Reg LoadF(const float* p) { return _mm256_loadu_ps(p); }
  static void StoreF(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg Set1(float x) { return _mm256_set1_ps(x); }
  static Reg Min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg Add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg Fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg RoundEven(Reg x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // y·2^n for integral n in the normal exponent range.
  static Reg ScaleByPow2(Reg y, Reg n) {
    return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(
                                _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)));
  }
  // x < c ? 0 : v, lane by lane (a NaN x keeps v).
  static Reg AtLeast(Reg x, float c, Reg v) {
    return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(c), _CMP_NLT_UQ), v);
  }
};

}  // namespace
}  // namespace mla::kernels::avx2
