// AVX2 MaxValue, ExpSum and SiluMul: the 16 canonical lanes in two registers, the scalar twin's steps
// (exp.cc) lane by lane.
#include <immintrin.h>

#include <limits>

#include "kernels/exp_poly.h"
#include "kernels/f32_avx2.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels::avx2 {
namespace {

inline __m256i TailMask8(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

float MaxValue(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = lanes[0];
  for (int k = 1; k < 8; ++k) r = r < lanes[k] ? lanes[k] : r;
  for (; i < n; ++i) r = r < x[i] ? x[i] : r;
  return r;
}

float ExpSum(float* x, int64_t n, float scale, float shift) {
  const __m256 vs = _mm256_set1_ps(scale), vh = _mm256_set1_ps(shift);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = TailMask8(n - i);
    const __m256 e = ExpPolyOf<V8>(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(x + i, m), vs), vh));
    _mm256_maskstore_ps(x + i, m, e);
    const int half = int(i / 8) % 2;  // elements i..i+7 are lanes 0-7 or 8-15 of the 16
    acc[half] = _mm256_add_ps(acc[half], _mm256_and_ps(_mm256_castsi256_ps(m), e));
  }
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, acc[0]);
  _mm256_store_ps(lanes + 8, acc[1]);
  return Reduce16(lanes);
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = TailMask8(n - i);
    const __m256 g = _mm256_maskload_ps(gate + i, m);
    const __m256 e = ExpPolyOf<V8>(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(s, _mm256_maskload_ps(up + i, m)));
  }
}

}  // namespace mla::kernels::avx2
