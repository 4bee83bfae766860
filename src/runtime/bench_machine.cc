#include "runtime/bench_machine.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/cpu.h"
#include "base/huge_buffer.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

namespace mla {

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Measured Summarise(std::vector<double> passes) {
  Measured m;
  m.passes = passes;
  std::sort(passes.begin(), passes.end());
  m.best = passes.back();
  m.median = passes[passes.size() / 2];
  return m;
}

// Sums 64-bit words; four independent accumulators so the loads, not the adds, set the pace.
uint64_t SumScalar(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
  return a ^ b ^ c ^ d;
}

__attribute__((target("avx2"))) uint64_t SumAvx2(const uint64_t* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  const __m256i* v = reinterpret_cast<const __m256i*>(p);
  for (size_t i = 0; i + 16 <= n; i += 16, v += 4) {
    a = _mm256_add_epi64(a, _mm256_load_si256(v));
    b = _mm256_add_epi64(b, _mm256_load_si256(v + 1));
    c = _mm256_add_epi64(c, _mm256_load_si256(v + 2));
    d = _mm256_add_epi64(d, _mm256_load_si256(v + 3));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), a);
  return out[0] ^ out[1] ^ out[2] ^ out[3];
}

}  // namespace

Result<Measured> MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes, int passes) {
  if (bytes < (1u << 20) || passes < 1)
    return Errorf("bandwidth test: expected >= 1 MiB and >= 1 pass, found %llu bytes, %d passes",
                  (unsigned long long)bytes, passes);
  const int nt = pool.size();
  const size_t chunk = size_t(bytes / uint64_t(nt)) / 4096 * 4096;  // per thread, page aligned
  // Huge pages, as the repacked weights use (model/weights.h).
  auto mem = HugeBuffer::Allocate(chunk * size_t(nt));
  if (!mem.ok()) return Errorf("bandwidth test: %s", mem.status().message().c_str());
  uint64_t* const buf = reinterpret_cast<uint64_t*>(mem.value().data());
  // Each thread touches its own part first, so pages are local to it.
  pool.Run(nt, [&](int64_t t, int) {
    uint8_t* p = reinterpret_cast<uint8_t*>(buf) + size_t(t) * chunk;
    for (size_t i = 0; i < chunk; i += 8) {
      const uint64_t v = i * 0x9E3779B97F4A7C15ull;
      std::memcpy(p + i, &v, 8);
    }
  });
  const bool avx2 = Cpu().avx2;
  std::vector<uint64_t> sink(static_cast<size_t>(nt), 0);
  std::vector<double> rates;
  for (int k = 0; k < passes; ++k) {
    const double t0 = Now();
    pool.Run(nt, [&](int64_t t, int) {
      const uint64_t* p = buf + size_t(t) * chunk / 8;
      sink[size_t(t)] ^= avx2 ? SumAvx2(p, chunk / 8) : SumScalar(p, chunk / 8);
    });
    rates.push_back(double(chunk) * nt / (Now() - t0));
  }
  volatile uint64_t keep = 0;  // the sums must not be optimised away
  for (uint64_t s : sink) keep = keep ^ s;
  (void)keep;
  return Summarise(rates);
}

Result<Measured> MeasureKernelPeak(ThreadPool& pool, DType type, int passes, double seconds) {
  constexpr int64_t kRows = 512, kCols = 2048, kTokens = 64;
  if (Info(type).block_elems > 1 && kCols % Info(type).block_elems != 0)
    return Errorf("kernel peak: %s blocks do not divide %lld", Name(type), (long long)kCols);
  if (type == DType::Q8_1 || type == DType::Q8_K)
    return Errorf("kernel peak: %s is an activation format", Name(type));
  const size_t row_bytes = RowBytes(type, kCols);
  std::vector<uint8_t> w(row_bytes * kRows);
  std::vector<float> f(static_cast<size_t>(kCols));
  uint64_t s = 12345;
  for (int64_t r = 0; r < kRows; ++r) {
    for (auto& v : f) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      v = float(int64_t(s >> 40) - (1 << 23)) / float(1 << 23);
    }
    quant::QuantizeRow(type, f.data(), w.data() + size_t(r) * row_bytes, kCols);
  }
  // The layout the model runs (weights.h): interleaved where the type has those kernels.
  const bool interleaved = kernels::CanInterleave(type);
  if (interleaved) {
    std::vector<uint8_t> rows = w;
    kernels::InterleaveRows(type, rows.data(), w.data(), kRows, row_bytes);
  }
  const size_t act_bytes = kernels::ActivationRowBytes(type, kCols);
  std::vector<uint8_t> act(act_bytes * kTokens);
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t i = 0; i < kCols; ++i) f[size_t(i)] = float((i * 7 + t * 13) % 17) / 17.0f - 0.5f;
    kernels::PrepareActivation(type, f.data(), act.data() + size_t(t) * act_bytes, kCols);
  }
  const int nt = pool.size();
  std::vector<float> y(static_cast<size_t>(kTokens * kRows));
  auto run_once = [&] {
    pool.Run(nt, [&](int64_t t, int) {
      const int64_t groups = kRows / kernels::kInterleaveRows;
      const int64_t r0 = groups * t / nt * kernels::kInterleaveRows,
                    r1 = groups * (t + 1) / nt * kernels::kInterleaveRows;
      if (interleaved)
        kernels::GemmRowsInterleaved(type, w.data(), row_bytes, act.data(), act_bytes, kTokens, kCols, r0, r1,
                                     y.data() + r0, kRows);
      else
        kernels::GemmRows(type, w.data(), row_bytes, act.data(), act_bytes, kTokens, kCols, r0, r1,
                          y.data() + r0, kRows);
    });
  };
  run_once();  // warm caches and the pool
  std::vector<double> rates;
  for (int k = 0; k < passes; ++k) {
    int64_t iters = 0;
    const double t0 = Now();
    double t1 = t0;
    while (t1 - t0 < seconds) {
      run_once();
      ++iters;
      t1 = Now();
    }
    rates.push_back(double(kRows * kCols * kTokens) * double(iters) / (t1 - t0));
  }
  return Summarise(rates);
}

}  // namespace mla
