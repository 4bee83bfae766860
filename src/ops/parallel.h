// ThreadPool::Run takes a std::function; a lambda with many captures would be copied to the
// heap on every call. ParallelFor wraps the body in a one-pointer lambda, which std::function
// stores inline, so a forward pass allocates nothing (design.md "No allocation in the hot path").
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace mla::ops {

template <typename Body>
void ParallelFor(ThreadPool& pool, int64_t n_tasks, const Body& body) {
  const Body* b = &body;
  pool.Run(n_tasks, [b](int64_t task, int thread) { (*b)(task, thread); });
}

}  // namespace mla::ops
