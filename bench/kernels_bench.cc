// Kernel micro-benchmarks (run by hand): GemvRows per weight type and ISA column on 2048x2048,
// 1408x2048, (cache-resident) 256x2048 and (DRAM-bound) 96 MiB matrices (rows x n_in), reporting
// GB/s of weights read;
// GemmRows with 64 tokens (in one call, and in 16-row calls as ops/matmul.cc makes them) and with
// 4 tokens (one expert's share of a MoE batch), the row-interleaved kernels with 64 and 48 tokens
// (64-row calls), reporting GMAC/s; activation quantization.
// Single thread; weights in huge pages (HugeBuffer, as the engine keeps them); activations
// prepared once outside the timed loop.
//   ./build/<dir>/bench/kernels_bench --benchmark_filter=Gemv/q4_K
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "base/cpu.h"
#include "base/huge_buffer.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

namespace mla::kernels {
namespace {

struct Column {
  const char* name;
  KernelTable table;
};

std::vector<Column> Columns() {
  const CpuFeatures real = DetectCpu();
  std::vector<Column> v;
  v.push_back({"scalar", BuildTable(CpuFeatures{})});
  if (real.avx2) {
    CpuFeatures f{};
    f.avx2 = true;
    v.push_back({"avx2", BuildTable(f)});
  }
  if (real.avx512 && real.avx512_vnni) v.push_back({"avx512", BuildTable(real)});
  return v;
}

// rows x n weights of `type`: 16 distinct quantized rows repeated (the speed does not depend on
// the values, and quantizing 4M elements with the K-quant searches would take long).
std::vector<uint8_t> Weights(DType type, int64_t rows, int64_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.05f);
  const size_t rb = RowBytes(type, n);
  std::vector<uint8_t> distinct(rb * 16), w(rb * size_t(rows));
  std::vector<float> x(static_cast<size_t>(n));
  for (int r = 0; r < 16; ++r) {
    for (float& v : x) v = nd(rng);
    quant::QuantizeRow(type, x.data(), &distinct[size_t(r) * rb], n);
  }
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(&distinct[size_t(r % 16) * rb], rb, &w[size_t(r) * rb]);
  return w;
}

std::vector<uint8_t> Acts(DType act, DType weight, int64_t n_tokens, int64_t n, size_t* stride) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.f, 1.f);
  *stride = (ActivationRowBytesAs(act, n) + 63) / 64 * 64;
  std::vector<uint8_t> a(*stride * size_t(n_tokens));
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (float& v : x) v = nd(rng);
    PrepareActivationAs(act, weight, x.data(), &a[size_t(t) * *stride], n);
  }
  return a;
}

// chunk: rows per kernel call (0: all rows in one call; ops/matmul.cc calls 16 at a time).
// interleaved: the rows repacked into 16-row groups and the table's interleaved kernel.
void RunGemm(benchmark::State& state, TypeKernels k, DType type, int64_t rows, int64_t n,
             int64_t n_tokens, int64_t chunk = 0, bool interleaved = false) {
  const std::vector<uint8_t> raw = Weights(type, rows, n);
  // The weights in huge pages, as the engine keeps its repacked matrices: in 4 KiB pages the
  // DRAM-sized cases measure TLB misses (15-21 GB/s on one thread, against the ~30 GB/s one core
  // streams from huge pages here).
  auto buffer = HugeBuffer::Allocate(raw.size());
  if (!buffer.ok()) {
    state.SkipWithError(buffer.status().message().c_str());
    return;
  }
  const uint8_t* w = buffer->data();
  if (interleaved) {
    InterleaveRows(type, raw.data(), buffer->data(), rows, RowBytes(type, n));
    k.gemm = k.gemm_interleaved;
    k.name = k.name_interleaved;
  } else {
    std::copy(raw.begin(), raw.end(), buffer->data());
  }
  size_t stride = 0;
  const std::vector<uint8_t> a = Acts(k.act, type, n_tokens, n, &stride);
  std::vector<float> y(size_t(rows * n_tokens));
  const int64_t step = chunk > 0 ? chunk : rows;
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; r += step)
      k.gemm(w, RowBytes(type, n), a.data(), stride, n_tokens, n, r, std::min(rows, r + step),
             y.data() + r, rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double iters = double(state.iterations());
  if (n_tokens == 1) {
    state.counters["GB/s"] = benchmark::Counter(iters * double(raw.size()) / 1e9, benchmark::Counter::kIsRate);
  } else {
    state.counters["GMAC/s"] = benchmark::Counter(iters * double(rows * n * n_tokens) / 1e9,
                                                  benchmark::Counter::kIsRate);
  }
  state.SetLabel(k.name);
}

