// Matrix products against weights stored in any DType, the way every projection of the model is
// computed. The inner loops are the kernels layer's (kernels.h); this file only prepares the
// activations and splits the output rows over the thread pool.
//
// Determinism (design.md): rows are cut into chunks of a fixed size that does not depend on the
// number of threads, and each output element is computed by exactly one kernel call with the
// kernel's fixed reduction order. So the result is bit-identical for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "base/thread_pool.h"

namespace mla::ops {

// A weight matrix in ggml order {n_in, n_out}: n_out rows of n_in contiguous elements, each row
// `row_bytes` long (spec §1.3: y[o] = Σ_i W[i + n_in·o] · x[i]).
struct Matrix {
  DType type = DType::F32;
  const uint8_t* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  size_t row_bytes = 0;
  // Rows repacked at load into groups of kernels::kInterleaveRows (kernels.h); row r then no
  // longer starts at data + r·row_bytes, but a group does, so slices stay on group boundaries.
  bool interleaved = false;

  // Rows [r0, r0 + n) as a matrix of their own (a slice of a 3-D tensor, one head, one expert);
  // for an interleaved matrix r0 and n are multiples of the group size.
  Matrix Rows(int64_t r0, int64_t n) const {
    return Matrix{type, data + size_t(r0) * row_bytes, n_in, n, row_bytes, interleaved};
  }
  bool empty() const { return data == nullptr; }
};

// Row r of w as n_in floats (either layout).
void DequantizeMatrixRow(const Matrix& w, int64_t r, float* out);

// Bytes of activation scratch MatMul / MatMulGroups need for `n_rows` input rows of `w`
// (n_rows = n_tokens · n_groups).
size_t MatMulScratchBytes(const Matrix& w, int64_t n_rows);

// y[t·ldy + o] = Σ_i w[o][i] · x[t·ldx + i] for t < n_tokens, o < w.n_out.
// `scratch` holds MatMulScratchBytes(w, n_tokens) bytes; nothing is allocated.
void MatMul(ThreadPool& pool, const Matrix& w, const float* x, int64_t ldx, int64_t n_tokens,
            float* y, int64_t ldy, uint8_t* scratch);

// The same for n_groups independent matrices stacked in `w` (group g = rows
// [g·rows_per_group, (g+1)·rows_per_group)), e.g. one matrix per attention head (spec §3.5 steps 1
// and 6). Group g reads x[t·ldx + g·x_group_stride + i] and writes
// y[t·ldy + g·y_group_stride + o]. scratch: MatMulScratchBytes(w, n_tokens · n_groups).
void MatMulGroups(ThreadPool& pool, const Matrix& w, int64_t n_groups, const float* x,
                  int64_t ldx, int64_t x_group_stride, int64_t n_tokens, float* y, int64_t ldy,
                  int64_t y_group_stride, uint8_t* scratch);

// One product of a batch: y[t·ldy + o] = Σ_i w[o][i] · x[t·ldx + i] for t < n_tokens.
struct MatMulJob {
  Matrix w;
  const float* x = nullptr;
  int64_t ldx = 0;
  int64_t n_tokens = 0;
  float* y = nullptr;
  int64_t ldy = 0;
};

// Several independent products in one fork/join (the chosen experts' gate and up projections of a
// decode step, the query and latent projections of the same input): the output-row chunks of all
// jobs are split over the threads together. Each job's results are the bits MatMul gives.
inline constexpr int kMaxMatMulJobs = 64;
void MatMulBatch(ThreadPool& pool, const MatMulJob* jobs, int n_jobs, uint8_t* scratch);

}  // namespace mla::ops
