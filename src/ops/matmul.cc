#include "ops/matmul.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "quant/quant.h"
#include "ops/parallel.h"

namespace mla::ops {
namespace {

// Rows per task. Fixed (never derived from the thread count) so every output element is produced
// by the same kernel call whatever the number of threads. Interleaved matrices take bigger tasks
// (whole groups; their results do not depend on the split at all).
constexpr int64_t kRowChunk = 16;
constexpr int64_t kRowChunkInterleaved = 4 * kernels::kInterleaveRows;
// Scratch rows are kept 64-byte aligned for the SIMD kernels.
constexpr size_t kAlign = 64;

size_t ActStride(const Matrix& w) {
  const size_t bytes = kernels::ActivationRowBytes(w.type, w.n_in);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

void DequantizeMatrixRow(const Matrix& w, int64_t r, float* out) {
  if (w.interleaved)
    kernels::DequantizeInterleavedRow(w.type, w.data, w.row_bytes, w.n_in, r, out);
  else
    quant::DequantizeRow(w.type, w.data + size_t(r) * w.row_bytes, out, w.n_in);
}

size_t MatMulScratchBytes(const Matrix& w, int64_t n_rows) {
  return ActStride(w) * size_t(std::max<int64_t>(n_rows, 1)) + kAlign;
}

void MatMul(ThreadPool& pool, const Matrix& w, const float* x, int64_t ldx, int64_t n_tokens,
            float* y, int64_t ldy, uint8_t* scratch) {
  MatMulGroups(pool, w, 1, x, ldx, 0, n_tokens, y, ldy, 0, scratch);
}

void MatMulGroups(ThreadPool& pool, const Matrix& w, int64_t n_groups, const float* x,
                  int64_t ldx, int64_t x_group_stride, int64_t n_tokens, float* y, int64_t ldy,
                  int64_t y_group_stride, uint8_t* scratch) {
  if (n_tokens <= 0 || n_groups <= 0) return;
  const int64_t rows = w.n_out / n_groups;
  const size_t stride = ActStride(w);
  uint8_t* act = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(scratch) + kAlign - 1) / kAlign * kAlign);

  // 1. Activations into the weight type's paired format, one row per (group, token).
  //    Group g's rows are contiguous: act + (g·n_tokens + t)·stride.
  //    A few rows are quicker on this thread than a fork/join.
  const int64_t n_act = n_groups * n_tokens;
  const auto prepare = [&](int64_t i, int) {
    const int64_t g = i / n_tokens, t = i % n_tokens;
    kernels::PrepareActivation(w.type, x + t * ldx + g * x_group_stride, act + size_t(i) * stride,
                               w.n_in);
  };
  if (n_act * w.n_in <= 16384)
    for (int64_t i = 0; i < n_act; ++i) prepare(i, 0);
  else
    ParallelFor(pool, n_act, prepare);

  // 2. Output rows in fixed chunks, per group; each thread takes one contiguous run of chunks so
  //    that its weights stream sequentially (which thread computes a chunk never changes its bits).
  const int64_t row_chunk = w.interleaved ? kRowChunkInterleaved : kRowChunk;
  const int64_t chunks = (rows + row_chunk - 1) / row_chunk;
  const int64_t n_chunks = n_groups * chunks;
  const auto run_chunk = [&](int64_t task) {
    const int64_t g = task / chunks;
    const int64_t r0 = (task % chunks) * row_chunk;
    const int64_t r1 = std::min(rows, r0 + row_chunk);
    const uint8_t* wg = w.data + size_t(g * rows) * w.row_bytes;
    const uint8_t* ag = act + size_t(g * n_tokens) * stride;
    float* yg = y + g * y_group_stride;
    if (w.interleaved) {
      kernels::GemmRowsInterleaved(w.type, wg, w.row_bytes, ag, stride, n_tokens, w.n_in, r0, r1,
                                   yg + r0, ldy);
    } else if (n_tokens == 1) {
      kernels::GemvRows(w.type, wg, w.row_bytes, ag, w.n_in, r0, r1, yg + r0);
    } else {
      kernels::GemmRows(w.type, wg, w.row_bytes, ag, stride, n_tokens, w.n_in, r0, r1, yg + r0,
                        ldy);
    }
  };
  const int64_t parts = std::min<int64_t>(pool.size(), n_chunks);
  ParallelFor(pool, parts, [&](int64_t part, int) {
    for (int64_t task = n_chunks * part / parts; task < n_chunks * (part + 1) / parts; ++task)
      run_chunk(task);
  });
}

}  // namespace mla::ops