void PrepareBench(benchmark::State& state, DType act, DType weight, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  std::vector<uint8_t> a(ActivationRowBytesAs(act, n));
  for (auto _ : state) {
    PrepareActivationAs(act, weight, x.data(), a.data(), n);
    benchmark::DoNotOptimize(a.data());
  }
  state.counters["elem/s"] = benchmark::Counter(double(state.iterations() * n), benchmark::Counter::kIsRate);
}

// Registers "<test>/<type>/<isa>/<shape>" running RunGemm with these arguments.
void RegisterGemm(const std::string& test, const Column& c, DType t, const std::string& shape,
                  int64_t rows, int64_t n_tokens, int64_t chunk, bool interleaved, benchmark::TimeUnit unit) {
  const TypeKernels k = c.table.For(t);
  benchmark::RegisterBenchmark((test + "/" + Name(t) + "/" + c.name + "/" + shape).c_str(),
                               [=](benchmark::State& s) { RunGemm(s, k, t, rows, 2048, n_tokens, chunk, interleaved); })
      ->Unit(unit);
}

const bool kRegistered = [] {
  const DType types[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                         DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS,
                         DType::Q2_K, DType::Q3_K, DType::BF16, DType::F16, DType::F32};
  constexpr auto us = benchmark::kMicrosecond, ms = benchmark::kMillisecond;
  for (const Column& c : Columns()) {
    for (DType t : types) {
      for (int64_t rows : {2048, 1408, 256})
        RegisterGemm("Gemv", c, t, std::to_string(rows) + "x2048", rows, 1, 0, false, us);
      // Weights far larger than the caches (96 MiB): what decode sees on a big model.
      const int64_t cold_rows = (int64_t(96) << 20) / int64_t(RowBytes(t, 2048));
      RegisterGemm("Gemv", c, t, "96MiB", cold_rows, 1, 0, false, ms);
      RegisterGemm("Gemm64", c, t, "2048x2048", 2048, 64, 0, false, ms);
      // As ops/matmul.cc calls it: 16 rows per call.
      RegisterGemm("Gemm64", c, t, "2048x2048/rows16", 2048, 64, 16, false, ms);
      if (c.table.For(t).gemm_interleaved) {  // the layout CanInterleave types get at load
        RegisterGemm("Gemm64", c, t, "2048x2048/r16", 2048, 64, 64, true, ms);
        // Decode: one token, 64-row calls, L2-, L3- and DRAM-resident.
        RegisterGemm("Gemv", c, t, "256x2048/r16", 256, 1, 64, true, us);
        RegisterGemm("Gemv", c, t, "1408x2048/r16", 1408, 1, 64, true, us);
        RegisterGemm("Gemv", c, t, "96MiB/r16", cold_rows / 64 * 64, 1, 64, true, ms);
        RegisterGemm("Gemm48", c, t, "1408x2048/r16", 1408, 48, 64, true, ms);
      }
      // A few tokens, as one expert gets in a MoE prefill batch.
      RegisterGemm("Gemm4", c, t, "1408x2048", 1408, 4, 0, false, us);
    }
  }
  for (DType act : {DType::Q8_0, DType::Q8_K, DType::BF16})
    benchmark::RegisterBenchmark(("PrepareActivation/" + std::string(Name(act)) + "/7168").c_str(),
                                 [=](benchmark::State& s) { PrepareBench(s, act, DType::Q4_0, 7168); });
  return true;
}();

}  // namespace
}  // namespace mla::kernels
