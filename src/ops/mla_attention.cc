#include "ops/mla_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "kernels/kernels.h"
#include "ops/parallel.h"
#include "ops/softmax.h"
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
    else if (cache.type == DType::F16)
      kernels::ConvertF16ToF32(reinterpret_cast<const uint16_t*>(src), dst, cache.row_elems);
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

// A token's visible rows are cut into ranges of whole chunks that depend only on how many rows it
// sees: one range per chunk up to kMaxRanges, then kMaxRanges ranges of about equal size (so a
// short context is split too; merging a range costs n_head·n_latent multiply-adds against a chunk's
// kChunk·n_head·(2·n_latent + n_rope)). Each range is an online softmax of its own (o, max, sum);
// the ranges are then merged in order. Decode steps give ranges to different threads, so each
// thread reads only its share of the cache for all heads; batches give whole tokens to threads and
// merge as they go — the same arithmetic, so the result never depends on the thread count or on
// the batch.
constexpr int64_t kMaxRanges = 8;

int64_t RangeCount(int64_t n_visible) {
  const int64_t chunks = (n_visible + kChunk - 1) / kChunk;
  return std::clamp<int64_t>(chunks, 1, kMaxRanges);
}

// Rows [first, last) of range g of n.
std::pair<int64_t, int64_t> RangeRows(int64_t n_visible, int64_t g, int64_t n) {
  const int64_t chunks = (n_visible + kChunk - 1) / kChunk;
  return {g * chunks / n * kChunk, std::min(n_visible, (g + 1) * chunks / n * kChunk)};
}

// The running state of every head: o (n_head × n_latent, not yet divided by the sums), then the
// n_head maxima, then the n_head sums.
struct Partial {
  float* o;
  float* max;
  float* sum;
};

Partial PartialAt(float* base, int64_t n_head, int64_t nl) {
  return {base, base + n_head * nl, base + n_head * nl + n_head};
}
size_t PartialFloats(int64_t n_head, int64_t nl) { return size_t(n_head * (nl + 2)); }

// into = into ⊕ from for heads [0, nh): both rescaled to the larger maximum.
void Merge(Partial into, Partial from, int64_t nh, int64_t nl) {
  for (int64_t h = 0; h < nh; ++h) {
    const float m = std::max(into.max[h], from.max[h]);
    const float a = std::exp(into.max[h] - m), b = std::exp(from.max[h] - m);
    float* o = into.o + h * nl;
    const float* f = from.o + h * nl;
    for (int64_t j = 0; j < nl; ++j) o[j] = o[j] * a + f[j] * b;
    into.sum[h] = into.sum[h] * a + from.sum[h] * b;
    into.max[h] = m;
  }
}

struct Layout {
  size_t rows, scores, q, temp, partials, total;
};

Layout ScratchLayout(const LatentView& cache, int64_t n_head) {
  Layout l;
  size_t at = 0;
  auto take = [&](size_t n) {
    const size_t here = at;
    at += (n + 15) / 16 * 16;
    return here;
  };
  l.rows = take(size_t(kChunk * cache.row_elems));  // rows converted to f32 (other cache types)
  l.scores = take(size_t(n_head * kChunk));
  l.q = take(size_t(n_head) * QueryFloats(cache));
  l.temp = take(PartialFloats(n_head, cache.n_latent));  // a range's state before merging
  l.partials = take(size_t(kMaxRanges) * PartialFloats(n_head, cache.n_latent));  // decode's ranges
  l.total = at;
  return l;
}

}  // namespace

size_t MlaAttentionScratchFloats(const LatentView& cache, int64_t n_head) {
  return ScratchLayout(cache, n_head).total;
}

