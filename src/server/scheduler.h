// The server's engine loop (spec §5.2-5.4): n_slots sessions advanced together by one Batch,
// one forward pass per step. Decode tokens of every generating slot and prefill chunks of new
// prompts share each pass (chunks fill what is left of n_batch); new requests join between
// steps; a request whose prompt shares a prefix with a free slot's cached tokens reuses them;
// a slot that reaches its context shifts (keep n_keep, drop half the rest) when allowed.
// HTTP handler threads Submit requests and read their events from a RequestHandle.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "runtime/batch.h"
#include "runtime/engine.h"
#include "sampling/sampler.h"

namespace mla::server {

struct SchedulerOptions {
  int64_t n_ctx = 4096;   // total, split evenly over the slots (llama-server's -c / -np)
  int n_slots = 1;
  int64_t n_batch = 512;
  DType cache_type = DType::F16;
  bool context_shift = true;
  int64_t n_keep = 0;     // tokens kept at the start on a shift (-1: the whole prompt)
};

struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = -1;         // < 0: until an end-of-generation token (or a full context)
  std::vector<std::string> stop;   // stop strings (not part of the output)
  int32_t top_logprobs = -1;       // < 0: no logprobs; else logprobs and this many alternatives
  bool ignore_eos = false;         // keep going after an end-of-generation token (benchmarks)
};

struct GenEvent {
  std::string text;                 // new text (complete UTF-8, stop strings held back)
  int32_t token = -1;               // the sampled token (-1 for the final event)
  float logprob = 0;
  std::vector<TokenProb> top;       // top_logprobs alternatives
  bool done = false;                // final event: finish_reason / error set
  std::string finish_reason;        // "stop", "length"
  std::string error;                // engine failure (the request is over)
  int64_t n_prompt = 0, n_cached = 0, n_generated = 0;
  double prompt_ms = 0, gen_ms = 0;
};

class RequestHandle {
 public:
  // Waits for the next event up to `timeout`; false on timeout.
  bool Next(GenEvent* ev, std::chrono::milliseconds timeout);
  // Stops the request at the next step (client gone); its slot is freed.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  friend class Scheduler;
  void Push(GenEvent ev);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenEvent> events_;
  std::atomic<bool> cancelled_{false};
};

struct Metrics {
  int64_t requests = 0, requests_done = 0, prompt_tokens = 0, cached_tokens = 0,
          generated_tokens = 0, forward_passes = 0, context_shifts = 0, slots_busy = 0,
          queued = 0;
  double prompt_ms = 0, gen_ms = 0;  // time of the passes that evaluated prompts / generations
};

class Scheduler {
 public:
  static Result<std::unique_ptr<Scheduler>> Create(Engine& engine, const SchedulerOptions& o);
  ~Scheduler();

  // Queues a request; errors (nothing queued) when the prompt is empty or does not fit a slot.
  Result<std::shared_ptr<RequestHandle>> Submit(GenRequest request);
  Metrics metrics() const;
  int64_t slot_ctx() const { return slot_ctx_; }
  int n_slots() const { return int(slots_.size()); }

 private:
  struct Slot;
  explicit Scheduler(Engine& engine);
  void Loop();
  bool Step();  // false when there was nothing to do
  void Assign(std::shared_ptr<RequestHandle> h, GenRequest r);
  void Emit(Slot& s, int32_t token, const float* logits);
  void Finish(Slot& s, const std::string& reason, const std::string& error = "");

  Engine& engine_;
  SchedulerOptions opt_;
  int64_t slot_ctx_ = 0;
  std::unique_ptr<Batch> batch_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<BatchItem> items_;
  std::vector<Slot*> item_slots_;
  int64_t assignments_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_ptr<RequestHandle>, GenRequest>> queue_;
  Metrics metrics_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mla::server
