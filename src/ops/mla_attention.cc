#include "ops/mla_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernels.h"
#include "ops/parallel.h"
#include "ops/vec.h"
#include "quant/quant.h"

namespace mla::ops {
namespace {

// Cache rows converted and scored together. Fixed: the online-softmax rescaling happens at chunk
// boundaries, so the chunk size (not the thread count) defines the rounding.
constexpr int64_t kChunk = 64;

}  // namespace

void ReadLatentRows(const LatentView& cache, int64_t r0, int64_t n, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* src = cache.data + size_t(r0 + r) * cache.row_bytes;
    float* dst = out + r * cache.row_elems;
    if (cache.type == DType::F32)
      std::memcpy(dst, src, size_t(cache.row_elems) * sizeof(float));
    else
      quant::DequantizeRow(cache.type, src, dst, cache.row_elems);
  }
}

namespace {

// The cache rows' type as the kernels read them: f32, f16 and bf16 in place, others converted.
DType RowType(const LatentView& cache) {
  return kernels::CanAccumulateRows(cache.type) ? cache.type : DType::F32;
}

// Queries in the activation format the score kernel pairs with the rows (f32, or bf16 for bf16
// rows where VDPBF16PS exists), in floats, rounded up to whole cache lines.
size_t QueryFloats(const LatentView& cache) {
  const size_t bytes = kernels::ActivationRowBytes(RowType(cache), cache.n_latent + cache.n_rope);
  return (bytes + 63) / 64 * 16;
}

}  // namespace

size_t MlaAttentionScratchFloats(const LatentView& cache, int64_t n_head) {
  // converted rows + scores (n_head x chunk) + per-head running max and sum + prepared queries
  return size_t(kChunk * cache.row_elems + n_head * kChunk + 2 * n_head) + size_t(n_head) * QueryFloats(cache);
}

// Per token and head (spec §3.5 absorbed form): scores of q = [q_abs | q_pe] against whole cache
// rows, online softmax over chunks, o_lat = Σ p·c_KV. Scores are a small GEMM (cache rows as the
// matrix, the heads' queries as its inputs) and the value sum is kernels::AccumulateRows, both
// reading f32 / f16 / bf16 rows in place (bf16 with VDPBF16PS where the CPU has it); other cache
// types are converted to f32 a chunk at a time.
void MlaAttention(ThreadPool& pool, const LatentView& cache, const MlaAttentionArgs& a,
                  float* scratch) {
  const int64_t nk = cache.n_latent + cache.n_rope;  // score dot length
  const int64_t nl = cache.n_latent;
  const size_t per_thread = MlaAttentionScratchFloats(cache, a.n_head);
  const DType row_type = RowType(cache);
  const bool in_place = row_type == cache.type;
  const size_t q_floats = QueryFloats(cache);
  // Split heads only when there are fewer tokens than threads (decode); grouping never changes
  // a (token, head) result, only who computes it.
  const int64_t groups =
      a.n_tokens >= pool.size() ? 1 : std::min<int64_t>(a.n_head, pool.size());
  const int64_t heads_per_group = (a.n_head + groups - 1) / groups;

  ParallelFor(pool, a.n_tokens * groups, [&](int64_t task, int thread) {
    const int64_t t = task / groups;
    const int64_t h0 = (task % groups) * heads_per_group;
    const int64_t h1 = std::min(a.n_head, h0 + heads_per_group);
    const int64_t nh = h1 - h0;
    float* rows = scratch + size_t(thread) * per_thread;
    float* scores = rows + kChunk * cache.row_elems;  // nh x kChunk
    float* run_max = scores + a.n_head * kChunk;
    float* run_sum = run_max + a.n_head;
    float* q_act = run_sum + a.n_head;
    for (int64_t h = 0; h < nh; ++h)
      kernels::PrepareActivation(row_type, a.q + (t * a.n_head + h0 + h) * a.q_stride, q_act + h * q_floats, nk);
    float* o = a.o_lat + (t * a.n_head + h0) * nl;
    for (int64_t h = 0; h < nh; ++h) {
      run_max[h] = -std::numeric_limits<float>::infinity();
      run_sum[h] = 0;
      std::fill_n(o + h * nl, nl, 0.0f);
    }
    const int64_t n_vis = a.n_visible[t];
    for (int64_t c0 = 0; c0 < n_vis; c0 += kChunk) {
      const int64_t n = std::min(kChunk, n_vis - c0);
      const uint8_t* chunk;
      size_t row_bytes;
      if (in_place) {
        chunk = cache.data + size_t(c0) * cache.row_bytes;
        row_bytes = cache.row_bytes;
      } else {
        ReadLatentRows(cache, c0, n, rows);
        chunk = reinterpret_cast<const uint8_t*>(rows);
        row_bytes = size_t(cache.row_elems) * sizeof(float);
      }
      kernels::GemmRows(row_type, chunk, row_bytes, q_act, q_floats * sizeof(float), nh, nk, 0, n, scores,
                        kChunk);
      for (int64_t h = 0; h < nh; ++h) {
        float* s = scores + h * kChunk;
        // Online softmax: rescale what was accumulated under the old maximum (scale > 0, so
        // the largest scaled score is the largest score, scaled).
        const float m = std::max(run_max[h], kernels::MaxValue(s, n) * a.scale);
        const float rescale = std::exp(run_max[h] - m);
        if (rescale != 1.0f) Scale(o + h * nl, rescale, nl);
        run_sum[h] = run_sum[h] * rescale + kernels::ExpSum(s, n, a.scale, m);
        run_max[h] = m;
      }
      kernels::AccumulateRows(row_type, chunk, row_bytes, n, scores, kChunk, nh, o, nl, nl);
    }
    for (int64_t h = 0; h < nh; ++h) {
      if (run_sum[h] <= 0) continue;
      Scale(o + h * nl, 1.0f / run_sum[h], nl);
    }
  });
}

}  // namespace mla::ops
