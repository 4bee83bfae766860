#include "ops/mla_decompressed.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "ops/parallel.h"
#include "ops/softmax.h"
#include "ops/vec.h"
#include "quant/quant.h"

namespace mla::ops {
namespace {

// Cache rows rebuilt per step. Fixed, so the online-softmax rounding does not depend on threads.
constexpr int64_t kChunk = 128;
constexpr size_t kAlignFloats = 16;

size_t AlignUp(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Floats that hold `bytes`.
size_t Floats(size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

// Activation row stride (in floats) for weights of `type` with rows of n elements.
size_t ActFloats(DType type, int64_t n) { return AlignUp(Floats(kernels::ActivationRowBytes(type, n))); }

// The scores and value sums follow the cache: a bf16 cache runs them in the BF16 kernels (VDPBF16PS
// with bf16 activations where the CPU has it, spec §3.9 allows bf16 where the cache already is);
// other caches in f32.
DType WorkType(const LatentView& cache) { return cache.type == DType::BF16 ? DType::BF16 : DType::F32; }

// The K/V rebuild (W_UK·C, W_UV·C) is a large part of the work at depth. It runs in the work type,
// except when the model's weights are a type whose matmuls pair them with 8-bit activations (Q4_0,
// Q8_0, the K-quants...): then the per-head W_UK^T / W_UV are requantized to Q8_0 and the cached rows
// are prepared as Q8_0 activations, as every other projection of such a model is computed. The
// integer kernels run at about four times the f32 rate. V takes the rows split in two 8-bit parts
// (kernels::PrepareActivationSplit): one rounding per cached row in V, unlike one per query in the
// absorbed form's W_UV·o, raised ds3-small Q8_0's KL from 7.7e-5 to 3.3e-4; rounding K's rows
// did not change it. It needs the interleaved layout (the row-major Q8_0 GEMM is slower than f32
// here), so whole groups of 16 rows of W_UK^T and W_UV.
DType RebuildType(const LatentView& cache, const Matrix& k_b, const Matrix& v_b, int64_t d_n, int64_t d_v) {
  const DType wt = WorkType(cache);
  auto eight_bit = [](DType w) {
    const DType a = kernels::ActivationType(w);
    return a == DType::Q8_0 || a == DType::Q8_K;
  };
  const int64_t g = kernels::kInterleaveRows;
  const bool integer = wt == DType::F32 && cache.n_latent % 32 == 0 && d_n % g == 0 && d_v % g == 0 &&
                       eight_bit(k_b.type) && eight_bit(v_b.type) && kernels::CanInterleave(DType::Q8_0);
  return integer ? DType::Q8_0 : wt;
}

// Rows of n values of `type` (F32, BF16 or Q8_0) from f32.
void StoreRows(DType type, const float* x, int64_t n_rows, int64_t n, uint8_t* dst) {
  if (type == DType::F32)
    std::copy_n(x, n_rows * n, reinterpret_cast<float*>(dst));
  else if (type == DType::BF16)
    kernels::ConvertToBF16(x, reinterpret_cast<uint16_t*>(dst), n_rows * n);
  else
    kernels::QuantizeQ8_0(x, dst, n_rows * n);  // n % 32 == 0 (RebuildType), so rows end on blocks
}

struct Layout {
  size_t rows, act, act_lo, residual, kf, vf, vf_lo, k, v, qa, scores, kt, vt, wf, wq, run_max, run_sum, total;
};

Layout ScratchLayout(const LatentView& cache, DType rt, int64_t d_n, int64_t d_v, int64_t max_tokens) {
  const DType wt = WorkType(cache);
  const int64_t r_kv = cache.n_latent, d_qk = d_n + cache.n_rope;
  const size_t w_row = RowBytes(rt, r_kv);
  Layout l;
  size_t at = 0;
  auto take = [&](size_t n) {
    const size_t here = at;
    at += AlignUp(n);
    return here;
  };
  l.rows = take(size_t(kChunk * cache.row_elems));
  l.act = take(size_t(kChunk) * ActFloats(rt, r_kv));
  const bool split = rt == DType::Q8_0;
  l.act_lo = split ? take(size_t(kChunk) * ActFloats(rt, r_kv)) : 0;
  l.residual = split ? take(size_t(r_kv)) : 0;
  l.kf = take(size_t(kChunk * d_qk));  // the rebuild's f32 results
  l.vf = take(size_t(kChunk * d_v));
  l.vf_lo = split ? take(size_t(kChunk * d_v)) : 0;
  l.k = wt == DType::F32 ? l.kf : take(size_t(kChunk * d_qk));  // ... as the work type
  l.v = wt == DType::F32 ? l.vf : take(size_t(kChunk * d_v));
  l.qa = take(size_t(max_tokens) * ActFloats(wt, d_qk));
  l.scores = take(size_t(kChunk * max_tokens));
  l.kt = take(Floats(size_t(d_n) * w_row));
  l.vt = take(Floats(size_t(d_v) * w_row));
  l.wf = take(size_t(std::max(d_n, d_v) * r_kv));  // one head's W_UK^T or W_UV in f32
  l.wq = rt == DType::Q8_0 ? take(Floats(size_t(std::max(d_n, d_v)) * w_row)) : 0;
  l.run_max = take(size_t(max_tokens));
  l.run_sum = take(size_t(max_tokens));
  l.total = at + kAlignFloats;
  return l;
}

}  // namespace

size_t MlaDecompressedScratchFloats(const LatentView& cache, const Matrix& k_b, const Matrix& v_b,
                                    int64_t n_nope, int64_t n_v, int64_t max_tokens) {
  return ScratchLayout(cache, RebuildType(cache, k_b, v_b, n_nope, n_v), n_nope, n_v, max_tokens).total;
}

void MlaAttentionDecompressed(ThreadPool& pool, const LatentView& cache, const Matrix& k_b,
                              const Matrix& v_b, const MlaDecompressedArgs& a, float* scratch) {
  const int64_t r_kv = cache.n_latent, d_r = cache.n_rope, d_n = a.n_nope, d_v = a.n_v;
  const int64_t d_qk = d_n + d_r;
  const DType wt = WorkType(cache), rt = RebuildType(cache, k_b, v_b, d_n, d_v);
  const Layout lay = ScratchLayout(cache, rt, d_n, d_v, a.n_tokens);
  const size_t eb = wt == DType::BF16 ? 2 : 4;
  int64_t t_max = 0;
  for (int64_t t = 0; t < a.n_tokens; ++t) t_max = std::max(t_max, a.n_visible[t]);
  const size_t act_stride = ActFloats(rt, r_kv) * sizeof(float);
  const size_t qa_stride = ActFloats(wt, d_qk) * sizeof(float);
  const bool interleaved = rt == DType::Q8_0;  // RebuildType: Q8_0 only interleaved
  const bool rows_are_act = rt == DType::BF16 && kernels::ActivationType(rt) == DType::BF16;

  ParallelFor(pool, a.n_head, [&](int64_t h, int thread) {
    float* base = scratch + size_t(thread) * lay.total;
    base += (kAlignFloats - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % kAlignFloats) %
            kAlignFloats;
    float* rows = base + lay.rows;
    uint8_t* act = reinterpret_cast<uint8_t*>(base + lay.act);
    uint8_t* act_lo = reinterpret_cast<uint8_t*>(base + lay.act_lo);
    float* kf = base + lay.kf;
    float* vf = base + lay.vf;
    uint8_t* K = reinterpret_cast<uint8_t*>(base + lay.k);
    uint8_t* V = reinterpret_cast<uint8_t*>(base + lay.v);
    uint8_t* qa = reinterpret_cast<uint8_t*>(base + lay.qa);
    float* scores = base + lay.scores;
    uint8_t* kt = reinterpret_cast<uint8_t*>(base + lay.kt);
    uint8_t* vt = reinterpret_cast<uint8_t*>(base + lay.vt);
    float* run_max = base + lay.run_max;
    float* run_sum = base + lay.run_sum;

    // This head's W_UK as d_n rows of r_kv (k_b stores it transposed: r_kv rows of d_n) and W_UV
    // (d_v rows of r_kv), both in the rebuild type. With an f32 rebuild the K/V need no activation
    // rounding (the integer kernels pair weights with 8-bit activations, which then applies to
    // every cached row); weights that are 8-bit-paired anyway take the integer rebuild.
    const size_t w_row = RowBytes(rt, r_kv);
    float* wf = base + lay.wf;
    auto store_weights = [&](int64_t n_rows, uint8_t* dst) {
      if (!interleaved) return StoreRows(rt, wf, n_rows, r_kv, dst);
      uint8_t* wq = reinterpret_cast<uint8_t*>(base + lay.wq);
      StoreRows(rt, wf, n_rows, r_kv, wq);
      kernels::InterleaveRows(rt, wq, dst, n_rows, w_row);
    };
    // W_UK^T's rows a group at a time (`rows` is free until the first chunk), written to W_UK's
    // columns in runs of a group's length.
    constexpr int64_t kGroup = 16;
    for (int64_t c0 = 0; c0 < r_kv; c0 += kGroup) {
      const int64_t g = std::min(kGroup, r_kv - c0);
      for (int64_t c = 0; c < g; ++c) DequantizeMatrixRow(k_b, h * r_kv + c0 + c, rows + c * d_n);
      for (int64_t d = 0; d < d_n; ++d)
        for (int64_t c = 0; c < g; ++c) wf[d * r_kv + c0 + c] = rows[c * d_n + d];
    }
    store_weights(d_n, kt);
    for (int64_t j = 0; j < d_v; ++j) DequantizeMatrixRow(v_b, h * d_v + j, wf + j * r_kv);
    store_weights(d_v, vt);
    auto rebuild = [&](const uint8_t* w, const uint8_t* lat, size_t lat_stride, int64_t n, int64_t n_rows,
                       float* y, int64_t ldy) {
      if (interleaved)
        kernels::GemmRowsInterleaved(rt, w, w_row, lat, lat_stride, n, r_kv, 0, n_rows, y, ldy);
      else
        kernels::GemmRows(rt, w, w_row, lat, lat_stride, n, r_kv, 0, n_rows, y, ldy);
    };
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      kernels::PrepareActivation(wt, a.q + t * a.q_stride + h * d_qk, qa + size_t(t) * qa_stride, d_qk);
      run_max[t] = -std::numeric_limits<float>::infinity();
      run_sum[t] = 0;
      std::fill_n(a.o + (t * a.n_head + h) * d_v, d_v, 0.0f);
    }
    for (int64_t c0 = 0; c0 < t_max; c0 += kChunk) {
      const int64_t n = std::min(kChunk, t_max - c0);
      // Rebuild this chunk's keys and values: K = [W_UK·C | K_pe], V = W_UV·C. Latent rows that
      // already are the activation format (a bf16 cache, bf16 activations) are read in place.
      const uint8_t* lat = act;
      size_t lat_stride = act_stride;
      if (rows_are_act) {
        lat = cache.data + size_t(c0) * cache.row_bytes;
        lat_stride = cache.row_bytes;
        for (int64_t i = 0; i < n; ++i)
          quant::DequantizeRow(cache.type, lat + size_t(i) * lat_stride + size_t(r_kv) * eb, kf + i * d_qk + d_n, d_r);
      } else {
        ReadLatentRows(cache, c0, n, rows);
        for (int64_t i = 0; i < n; ++i) {
          const float* c = rows + i * cache.row_elems;
          if (rt == DType::Q8_0)
            kernels::PrepareActivationSplit(rt, c, act + size_t(i) * act_stride, act_lo + size_t(i) * act_stride,
                                            base + lay.residual, r_kv);
          else
            kernels::PrepareActivation(rt, c, act + size_t(i) * act_stride, r_kv);
          std::copy_n(c + r_kv, d_r, kf + i * d_qk + d_n);
        }
      }
      rebuild(kt, lat, lat_stride, n, d_n, kf, d_qk);
      rebuild(vt, lat, lat_stride, n, d_v, vf, d_v);
      if (rt == DType::Q8_0) {
        float* vf_lo = base + lay.vf_lo;
        rebuild(vt, act_lo, act_stride, n, d_v, vf_lo, d_v);
        for (int64_t i = 0; i < n * d_v; ++i) vf[i] += vf_lo[i];
      }
      if (wt != DType::F32) {
        StoreRows(wt, kf, n, d_qk, K);
        StoreRows(wt, vf, n, d_v, V);
      }

      // Scores of the tokens from the first that sees this chunk (a prompt's tokens see ever more
      // rows, so the ones before it skip the chunk: the causal triangle is not computed) against
      // the chunk's keys (one small GEMM), the causal mask and the online softmax per token, then
      // the values weighted by the probabilities (masked rows weigh exactly 0).
      int64_t t_lo = 0;
      while (t_lo < a.n_tokens && a.n_visible[t_lo] <= c0) ++t_lo;
      const int64_t n_t = a.n_tokens - t_lo;
      kernels::GemmRows(wt, K, size_t(d_qk) * eb, qa + size_t(t_lo) * qa_stride, qa_stride, n_t, d_qk, 0, n,
                        scores + t_lo * kChunk, kChunk);
      for (int64_t t = t_lo; t < a.n_tokens; ++t) {
        float* s = scores + t * kChunk;
        const int64_t m_rows = std::max<int64_t>(0, std::min(n, a.n_visible[t] - c0));
        if (m_rows > 0)
          OnlineSoftmaxChunk(s, m_rows, a.scale, &run_max[t], &run_sum[t], a.o + (t * a.n_head + h) * d_v, d_v);
        std::fill(s + m_rows, s + n, 0.0f);
      }
      kernels::AccumulateRows(wt, V, size_t(d_v) * eb, n, scores + t_lo * kChunk, kChunk, n_t,
                              a.o + (t_lo * a.n_head + h) * d_v, a.n_head * d_v, d_v);
    }
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      if (run_sum[t] <= 0) continue;
      Scale(a.o + (t * a.n_head + h) * d_v, 1.0f / run_sum[t], d_v);
    }
  });
}

// attention_bench Choice/* (f16 cache at depth 8192, V2-Lite heads, 2 threads): the absorbed form
// runs at ≈ 85 G multiply-adds/s, the integer rebuild at ≈ 131 G, which crosses over near 120
// tokens per batch (the f32 rate, 1, put it near 180).
constexpr double kIntegerRebuildCost = 0.65;

double MlaRebuildCost(const LatentView& cache, const Matrix& k_b, const Matrix& v_b, int64_t n_nope,
                      int64_t n_v) {
  return RebuildType(cache, k_b, v_b, n_nope, n_v) == DType::Q8_0 ? kIntegerRebuildCost : 1.0;
}

MlaCost EstimateMlaCost(int64_t H, int64_t r_kv, int64_t d_n, int64_t d_r, int64_t d_v,
                        int64_t n_tokens, const int64_t* n_visible, double rebuild_cost) {
  double pairs = 0, chunk_pairs = 0, t_max = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    pairs += double(n_visible[t]);
    chunk_pairs += double((n_visible[t] + kChunk - 1) / kChunk * kChunk);
    t_max = std::max(t_max, double(n_visible[t]));
  }
  MlaCost c;
  // spec §3.7: absorbing q and up-projecting o_lat per token, then 2·r_kv + d_r per pair;
  // decompressed: staging each head's W_UK / W_UV once per batch, rebuilding K_nope and V for every
  // visible row, then d_qk + d_v for every (token, row) pair of the chunks a token sees (scores
  // are a GEMM over whole chunks, masked).
  c.absorbed = double(H) * (double(n_tokens) * r_kv * (d_n + d_v) + pairs * (2.0 * r_kv + d_r));
  c.decompressed = double(H) * (double(r_kv) * (d_n + d_v) * kMlaStageCost +
                                t_max * r_kv * (d_n + d_v) * rebuild_cost + chunk_pairs * double(d_n + d_r + d_v));
  return c;
}

}  // namespace mla::ops
