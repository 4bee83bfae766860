// A persistent pool of worker threads with cheap fork/join: Run(n, fn) calls fn(i) for every
// i < n across the workers and the caller, and returns when all are done. Work items are handed
// out in a fixed static partition so a result never depends on timing.
//
// A decode step forks and joins a few thousand times, so hand-off is through atomics: workers
// spin (with pause) for about a millisecond after each job before sleeping on a condition
// variable, and the caller spins until the workers are done. An idle pool costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mla {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // fn(task, thread): thread < size(); task < n_tasks. Thread t runs tasks t, t+size, ...
  void Run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void Worker(int index);
  int n_threads_;
  std::vector<std::thread> workers_;
  // The job: written by Run before generation_ is bumped (release), read by workers after they
  // see the new generation (acquire).
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards sleepers_ and orders sleeping against new jobs
  std::condition_variable cv_;
  int sleepers_ = 0;
};

}  // namespace mla
