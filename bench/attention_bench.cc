// Latent attention micro-benchmark (run by hand): ops::MlaAttention for V2-Lite's shape (16 heads,
// kv_lora_rank 512, rope 64) over an f16 or bf16 cache of 512..8192 rows, one decode token, 1 and 2 threads; reports multiply-adds per second (scores + values).
//   ./build/release/bench/attention_bench --benchmark_filter=Decode
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "ops/mla_attention.h"

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
  cache.row_bytes = size_t(cache.row_elems) * 2;
  std::vector<uint8_t> rows(cache.row_bytes * size_t(n_ctx));
  auto* h = reinterpret_cast<uint16_t*>(rows.data());
  for (size_t i = 0; i < rows.size() / 2; ++i) h[i] = type == DType::F16 ? F32ToF16(nd(rng)) : F32ToBF16(nd(rng));
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

const bool kRegistered = [] {
  for (DType type : {DType::F16, DType::BF16})
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
