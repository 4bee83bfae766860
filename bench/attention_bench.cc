// Latent attention micro-benchmark (run by hand): ops::MlaAttention for V2-Lite's shape (16 heads,
// kv_lora_rank 512, rope 64) over an f16, bf16 or f32 cache of 512..8192 rows, one decode token (1 and 2 threads) and the
// decompressed form for a 512-token batch at depth (2 threads), and both forms for 32..256-token
// batches at depth 8192 (`Choice/*`: where the cost model switches); reports multiply-adds per second.
//   ./build/release/bench/attention_bench --benchmark_filter=Decode
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "ops/mla_attention.h"
#include "ops/mla_decompressed.h"
#include "quant/quant.h"

namespace mla::ops {
namespace {

constexpr int64_t kLatent = 512, kRope = 64, kHead = 16;

void BM_Attention(benchmark::State& state, DType type, int64_t n_ctx, int64_t n_tokens, int threads) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  LatentView cache;
  cache.type = type;
  cache.n_latent = kLatent;
  cache.n_rope = kRope;
  cache.row_elems = kLatent + kRope;
  cache.row_bytes = RowBytes(type, cache.row_elems);
  std::vector<uint8_t> rows(cache.row_bytes * size_t(n_ctx));
  std::vector<float> row(static_cast<size_t>(cache.row_elems));
  for (int64_t r = 0; r < n_ctx; ++r) {
    for (float& v : row) v = nd(rng);
    quant::QuantizeRow(type, row.data(), rows.data() + size_t(r) * cache.row_bytes, cache.row_elems);
  }
  cache.data = rows.data();
  std::vector<float> q(size_t(n_tokens * kHead * cache.row_elems));
  for (float& v : q) v = nd(rng) * 0.05f;
  std::vector<int64_t> vis(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) vis[size_t(t)] = n_ctx - n_tokens + t + 1;
  std::vector<float> o(size_t(n_tokens * kHead * kLatent));
  ThreadPool pool(threads);
  std::vector<float> scratch(MlaAttentionScratchFloats(cache, kHead) * size_t(threads));
  MlaAttentionArgs a;
  a.n_tokens = n_tokens;
  a.n_head = kHead;
  a.q = q.data();
  a.q_stride = cache.row_elems;
  a.n_visible = vis.data();
  a.scale = 0.1f;
  a.o_lat = o.data();
  double macs = 0;
  for (int64_t t = 0; t < n_tokens; ++t) macs += double(vis[size_t(t)]) * kHead * (2 * kLatent + kRope);
  for (auto _ : state) {
    MlaAttention(pool, cache, a, scratch.data());
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The decompressed form for a batch of n_tokens tokens on top of n_ctx - n_tokens cached rows
// (prefill at depth), W_UK / W_UV in Q4_0 as in the synthetic V2-Lite files.
void BM_Prefill(benchmark::State& state, DType type, int64_t n_ctx, int64_t n_tokens, int threads) {
  constexpr int64_t kNope = 128, kV = 128;
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.f, 1.f);
  LatentView cache{type, nullptr, size_t(kLatent + kRope) * 2, kLatent, kRope, kLatent + kRope};
  std::vector<uint8_t> rows(cache.row_bytes * size_t(n_ctx));
  auto* h = reinterpret_cast<uint16_t*>(rows.data());
  for (size_t i = 0; i < rows.size() / 2; ++i) h[i] = type == DType::F16 ? F32ToF16(nd(rng)) : F32ToBF16(nd(rng));
  cache.data = rows.data();
  auto quantized = [&](int64_t n_rows, int64_t n_in, std::vector<uint8_t>& buf) {
    const size_t rb = RowBytes(DType::Q4_0, n_in);
    buf.resize(rb * size_t(n_rows));
    std::vector<float> x(static_cast<size_t>(n_in));
    for (int64_t r = 0; r < n_rows; ++r) {
      for (float& v : x) v = nd(rng) * 0.05f;
      quant::QuantizeRow(DType::Q4_0, x.data(), buf.data() + size_t(r) * rb, n_in);
    }
    return Matrix{DType::Q4_0, buf.data(), n_in, n_rows, rb};
  };
  std::vector<uint8_t> kb_buf, vb_buf;
  const Matrix k_b = quantized(kHead * kLatent, kNope, kb_buf), v_b = quantized(kHead * kV, kLatent, vb_buf);
  std::vector<float> q(size_t(n_tokens * kHead * (kNope + kRope)));
  for (float& v : q) v = nd(rng) * 0.05f;
  std::vector<int64_t> vis(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) vis[size_t(t)] = n_ctx - n_tokens + t + 1;
  std::vector<float> o(size_t(n_tokens * kHead * kV));
  ThreadPool pool(threads);
  std::vector<float> scratch(MlaDecompressedScratchFloats(cache, k_b, v_b, kNope, kV, n_tokens) * size_t(threads));
  MlaDecompressedArgs a;
  a.n_tokens = n_tokens;
  a.n_head = kHead;
  a.n_nope = kNope;
  a.n_v = kV;
  a.q = q.data();
  a.q_stride = kHead * (kNope + kRope);
  a.n_visible = vis.data();
  a.scale = 0.1f;
  a.o = o.data();
  const MlaCost cost = EstimateMlaCost(kHead, kLatent, kNope, kRope, kV, n_tokens, vis.data());
  for (auto _ : state) {
    MlaAttentionDecompressed(pool, cache, k_b, v_b, a, scratch.data());
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["GMAC/s"] =
      benchmark::Counter(cost.decompressed * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  for (DType type : {DType::F16, DType::BF16})
    for (int64_t ctx : {512, 8704})
      benchmark::RegisterBenchmark(
          ("Prefill/" + std::string(Name(type)) + "/t2/ctx" + std::to_string(ctx)).c_str(),
          [=](benchmark::State& s) { BM_Prefill(s, type, ctx, 512, 2); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  // One token on one cached row: the decompressed form's fixed cost per batch (staging each head's
  // W_UK^T / W_UV), which EstimateMlaCost charges.
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark(("Prefill/f16/t" + std::to_string(threads) + "/ctx1/m1").c_str(),
                                 [=](benchmark::State& s) { BM_Prefill(s, DType::F16, 1, 1, threads); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  // Both forms for mid-sized batches at depth 8192 (f16 cache, 2 threads), where the cost model
  // (EstimateMlaCost) chooses between them: compare the times of a pair.
  for (int64_t m : {32, 64, 128, 256}) {
    benchmark::RegisterBenchmark(("Choice/absorbed/m" + std::to_string(m)).c_str(),
                                 [=](benchmark::State& s) { BM_Attention(s, DType::F16, 8192 + m, m, 2); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("Choice/decompressed/m" + std::to_string(m)).c_str(),
                                 [=](benchmark::State& s) { BM_Prefill(s, DType::F16, 8192 + m, m, 2); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (DType type : {DType::F16, DType::BF16, DType::F32})
    for (int threads : {1, 2})
      for (int64_t ctx : {512, 2048, 8192}) {
        benchmark::RegisterBenchmark(("Decode/" + std::string(Name(type)) + "/t" + std::to_string(threads) +
                                      "/ctx" + std::to_string(ctx))
                                         .c_str(),
                                     [=](benchmark::State& s) { BM_Attention(s, type, ctx, 1, threads); })
            ->UseRealTime();
      }
  return true;
}();

}  // namespace
}  // namespace mla::ops
