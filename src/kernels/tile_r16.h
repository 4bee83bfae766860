// The loop structure of the row-interleaved kernels (kernels_internal.h BlockR16), shared by
// interleaved_avx2.cc and interleaved_avx512.cc: row groups in blocks that stay in L2, tokens in
// tiles whose accumulators stay in registers. `Tile<T>(group, nb, act, act_stride, y, ldy)` is
// the ISA's kernel for one group of 16 rows and T tokens. Include only from those files (internal
// linkage, one copy per ISA).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/kernels_internal.h"

namespace mla::kernels {
namespace {

// The activation's 4 quants at element k as one 32-bit lane value.
inline int32_t Quad(const ActQ8x32& a, int k) {
  int32_t v;
  std::memcpy(&v, a.qs + k, 4);
  return v;
}

using R16TileFn = void (*)(const uint8_t* group, int64_t nb, const uint8_t* act, size_t act_stride,
                           float* y, int64_t ldy);

template <template <int> class Tile, int TMAX>
struct R16Tiles {
  template <int... I>
  static constexpr std::array<R16TileFn, TMAX> Make(std::integer_sequence<int, I...>) {
    return {&Tile<I + 1>::Run...};
  }
  static constexpr std::array<R16TileFn, TMAX> kFns = Make(std::make_integer_sequence<int, TMAX>());
};

// Groups of 16 rows from r0 to r1 (multiples of 16), all tokens; blocks of kBlockElems columns.
template <template <int> class Tile, int TMAX, int kBlockElems = 32>
void GemmR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  constexpr int64_t kGroupsPerBlock = 4;  // 64 rows: a few hundred KiB at most, kept in L2
  const int64_t nb = n / kBlockElems, g0 = r0 / 16, g1 = r1 / 16;
  const size_t group_bytes = 16 * row_bytes;
  const uint8_t* a = static_cast<const uint8_t*>(act);
  for (int64_t gb = g0; gb < g1; gb += kGroupsPerBlock) {
    const int64_t gb1 = std::min(g1, gb + kGroupsPerBlock);
    for (int64_t t = 0; t < n_tokens; t += TMAX) {
      const int tt = int(std::min<int64_t>(TMAX, n_tokens - t));
      for (int64_t g = gb; g < gb1; ++g)
        R16Tiles<Tile, TMAX>::kFns[tt - 1](w + size_t(g) * group_bytes, nb, a + size_t(t) * act_stride,
                                           act_stride, y + t * ldy + (g * 16 - r0), ldy);
    }
  }
}

}  // namespace
}  // namespace mla::kernels