// Per token and head (spec §3.5 absorbed form): scores of q = [q_abs | q_pe] against whole cache
// rows, online softmax over chunks, o_lat = Σ p·c_KV. Scores are a small GEMM (cache rows as the
// matrix, the heads' queries as its inputs) and the value sum is kernels::AccumulateRows, both
// reading f32 / f16 / bf16 rows in place (bf16 with VDPBF16PS where the CPU has it); other cache
// types are converted to f32 a chunk at a time.
void MlaAttention(ThreadPool& pool, const LatentView& cache, const MlaAttentionArgs& a,
                  float* scratch) {
  const int64_t nk = cache.n_latent + cache.n_rope;  // score dot length
  const int64_t nl = cache.n_latent, H = a.n_head;
  const Layout lay = ScratchLayout(cache, H);
  const DType row_type = RowType(cache);
  const bool in_place = row_type == cache.type;
  const size_t q_floats = QueryFloats(cache);
  const size_t part_floats = PartialFloats(H, nl);

  // Token t's queries in the score kernel's activation format, into scratch slot `slot`.
  auto prepare_queries = [&](int64_t t, int64_t slot) {
    float* q_act = scratch + size_t(slot) * lay.total + lay.q;
    for (int64_t h = 0; h < H; ++h)
      kernels::PrepareActivation(row_type, a.q + (t * H + h) * a.q_stride, q_act + h * q_floats, nk);
    return static_cast<const float*>(q_act);
  };
  // Rows [r0, r1) for every head of one token (its prepared queries q_act) into `out`, from an
  // empty state.
  auto attend = [&](const float* q_act, int64_t r0, int64_t r1, Partial out, int thread) {
    float* base = scratch + size_t(thread) * lay.total;
    float* rows = base + lay.rows;
    float* scores = base + lay.scores;
    for (int64_t h = 0; h < H; ++h) {
      out.max[h] = -std::numeric_limits<float>::infinity();
      out.sum[h] = 0;
    }
    std::fill_n(out.o, H * nl, 0.0f);
    for (int64_t c0 = r0; c0 < r1; c0 += kChunk) {
      const int64_t n = std::min(kChunk, r1 - c0);
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
      kernels::GemmRows(row_type, chunk, row_bytes, q_act, q_floats * sizeof(float), H, nk, 0, n, scores, kChunk);
      for (int64_t h = 0; h < H; ++h)
        OnlineSoftmaxChunk(scores + h * kChunk, n, a.scale, &out.max[h], &out.sum[h], out.o + h * nl, nl);
      kernels::AccumulateRows(row_type, chunk, row_bytes, n, scores, kChunk, H, out.o, nl, nl);
    }
  };
  auto finish = [&](int64_t t, Partial r) {
    float* o = a.o_lat + t * H * nl;
    for (int64_t h = 0; h < H; ++h)
      if (r.sum[h] > 0) Scale(r.o + h * nl, 1.0f / r.sum[h], nl);
    if (r.o != o) std::memcpy(o, r.o, size_t(H * nl) * sizeof(float));
  };

  constexpr int64_t kMaxSplitTokens = 64;
  if (a.n_tokens >= pool.size() || a.n_tokens > kMaxSplitTokens) {
    // Whole tokens per thread: the first range straight into the output, each next one merged.
    ParallelFor(pool, a.n_tokens, [&](int64_t t, int thread) {
      float* base = scratch + size_t(thread) * lay.total;
      // The output row holds o; max and sum live in the partial store (unused on this path).
      Partial r{a.o_lat + t * H * nl, base + lay.partials, base + lay.partials + H};
      Partial tmp = PartialAt(base + lay.temp, H, nl);
      const int64_t n_vis = a.n_visible[t], G = RangeCount(n_vis);
      const float* q_act = prepare_queries(t, thread);
      for (int64_t g = 0; g < G; ++g) {
        const auto [r0, r1] = RangeRows(n_vis, g, G);
        attend(q_act, r0, r1, g == 0 ? r : tmp, thread);
        if (g > 0) Merge(r, tmp, H, nl);
      }
      finish(t, r);
    });
    return;
  }
  // Decode: every (token, range) is a task; token t keeps its queries (prepared once, here) and
  // its ranges' states in scratch slot t (t < pool.size()), merged in range order after the join.
  int64_t first[kMaxSplitTokens + 1];
  int64_t n_tasks = 0;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    first[t] = n_tasks;
    n_tasks += RangeCount(a.n_visible[t]);
    prepare_queries(t, t);
  }
  first[a.n_tokens] = n_tasks;
  ParallelFor(pool, n_tasks, [&](int64_t task, int thread) {
    int64_t t = 0;
    while (first[t + 1] <= task) ++t;
    const int64_t g = task - first[t], G = first[t + 1] - first[t];
    const auto [r0, r1] = RangeRows(a.n_visible[t], g, G);
    float* slot = scratch + size_t(t) * lay.total;
    attend(slot + lay.q, r0, r1, PartialAt(slot + lay.partials + size_t(g) * part_floats, H, nl), thread);
  });
  ParallelFor(pool, a.n_tokens, [&](int64_t t, int) {
    float* store = scratch + size_t(t) * lay.total + lay.partials;
    Partial r = PartialAt(store, H, nl);
    for (int64_t g = 1; g < first[t + 1] - first[t]; ++g) Merge(r, PartialAt(store + size_t(g) * part_floats, H, nl), H, nl);
    finish(t, r);
  });
}

}  // namespace mla::ops
