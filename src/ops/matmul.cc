#include "ops/matmul.h"

#include <algorithm>
#include <cmath>

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
// Activation values up to which preparing them on the calling thread beats a fork/join.
constexpr int64_t kInlinePrepare = 65536;

size_t ActStride(const Matrix& w) {
  const size_t bytes = kernels::ActivationRowBytes(w.type, w.n_in);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

// Output rows [r0, r1) of one matrix for all tokens (activations already prepared).
void RunRows(const Matrix& w, const uint8_t* act, size_t stride, int64_t n_tokens, float* y,
             int64_t ldy, int64_t r0, int64_t r1) {
  if (w.interleaved)
    kernels::GemmRowsInterleaved(w.type, w.data, w.row_bytes, act, stride, n_tokens, w.n_in, r0, r1,
                                 y + r0, ldy);
  else if (n_tokens == 1)
    kernels::GemvRows(w.type, w.data, w.row_bytes, act, w.n_in, r0, r1, y + r0);
  else
    kernels::GemmRows(w.type, w.data, w.row_bytes, act, stride, n_tokens, w.n_in, r0, r1, y + r0, ldy);
}

int64_t RowChunk(const Matrix& w) { return w.interleaved ? kRowChunkInterleaved : kRowChunk; }

uint8_t* AlignPtr(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kAlign - 1) / kAlign * kAlign);
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
  if (n_act * w.n_in <= kInlinePrepare)
    for (int64_t i = 0; i < n_act; ++i) prepare(i, 0);
  else
    ParallelFor(pool, n_act, prepare);

  // 2. Output rows in fixed chunks, per group; each thread starts with one contiguous run of chunks
  //    so that its weights stream sequentially, then helps with the rest (ParallelRuns; which
  //    thread computes a chunk never changes its bits).
  const int64_t row_chunk = RowChunk(w);
  const int64_t chunks = (rows + row_chunk - 1) / row_chunk;
  const int64_t n_chunks = n_groups * chunks;
  const auto run_chunk = [&](int64_t task) {
    const int64_t g = task / chunks;
    const int64_t r0 = (task % chunks) * row_chunk;
    const Matrix wg = w.Rows(g * rows, rows);
    RunRows(wg, act + size_t(g * n_tokens) * stride, stride, n_tokens, y + g * y_group_stride, ldy, r0,
            std::min(rows, r0 + row_chunk));
  };
  ParallelRuns(pool, n_chunks, [&](int64_t part, int64_t parts) { return n_chunks * part / parts; }, run_chunk);
}

void MatMulBatch(ThreadPool& pool, const MatMulJob* jobs, int n_jobs, uint8_t* scratch) {
  if (n_jobs <= 0) return;
  // 1. Activations, one block per job — or the previous job's block when the input and weight type
  //    are the same (an FFN's gate and up, which callers put side by side); a few rows are quicker
  //    on this thread than a fork/join.
  // Prepared row i is job j's token i - first_row[j] (a job sharing its predecessor's block has none).
  uint8_t* act[kMaxMatMulJobs];
  int64_t first_row[kMaxMatMulJobs + 1], first_chunk[kMaxMatMulJobs + 1];
  uint8_t* at = AlignPtr(scratch);
  int64_t work = 0;
  first_row[0] = first_chunk[0] = 0;
  for (int j = 0; j < n_jobs; ++j) {
    const MatMulJob& b = jobs[j];
    const MatMulJob* a = j > 0 ? &jobs[j - 1] : nullptr;
    const bool shared = a && a->x == b.x && a->ldx == b.ldx && a->n_tokens == b.n_tokens &&
                        a->w.n_in == b.w.n_in && a->w.type == b.w.type;
    act[j] = shared ? act[j - 1] : at;
    if (!shared) {
      at += ActStride(b.w) * size_t(b.n_tokens);
      work += b.n_tokens * b.w.n_in;
    }
    first_row[j + 1] = first_row[j] + (shared ? 0 : b.n_tokens);
    first_chunk[j + 1] = first_chunk[j] + (b.n_tokens > 0 ? (b.w.n_out + RowChunk(b.w) - 1) / RowChunk(b.w) : 0);
  }
  const auto prepare = [&](int64_t i, int) {
    const int j = int(std::upper_bound(first_row, first_row + n_jobs + 1, i) - first_row) - 1;
    const MatMulJob& b = jobs[j];
    const int64_t t = i - first_row[j];
    kernels::PrepareActivation(b.w.type, b.x + t * b.ldx, act[j] + size_t(t) * ActStride(b.w), b.w.n_in);
  };
  if (work <= kInlinePrepare)
    for (int64_t i = 0; i < first_row[n_jobs]; ++i) prepare(i, 0);
  else
    ParallelFor(pool, first_row[n_jobs], prepare);

  // 2. The chunks of all jobs in order, one contiguous run per thread (ParallelRuns), cut where
  //    the work (weight bytes, and the tokens they meet) is split evenly: jobs differ in width (a
  //    shared expert's down projection is twice a routed one's).
  const int64_t n_chunks = first_chunk[n_jobs];
  double job_chunk_cost[kMaxMatMulJobs], total = 0;
  for (int j = 0; j < n_jobs; ++j) {
    const MatMulJob& b = jobs[j];
    job_chunk_cost[j] = double(RowChunk(b.w)) * double(b.w.row_bytes) * (1.0 + double(b.n_tokens) / 8.0);
    total += job_chunk_cost[j] * double(first_chunk[j + 1] - first_chunk[j]);
  }
  // The first chunk of part p: the first whose start falls at or after p/parts of the work.
  const auto first = [&](int64_t part, int64_t parts) {
    const double lo = total * double(part) / double(parts);
    double before = 0;
    for (int j = 0; j < n_jobs; ++j) {
      const int64_t n_job = first_chunk[j + 1] - first_chunk[j];
      if (before + job_chunk_cost[j] * double(n_job) <= lo) {
        before += job_chunk_cost[j] * double(n_job);
        continue;
      }
      const int64_t c = int64_t(std::ceil((lo - before) / job_chunk_cost[j]));
      return first_chunk[j] + std::min(c, n_job);
    }
    return n_chunks;
  };
  ParallelRuns(pool, n_chunks, first, [&](int64_t chunk) {
    const int j = int(std::upper_bound(first_chunk, first_chunk + n_jobs + 1, chunk) - first_chunk) - 1;
    const MatMulJob& b = jobs[j];
    const int64_t r0 = (chunk - first_chunk[j]) * RowChunk(b.w);
    RunRows(b.w, act[j], ActStride(b.w), b.n_tokens, b.y, b.ldy, r0, std::min(b.w.n_out, r0 + RowChunk(b.w)));
  });
}

}  // namespace mla::ops
