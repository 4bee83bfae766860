// Row-interleaved weights (kernels_internal.h BlockR16): the repacking done once at load, the
// scalar twins of the interleaved kernels (the oracle of the SIMD ones, bit for bit) and the
// public entry points of kernels.h.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace mla::kernels {
namespace {

using quant::BlockIQ4_NL;
using quant::BlockQ4_0;
using quant::BlockQ8_0;

// 16 rows of `row_bytes` at `rows` -> the group's BlockR16 sequence at `out`.
template <class Block, int kChunks>
void InterleaveGroup(const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = int64_t(row_bytes / sizeof(Block));
  auto* dst = reinterpret_cast<BlockR16<kChunks>*>(out);
  for (int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < 16; ++i) {
      const Block& x = reinterpret_cast<const Block*>(rows + size_t(i) * row_bytes)[b];
      dst[b].d[i] = x.d;
      PutWords(x.qs, dst[b].q, i);
    }
    if constexpr (kChunks == 8)  // Q8_0: q + 128
      for (auto& chunk : dst[b].q)
        for (uint8_t& q : chunk) q ^= 0x80;
  }
}

// 16 K-quant rows -> their interleaved blocks (kernels_internal.h PutRow), and row r back.
template <class Block, class R16>
void InterleaveGroupK(const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = int64_t(row_bytes / sizeof(Block));
  auto* dst = reinterpret_cast<R16*>(out);
  for (int64_t b = 0; b < nb; ++b)
    for (int i = 0; i < 16; ++i) PutRow(dst[b], i, reinterpret_cast<const Block*>(rows + size_t(i) * row_bytes)[b]);
}
template <class R16>
void DequantizeRowK(DType weight, const uint8_t* w, size_t row_bytes, int64_t n, int64_t r, float* out) {
  const auto* group = reinterpret_cast<const R16*>(w + size_t(r / 16) * 16 * row_bytes);
  for (int64_t b = 0; b < n / quant::kQK_K; ++b) {
    const auto x = RowBlock(group[b], int(r % 16));
    quant::DequantizeRow(weight, &x, out + quant::kQK_K * b, quant::kQK_K);
  }
}

// Row r of an interleaved matrix back into its original blocks, one at a time, then dequantized:
// the inverse of InterleaveGroup.
template <class Block, int kChunks>
void DequantizeRowR16(DType weight, const uint8_t* w, size_t row_bytes, int64_t n, int64_t r, float* out) {
  const auto* group = reinterpret_cast<const BlockR16<kChunks>*>(w + size_t(r / 16) * 16 * row_bytes);
  const int i = int(r % 16);
  Block x;
  for (int64_t b = 0; b < n / 32; ++b) {
    x.d = group[b].d[i];
    GetWords(group[b].q, i, x.qs);
    if constexpr (kChunks == 8)  // back from q + 128
      for (auto& q : x.qs) q = int8_t(uint8_t(q) ^ 0x80);
    quant::DequantizeRow(weight, &x, out + 32 * b, 32);
  }
}

// Signed level of element k (0..31) of row i in an interleaved block.
template <DType T>
int Level(const uint8_t* q, int i, int k) {
  if constexpr (T == DType::Q8_0) {
    return int(q[(k / 4) * 64 + 4 * i + k % 4]) - 128;
  } else {
    const int e = k % 16;
    const uint8_t byte = q[(e / 4) * 64 + 4 * i + e % 4];
    const int nibble = k < 16 ? byte & 0xF : byte >> 4;
    if constexpr (T == DType::IQ4_NL) return quant::kIq4nlValues[nibble];
    return nibble - 8;
  }
}

