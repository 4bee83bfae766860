// The loop of AccumulateRowsF (kernels.h), shared by accumulate_avx2.cc and accumulate_avx512.cc:
// up to kHeads output rows x 2 registers of columns stay in accumulators for one pass over the
// input rows, one fused multiply-add per (row, output element) in row order. `V` is the ISA's
// register: V::Reg, V::kLanes, V::Load(type, row, j) (f32 / f16 / bf16 values as f32),
// V::LoadF, V::StoreF, V::Set1, V::Fmadd. Columns past the last multiple of 2·kLanes go to the
// scalar twin (same fused multiply-adds, same bits). Include only from those files (internal
// linkage, one copy per ISA).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/kernels_internal.h"

namespace mla::kernels {
namespace {

template <class V, int H>
void AccumulateBlock(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, float* o, int64_t ldo, int64_t j) {
  constexpr int64_t L = V::kLanes;
  typename V::Reg acc[H][2];
  for (int h = 0; h < H; ++h) {
    acc[h][0] = V::LoadF(o + h * ldo + j);
    acc[h][1] = V::LoadF(o + h * ldo + j + L);
  }
  for (int64_t i = 0; i < n_rows; ++i) {
    const uint8_t* row = rows + size_t(i) * row_bytes;
    const typename V::Reg x0 = V::Load(type, row, j), x1 = V::Load(type, row, j + L);
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      const typename V::Reg ph = V::Set1(p[h * ldp + i]);
      acc[h][0] = V::Fmadd(ph, x0, acc[h][0]);
      acc[h][1] = V::Fmadd(ph, x1, acc[h][1]);
    }
  }
  for (int h = 0; h < H; ++h) {
    V::StoreF(o + h * ldo + j, acc[h][0]);
    V::StoreF(o + h * ldo + j + L, acc[h][1]);
  }
}

using AccumulateBlockFn = void (*)(DType, const uint8_t*, size_t, int64_t, const float*, int64_t, float*,
                                   int64_t, int64_t);

template <class V, int... I>
constexpr std::array<AccumulateBlockFn, sizeof...(I)> AccumulateBlocks(std::integer_sequence<int, I...>) {
  return {&AccumulateBlock<V, I + 1>...};
}

template <class V, int kHeads>
void AccumulateRowsLoop(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                        int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  static constexpr auto kBlocks = AccumulateBlocks<V>(std::make_integer_sequence<int, kHeads>());
  constexpr int64_t kCols = 2 * V::kLanes;
  const int64_t j_end = j0 + (j1 - j0) / kCols * kCols;
  for (int64_t h = 0; h < n_out; h += kHeads) {
    const int64_t hh = std::min<int64_t>(kHeads, n_out - h);
    for (int64_t j = j0; j < j_end; j += kCols)
      kBlocks[size_t(hh - 1)](type, rows, row_bytes, n_rows, p + h * ldp, ldp, o + h * ldo, ldo, j);
  }
  if (j_end < j1) scalar::AccumulateRowsF(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, j_end, j1);
}

}  // namespace
}  // namespace mla::kernels
