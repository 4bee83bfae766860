// ThreadPool::Run takes a std::function; a lambda with many captures would be copied to the
// heap on every call. ParallelFor wraps the body in a one-pointer lambda, which std::function
// stores inline, so a forward pass allocates nothing (design.md "No allocation in the hot path").
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "base/thread_pool.h"

namespace mla::ops {

template <typename Body>
void ParallelFor(ThreadPool& pool, int64_t n_tasks, const Body& body) {
  const Body* b = &body;
  pool.Run(n_tasks, [b](int64_t task, int thread) { (*b)(task, thread); });
}

// body(i) for every i < n, cut into `parts` = min(threads, n) contiguous runs, run p starting at
// item first(p, parts) (non-decreasing in p, first(0, parts) = 0): thread p first works through
// its own run in order (so a weight stream stays sequential), then helps with what
// is left of the other runs. Which thread runs an item must not matter to the body; what it buys
// is that a thread slowed down (a busy host core, a slower memory page) no longer keeps the
// others waiting at the join: they were idle ~12 % of each decode step with fixed runs.
template <typename First, typename Body>
void ParallelRuns(ThreadPool& pool, int64_t n, const First& first, const Body& body) {
  constexpr int kMaxRuns = 256;
  const int parts = int(std::min<int64_t>({int64_t(pool.size()), n, kMaxRuns}));
  if (parts <= 0) return;
  struct alignas(64) Run {
    std::atomic<int64_t> next;
    int64_t end;
  };
  Run runs[kMaxRuns];
  for (int p = 0; p < parts; ++p) {
    runs[p].next.store(p == 0 ? 0 : first(p, parts), std::memory_order_relaxed);
    runs[p].end = p + 1 == parts ? n : first(p + 1, parts);
  }
  ParallelFor(pool, parts, [&](int64_t part, int) {
    for (int k = 0; k < parts; ++k) {
      Run& r = runs[(part + k) % parts];
      for (int64_t i; (i = r.next.fetch_add(1, std::memory_order_relaxed)) < r.end;) body(i);
    }
  });
}

}  // namespace mla::ops
