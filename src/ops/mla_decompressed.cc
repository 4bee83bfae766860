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

// Activation row stride (in floats) for weights of `type` with rows of n elements.
size_t ActFloats(DType type, int64_t n) {
  return AlignUp((kernels::ActivationRowBytes(type, n) + sizeof(float) - 1) / sizeof(float));
}

// The arithmetic follows the cache: a bf16 cache rebuilds K/V in bf16 and runs every product in the
// BF16 kernels (VDPBF16PS with bf16 activations where the CPU has it, spec §3.9 allows bf16 where
// the cache already is); other caches in f32.
DType WorkType(const LatentView& cache) { return cache.type == DType::BF16 ? DType::BF16 : DType::F32; }
size_t ElemBytes(DType t) { return t == DType::BF16 ? 2 : 4; }

// Rows of n values of `type` (F32 or BF16) from f32.
void StoreRows(DType type, const float* x, int64_t n, void* dst) {
  if (type == DType::F32)
    std::copy_n(x, n, static_cast<float*>(dst));
  else
    kernels::ConvertToBF16(x, static_cast<uint16_t*>(dst), n);
}

struct Layout {
  size_t rows, act, kf, vf, k, v, qa, scores, kt, kt_f32, vt, run_max, run_sum, total;
};

Layout ScratchLayout(const LatentView& cache, int64_t d_n, int64_t d_v, int64_t max_tokens) {
  const DType wt = WorkType(cache);
  const int64_t r_kv = cache.n_latent, d_qk = d_n + cache.n_rope;
  Layout l;
  size_t at = 0;
  auto take = [&](size_t n) {
    const size_t here = at;
    at += AlignUp(n);
    return here;
  };
  l.rows = take(size_t(kChunk * cache.row_elems));
  l.act = take(size_t(kChunk) * ActFloats(wt, r_kv));
  l.kf = take(size_t(kChunk * d_qk));  // the rebuild's f32 results
  l.vf = take(size_t(kChunk * d_v));
  l.k = wt == DType::F32 ? l.kf : take(size_t(kChunk * d_qk));  // ... as the work type
  l.v = wt == DType::F32 ? l.vf : take(size_t(kChunk * d_v));
  l.qa = take(size_t(max_tokens) * ActFloats(wt, d_qk));
  l.scores = take(size_t(kChunk * max_tokens));
  l.kt = take(size_t(d_n * r_kv));
  l.kt_f32 = wt == DType::F32 ? l.kt : take(size_t(d_n * r_kv));  // W_UK transposed, before StoreRows
  l.vt = take(size_t(d_v * r_kv));
  l.run_max = take(size_t(max_tokens));
  l.run_sum = take(size_t(max_tokens));
  l.total = at + kAlignFloats;
  return l;
}

}  // namespace

size_t MlaDecompressedScratchFloats(const LatentView& cache, const Matrix& k_b, const Matrix& v_b,
                                    int64_t n_nope, int64_t n_v, int64_t max_tokens) {
  return ScratchLayout(cache, n_nope, n_v, max_tokens).total;
}

void MlaAttentionDecompressed(ThreadPool& pool, const LatentView& cache, const Matrix& k_b,
                              const Matrix& v_b, const MlaDecompressedArgs& a, float* scratch) {
  const int64_t r_kv = cache.n_latent, d_r = cache.n_rope, d_n = a.n_nope, d_v = a.n_v;
  const int64_t d_qk = d_n + d_r;
  const Layout lay = ScratchLayout(cache, d_n, d_v, a.n_tokens);
  const DType wt = WorkType(cache);
  const size_t eb = ElemBytes(wt);
  int64_t t_max = 0;
  for (int64_t t = 0; t < a.n_tokens; ++t) t_max = std::max(t_max, a.n_visible[t]);
  const size_t act_stride = ActFloats(wt, r_kv) * sizeof(float);
  const size_t qa_stride = ActFloats(wt, d_qk) * sizeof(float);
  const bool rows_are_act = wt == DType::BF16 && kernels::ActivationType(wt) == DType::BF16;

  ParallelFor(pool, a.n_head, [&](int64_t h, int thread) {
    float* base = scratch + size_t(thread) * lay.total;
    base += (kAlignFloats - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % kAlignFloats) %
            kAlignFloats;
    float* rows = base + lay.rows;
    uint8_t* act = reinterpret_cast<uint8_t*>(base + lay.act);
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
    // (d_v rows of r_kv), both in the work type: with an f32 work type the rebuilt K/V need no
    // activation rounding (the kernels pair quantized weights with 8-bit activations, which costs
    // accuracy when applied to every cached row rather than once to the attention output).
    float* kt_f32 = base + lay.kt_f32;
    for (int64_t c = 0; c < r_kv; ++c) {
      DequantizeMatrixRow(k_b, h * r_kv + c, rows);  // rows is free until the first chunk
      for (int64_t d = 0; d < d_n; ++d) kt_f32[d * r_kv + c] = rows[d];
    }
    if (wt != DType::F32) StoreRows(wt, kt_f32, d_n * r_kv, kt);
    for (int64_t j = 0; j < d_v; ++j) {
      DequantizeMatrixRow(v_b, h * d_v + j, rows);
      StoreRows(wt, rows, r_kv, vt + size_t(j * r_kv) * eb);
    }
    const size_t w_row = size_t(r_kv) * eb;
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
          kernels::PrepareActivation(wt, rows + i * cache.row_elems, act + size_t(i) * act_stride, r_kv);
          std::copy_n(rows + i * cache.row_elems + r_kv, d_r, kf + i * d_qk + d_n);
        }
      }
      kernels::GemmRows(wt, kt, w_row, lat, lat_stride, n, r_kv, 0, d_n, kf, d_qk);
      kernels::GemmRows(wt, vt, w_row, lat, lat_stride, n, r_kv, 0, d_v, vf, d_v);
      if (wt != DType::F32) {
        StoreRows(wt, kf, n * d_qk, K);
        StoreRows(wt, vf, n * d_v, V);
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

MlaCost EstimateMlaCost(int64_t H, int64_t r_kv, int64_t d_n, int64_t d_r, int64_t d_v,
                        int64_t n_tokens, const int64_t* n_visible) {
  double pairs = 0, chunk_pairs = 0, t_max = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    pairs += double(n_visible[t]);
    chunk_pairs += double((n_visible[t] + kChunk - 1) / kChunk * kChunk);
    t_max = std::max(t_max, double(n_visible[t]));
  }
  MlaCost c;
  // spec §3.7: absorbing q and up-projecting o_lat per token, then 2·r_kv + d_r per pair;
  // decompressed: rebuilding K_nope and V for every visible row, then d_qk + d_v for every
  // (token, row) pair of the chunks a token sees (scores are a GEMM over whole chunks, masked).
  c.absorbed = double(H) * (double(n_tokens) * r_kv * (d_n + d_v) + pairs * (2.0 * r_kv + d_r));
  c.decompressed =
      double(H) * (t_max * r_kv * (d_n + d_v) + chunk_pairs * double(d_n + d_r + d_v));
  return c;
}

}  // namespace mla::ops
