#include "server/scheduler.h"

#include <algorithm>
#include <cinttypes>

#include "base/log.h"
#include "tokenizer/tokenizer.h"

namespace mla::server {

using Clock = std::chrono::steady_clock;

bool RequestHandle::Next(GenEvent* ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  *ev = std::move(events_.front());
  events_.pop_front();
  return true;
}

void RequestHandle::Push(GenEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

struct Scheduler::Slot {
  std::unique_ptr<Session> session;
  std::shared_ptr<RequestHandle> handle;  // null: free
  GenRequest req;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamDecoder> decoder;
  size_t fed = 0;          // prompt tokens in the cache
  int32_t next = -1;       // sampled, to be evaluated next step
  int64_t n_generated = 0, n_cached = 0;
  std::string text;        // decoded output not yet sent (may hold a stop-string prefix)
  double prompt_ms = 0, gen_ms = 0;
  std::vector<TokenProb> top;
  bool shifted = false;    // rows computed with since-dropped context: not reused as a prefix
  int64_t last_used = 0;   // assignment counter: ties go to the least recently used slot
};

Result<std::unique_ptr<Scheduler>> Scheduler::Create(Engine& engine, const SchedulerOptions& o) {
  if (o.n_slots < 1 || o.n_slots > 256)
    return Errorf("parallel slots: expected 1 to 256, found %d", o.n_slots);
  const int64_t slot_ctx = o.n_ctx / o.n_slots;
  if (slot_ctx < 8)
    return Errorf("context of %" PRId64 " over %d slots: expected at least 8 positions per slot",
                  o.n_ctx, o.n_slots);
  std::unique_ptr<Scheduler> s(new Scheduler(engine));
  s->opt_ = o;
  s->slot_ctx_ = slot_ctx;
  const int64_t n_batch = std::max<int64_t>(std::min(o.n_batch, slot_ctx), o.n_slots);
  MLA_ASSIGN_OR_RETURN(s->batch_, Batch::Create(engine.model(), engine.pool(), n_batch, o.n_slots));
  for (int i = 0; i < o.n_slots; ++i) {
    SessionOptions so;
    so.n_ctx = slot_ctx;
    so.n_batch = n_batch;
    so.cache_type = o.cache_type;
    so.own_workspace = false;
    auto slot = std::make_unique<Slot>();
    MLA_ASSIGN_OR_RETURN(slot->session, engine.NewSession(so));
    s->slots_.push_back(std::move(slot));
  }
  s->items_.reserve(size_t(o.n_slots));
  s->item_slots_.reserve(size_t(o.n_slots));
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

Scheduler::Scheduler(Engine& engine) : engine_(engine) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<RequestHandle>> Scheduler::Submit(GenRequest r) {
  if (r.prompt.empty()) return Status::Error("prompt: expected at least one token, found none");
  if (int64_t(r.prompt.size()) >= slot_ctx_)
    return Errorf("prompt of %zu tokens: expected fewer than the context of %" PRId64
                  " tokens per slot",
                  r.prompt.size(), slot_ctx_);
  const int32_t V = engine_.tokenizer().n_vocab();
  for (int32_t id : r.prompt)
    if (id < 0 || id >= V) return Errorf("prompt token id %d: expected 0 to %d", id, V - 1);
  MLA_RETURN_IF_ERROR(Sampler::Validate(r.sampling));
  auto h = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(h, std::move(r));
    ++metrics_.requests;
  }
  cv_.notify_all();
  return h;
}

Metrics Scheduler::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  Metrics m = metrics_;
  m.queued = int64_t(queue_.size());
  return m;
}

void Scheduler::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        if (stop_ || !queue_.empty()) return true;
        for (auto& s : slots_)
          if (s->handle) return true;
        return false;
      });
      if (stop_) break;
    }
    Step();
  }
  for (auto& s : slots_)
    if (s->handle) Finish(*s, "", "server shutting down");
}

