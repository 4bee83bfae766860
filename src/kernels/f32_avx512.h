// The AVX-512 f32 register (16 lanes) as the shared kernel loops see it (exp_poly.h,
// accumulate_loop.h): one set of traits for every AVX-512 file that runs such a loop. Include only
// from *_avx512.cc files (internal linkage, compiled with the ISA's flags).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "base/dtype.h"

namespace mla::kernels::avx512 {
namespace {

struct V16 {
  using Reg = __m512;
  static constexpr int64_t kLanes = 16;
  // f32 / f16 / bf16 values at element j of a row, as f32.
  static Reg Load(DType type, const uint8_t* row, int64_t j) {
    if (type == DType::F16)
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * j)));
    if (type == DType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * j))), 16));
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + j);
  }
  static Reg LoadF(const float* p) { return _mm512_loadu_ps(p); }
  static void StoreF(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg Set1(float x) { return _mm512_set1_ps(x); }
  static Reg Min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg Add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg Fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg RoundEven(Reg x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // y·2^n for integral n in the normal exponent range.
  static Reg ScaleByPow2(Reg y, Reg n) {
    return _mm512_mul_ps(y, _mm512_castsi512_ps(_mm512_slli_epi32(
                                _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23)));
  }
  // x < c ? 0 : v, lane by lane (a NaN x keeps v).
  static Reg AtLeast(Reg x, float c, Reg v) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(c), _CMP_NLT_UQ), v);
  }
};

}  // namespace
}  // namespace mla::kernels::avx512