template <DType T, int kChunks>
void GemmR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
             int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = n / 32;
  for (int64_t g = r0 / 16; g < r1 / 16; ++g) {
    const auto* blk = reinterpret_cast<const BlockR16<kChunks>*>(w + size_t(g) * 16 * row_bytes);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const auto* a = reinterpret_cast<const ActQ8x32*>(static_cast<const uint8_t*>(act) +
                                                        size_t(t) * act_stride);
      for (int i = 0; i < 16; ++i) {
        float acc = 0.f;
        for (int64_t b = 0; b < nb; ++b) {
          int32_t sum = 0;
          for (int k = 0; k < 32; ++k) sum += Level<T>(&blk[b].q[0][0], i, k) * a[b].qs[k];
          acc = std::fma(F16ToF32(blk[b].d[i]) * a[b].d, float(sum), acc);
        }
        y[t * ldy + (g * 16 + i - r0)] = acc;
      }
    }
  }
}

}  // namespace

namespace scalar {
void GemmQ4_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<DType::Q4_0, 4>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmQ8_0R16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                 int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<DType::Q8_0, 8>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
void GemmIQ4_NLR16(const uint8_t* w, size_t row_bytes, const void* act, size_t act_stride,
                   int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  GemmR16<DType::IQ4_NL, 4>(w, row_bytes, act, act_stride, n_tokens, n, r0, r1, y, ldy);
}
}  // namespace scalar

bool CanInterleave(DType weight) { return ActiveTable().For(weight).gemm_interleaved != nullptr; }

void InterleaveRows(DType weight, const uint8_t* src, uint8_t* dst, int64_t n_rows,
                    size_t row_bytes) {
  for (int64_t r = 0; r + kInterleaveRows <= n_rows; r += kInterleaveRows) {
    const uint8_t* rows = src + size_t(r) * row_bytes;
    uint8_t* out = dst + size_t(r) * row_bytes;
    if (weight == DType::Q8_0)
      InterleaveGroup<BlockQ8_0, 8>(rows, row_bytes, out);
    else if (weight == DType::Q4_K)
      InterleaveGroupK<quant::BlockQ4_K, BlockQ4_KR16>(rows, row_bytes, out);
    else if (weight == DType::Q5_K)
      InterleaveGroupK<quant::BlockQ5_K, BlockQ5_KR16>(rows, row_bytes, out);
    else if (weight == DType::Q6_K)
      InterleaveGroupK<quant::BlockQ6_K, BlockQ6_KR16>(rows, row_bytes, out);
    else if (weight == DType::IQ4_XS)
      InterleaveGroupK<quant::BlockIQ4_XS, BlockIQ4_XSR16>(rows, row_bytes, out);
    else if (weight == DType::Q4_0)
      InterleaveGroup<BlockQ4_0, 4>(rows, row_bytes, out);
    else
      InterleaveGroup<BlockIQ4_NL, 4>(rows, row_bytes, out);
  }
}

void DequantizeInterleavedRow(DType weight, const uint8_t* w, size_t row_bytes, int64_t n, int64_t r,
                              float* out) {
  if (weight == DType::Q4_K)
    DequantizeRowK<BlockQ4_KR16>(weight, w, row_bytes, n, r, out);
  else if (weight == DType::Q5_K)
    DequantizeRowK<BlockQ5_KR16>(weight, w, row_bytes, n, r, out);
  else if (weight == DType::Q6_K)
    DequantizeRowK<BlockQ6_KR16>(weight, w, row_bytes, n, r, out);
  else if (weight == DType::IQ4_XS)
    DequantizeRowK<BlockIQ4_XSR16>(weight, w, row_bytes, n, r, out);
  else if (weight == DType::Q8_0)
    DequantizeRowR16<BlockQ8_0, 8>(weight, w, row_bytes, n, r, out);
  else if (weight == DType::Q4_0)
    DequantizeRowR16<BlockQ4_0, 4>(weight, w, row_bytes, n, r, out);
  else
    DequantizeRowR16<BlockIQ4_NL, 4>(weight, w, row_bytes, n, r, out);
}

void GemmRowsInterleaved(DType weight, const uint8_t* w, size_t row_bytes, const void* act,
                         size_t act_stride, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1,
                         float* y, int64_t ldy) {
  ActiveTable().For(weight).gemm_interleaved(w, row_bytes, act, act_stride, n_tokens, n, r0, r1,
                                             y, ldy);
}

}  // namespace mla::kernels