// Picks the free slot whose cached tokens share the longest prefix with the prompt (spec §5.3:
// truncating to that prefix needs no recomputation); ties go to the least recently used one, so
// other conversations' caches survive longer. A slot that was shifted starts over: its rows were
// computed with context that is gone.
void Scheduler::Assign(std::shared_ptr<RequestHandle> h, GenRequest r) {
  Slot* best = nullptr;
  size_t best_common = 0;
  for (auto& s : slots_) {
    if (s->handle) continue;
    const auto& cached = s->session->tokens();
    size_t common = 0;
    while (common < cached.size() && common < r.prompt.size() && cached[common] == r.prompt[common])
      ++common;
    if (!best || common > best_common ||
        (common == best_common && s->last_used < best->last_used))
      best = s.get(), best_common = common;
  }
  Slot& s = *best;
  // At least one prompt token is evaluated, for the logits of the first sampled token.
  size_t keep = std::min(best_common, r.prompt.size() - 1);
  if (s.shifted) keep = 0;
  s.shifted = false;
  (void)s.session->Truncate(int64_t(keep));
  s.handle = std::move(h);
  s.req = std::move(r);
  s.last_used = ++assignments_;
  s.sampler = std::make_unique<Sampler>(s.req.sampling, engine_.tokenizer().n_vocab());
  for (int32_t id : s.req.prompt) s.sampler->Accept(id);
  s.decoder = std::make_unique<StreamDecoder>(engine_.tokenizer());
  s.fed = keep;
  s.next = -1;
  s.n_generated = 0;
  s.n_cached = int64_t(keep);
  s.text.clear();
  s.prompt_ms = s.gen_ms = 0;
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.cached_tokens += int64_t(keep);
  ++metrics_.slots_busy;
}

void Scheduler::Finish(Slot& s, const std::string& reason, const std::string& error) {
  GenEvent ev;
  ev.text = error.empty() ? s.text : "";
  s.text.clear();
  ev.done = true;
  ev.finish_reason = reason;
  ev.error = error;
  ev.n_prompt = int64_t(s.req.prompt.size());
  ev.n_cached = s.n_cached;
  ev.n_generated = s.n_generated;
  ev.prompt_ms = s.prompt_ms;
  ev.gen_ms = s.gen_ms;
  s.handle->Push(std::move(ev));
  s.handle.reset();
  std::lock_guard<std::mutex> lock(mu_);
  ++metrics_.requests_done;
  --metrics_.slots_busy;
}

// A sampled token: text through the stream decoder, stop strings, limits.
void Scheduler::Emit(Slot& s, int32_t token, const float* logits) {
  const Tokenizer& tok = engine_.tokenizer();
  ++s.n_generated;
  GenEvent ev;
  ev.token = token;
  if (s.req.top_logprobs >= 0) {
    ev.logprob = Sampler::TokenLogprob(logits, tok.n_vocab(), token);
    Sampler::TopLogprobs(logits, tok.n_vocab(), s.req.top_logprobs, &ev.top);
  }
  const bool eog = !s.req.ignore_eos && tok.IsEndOfGeneration(token);
  if (!eog) s.text += s.decoder->Push(token);
  // Stop strings: cut at the first match; otherwise hold back a suffix that may start one.
  size_t cut = std::string::npos;
  for (const std::string& stop : s.req.stop)
    if (!stop.empty()) cut = std::min(cut, s.text.find(stop));
  if (cut != std::string::npos) {
    s.text.resize(cut);
    s.handle->Push(std::move(ev));
    Finish(s, "stop");
    return;
  }
  // Without max_tokens a generation ends at one slot context's worth of tokens, so context
  // shifting cannot make it endless.
  const int64_t limit = s.req.max_tokens >= 0 ? s.req.max_tokens : slot_ctx_;
  const bool at_limit = s.n_generated >= limit;
  if (eog || at_limit) {
    if (!eog) s.text += s.decoder->Flush();
    s.handle->Push(std::move(ev));
    Finish(s, eog ? "stop" : "length");
    return;
  }
  size_t hold = 0;
  for (const std::string& stop : s.req.stop)
    for (size_t k = std::min(stop.size() - 1, s.text.size()); k > hold; --k)
      if (s.text.compare(s.text.size() - k, k, stop, 0, k) == 0) {
        hold = k;
        break;
      }
  ev.text = s.text.substr(0, s.text.size() - hold);
  s.text.erase(0, s.text.size() - hold);
  s.handle->Push(std::move(ev));
  s.next = token;
}

