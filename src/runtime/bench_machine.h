// What the machine can do, measured by mla-bench next to every result: the memory read
// bandwidth (the bound of token generation) and the multiply-add rate of the engine's own matmul
// kernel on cache-resident weights (the bound of prompt processing).
#pragma once

#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"

namespace mla {

struct Measured {
  double best = 0;             // the fastest pass
  double median = 0;
  std::vector<double> passes;  // every pass, in order
};

// Reads a buffer of `bytes` (touched beforehand, split evenly over the pool's threads) `passes`
// times and returns bytes per second of each pass. Uses 256-bit loads when the CPU has AVX2.
Result<Measured> MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes, int passes);

// Multiply-adds per second of kernels::GemmRows for weights of `type`: a 512-row × 2048-column
// matrix (under 2 MB for every type up to Q8_0, so it stays in cache) times 64 activation rows,
// rows split over the pool's threads, for about `seconds` per pass.
Result<Measured> MeasureKernelPeak(ThreadPool& pool, DType type, int passes, double seconds = 0.3);

}  // namespace mla
