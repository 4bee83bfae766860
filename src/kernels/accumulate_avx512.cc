// AVX-512 AccumulateRows: 8 output rows x 32 columns of accumulators in registers (accumulate_loop.h),
// f16 and bf16 rows converted in registers; and bf16 rows on AVX512_BF16 CPUs two at a time with
// VDPBF16PS (AccumulateRowsBF16Pairs).
// GCC 12's AVX-512 intrinsics fill unused lanes from a deliberately self-initialized
// _mm512_undefined_*(), which -Wmaybe-uninitialized reports; the warning is about the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/accumulate_loop.h"
#include "kernels/f32_avx512.h"

namespace mla::kernels::avx512 {
namespace {

// BF16 rows against bf16 weights with VDPBF16PS: two rows per step. unpacklo/hi_epi16 pair row i
// and row i+1 column by column, within each 128-bit lane, so accumulator lo's dword 4L+m holds
// column 8L+m and hi's holds column 8L+4+m; the output is permuted into and out of that order.
template <int H>
void BlockPairs(const uint8_t* rows, size_t row_bytes, int64_t n_rows, const uint32_t* pp, int64_t ldpp,
                float* o, int64_t ldo, int64_t j) {
  alignas(64) static constexpr int32_t kLo[16] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  alignas(64) static constexpr int32_t kHi[16] = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
  alignas(64) static constexpr int32_t kOut0[16] = {0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23};
  alignas(64) static constexpr int32_t kOut1[16] = {8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31};
  const __m512i lo_idx = _mm512_load_si512(kLo), hi_idx = _mm512_load_si512(kHi);
  __m512 acc[H][2];
  for (int h = 0; h < H; ++h) {
    const __m512 o0 = _mm512_loadu_ps(o + h * ldo + j), o1 = _mm512_loadu_ps(o + h * ldo + j + 16);
    acc[h][0] = _mm512_permutex2var_ps(o0, lo_idx, o1);
    acc[h][1] = _mm512_permutex2var_ps(o0, hi_idx, o1);
  }
  for (int64_t i = 0; i < n_rows; i += 2) {
    const __m512i a = _mm512_loadu_si512(rows + size_t(i) * row_bytes + 2 * j);
    const __m512i b = i + 1 < n_rows ? _mm512_loadu_si512(rows + size_t(i + 1) * row_bytes + 2 * j)
                                     : _mm512_setzero_si512();
    const __m512bh lo = (__m512bh)_mm512_unpacklo_epi16(a, b), hi = (__m512bh)_mm512_unpackhi_epi16(a, b);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      const __m512bh ph = (__m512bh)_mm512_set1_epi32(int32_t(pp[h * ldpp + i / 2]));
      acc[h][0] = _mm512_dpbf16_ps(acc[h][0], lo, ph);
      acc[h][1] = _mm512_dpbf16_ps(acc[h][1], hi, ph);
    }
  }
  const __m512i out0 = _mm512_load_si512(kOut0), out1 = _mm512_load_si512(kOut1);
  for (int h = 0; h < H; ++h) {
    _mm512_storeu_ps(o + h * ldo + j, _mm512_permutex2var_ps(acc[h][0], out0, acc[h][1]));
    _mm512_storeu_ps(o + h * ldo + j + 16, _mm512_permutex2var_ps(acc[h][0], out1, acc[h][1]));
  }
}

}  // namespace

void AccumulateRowsBF16Pairs(const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                             int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  constexpr int64_t kRows = 64;  // rows per pass: their weights as bf16 pairs stay on the stack
  alignas(64) uint32_t pp[8][kRows / 2];
  const int64_t j_end = j0 + (j1 - j0) / 32 * 32;
  for (int64_t h = 0; h < n_out; h += 8) {
    const int64_t hh = std::min<int64_t>(8, n_out - h);
    for (int64_t i0 = 0; i0 < n_rows; i0 += kRows) {
      const int64_t ni = std::min(kRows, n_rows - i0);
      for (int64_t k = 0; k < hh; ++k)
        for (int64_t i = 0; i < ni; i += 32) {
          const float* src = p + (h + k) * ldp + i0 + i;
          const int64_t left = ni - i;
          const __m512 x0 = _mm512_maskz_loadu_ps(left >= 16 ? 0xFFFF : __mmask16((1u << left) - 1), src);
          const __m512 x1 = left > 16 ? _mm512_maskz_loadu_ps(
                                            left >= 32 ? 0xFFFF : __mmask16((1u << (left - 16)) - 1), src + 16)
                                      : _mm512_setzero_ps();
          _mm512_store_si512(&pp[k][i / 2], (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
        }
      const uint8_t* block = rows + size_t(i0) * row_bytes;
      for (int64_t j = j0; j < j_end; j += 32) {
        float* oh = o + h * ldo;
        switch (hh) {
          case 8: BlockPairs<8>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 7: BlockPairs<7>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 6: BlockPairs<6>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 5: BlockPairs<5>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 4: BlockPairs<4>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 3: BlockPairs<3>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          case 2: BlockPairs<2>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
          default: BlockPairs<1>(block, row_bytes, ni, pp[0], kRows / 2, oh, ldo, j); break;
        }
      }
    }
  }
  if (j_end < j1)
    scalar::AccumulateRowsBF16Pairs(rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j_end, j1);
}

void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  AccumulateRowsLoop<V16, 8>(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j0, j1);
}

}  // namespace mla::kernels::avx512