bool Scheduler::Step() {
  // New requests join between steps.
  {
    std::unique_lock<std::mutex> lock(mu_);
    while (!queue_.empty()) {
      bool free = false;
      for (auto& s : slots_) free |= !s->handle;
      if (!free) break;
      auto [h, r] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (h->cancelled()) {
        lock.lock();
        continue;
      }
      Assign(std::move(h), std::move(r));
      lock.lock();
    }
  }
  items_.clear();
  item_slots_.clear();
  int64_t budget = batch_->n_batch();
  // Decode tokens first (one per generating slot), then prefill chunks in what is left.
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.handle) continue;
    if (s.handle->cancelled()) {
      Finish(s, "cancelled");
      continue;
    }
    if (s.fed < s.req.prompt.size()) continue;
    Session& se = *s.session;
    if (se.n_past() + 1 > se.n_ctx()) {
      if (!opt_.context_shift) {
        Finish(s, "length");
        continue;
      }
      // Spec §5.4 / llama-server: keep n_keep tokens, drop half of the rest.
      const int64_t n_keep = std::min(opt_.n_keep < 0 ? int64_t(s.req.prompt.size()) : opt_.n_keep,
                                      se.n_past() - 2);
      const int64_t n_discard = (se.n_past() - n_keep) / 2;
      if (!se.Shift(n_keep + n_discard, -n_discard).ok()) {
        Finish(s, "length");
        continue;
      }
      s.shifted = true;
      std::lock_guard<std::mutex> lock(mu_);
      ++metrics_.context_shifts;
    }
    items_.push_back({&se, &s.next, 1, true});
    item_slots_.push_back(&s);
    --budget;
  }
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.handle || s.fed >= s.req.prompt.size() || budget <= 0) continue;
    const int64_t m = std::min<int64_t>(budget, int64_t(s.req.prompt.size() - s.fed));
    items_.push_back({s.session.get(), s.req.prompt.data() + s.fed, m,
                      s.fed + size_t(m) == s.req.prompt.size()});
    item_slots_.push_back(&s);
    budget -= m;
  }
  if (items_.empty()) return false;

  const auto t0 = Clock::now();
  Status st = batch_->Decode(items_.data(), int64_t(items_.size()));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  int64_t n_prompt = 0, n_gen = 0;
  for (size_t i = 0; i < items_.size(); ++i) {
    Slot& s = *item_slots_[i];
    const bool prefill = items_[i].tokens != &s.next;
    (prefill ? n_prompt : n_gen) += items_[i].n;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++metrics_.forward_passes;
    metrics_.prompt_tokens += n_prompt;
    const double share = double(n_prompt) / double(n_prompt + n_gen);
    metrics_.prompt_ms += ms * share;
    metrics_.gen_ms += ms * (1 - share);
  }
  for (size_t i = 0; i < items_.size(); ++i) {
    Slot& s = *item_slots_[i];
    const bool prefill = items_[i].tokens != &s.next;
    if (!st.ok()) {
      Log(LogLevel::kError, "forward pass failed: %s", st.message().c_str());
      Finish(s, "", st.message());
      continue;
    }
    if (prefill) {
      s.fed += size_t(items_[i].n);
      s.prompt_ms += ms;
    } else {
      s.gen_ms += ms;
    }
    if (!items_[i].logits) continue;
    const float* logits = s.session->logits();
    const int32_t token = s.sampler->Sample(logits);
    s.sampler->Accept(token);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++metrics_.generated_tokens;
    }
    Emit(s, token, logits);
  }
  return true;
}

}  // namespace mla::server
