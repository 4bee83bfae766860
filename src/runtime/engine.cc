#include "runtime/engine.h"

#include <chrono>
#include <thread>

#include "base/log.h"

namespace mla {

Result<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> e(new Engine());
  LoadOptions load = options.load;
  if (load.n_threads <= 0) load.n_threads = options.n_threads;
  MLA_ASSIGN_OR_RETURN(e->model_, Model::Load(options.model_path, load));
  auto tok = Tokenizer::FromGguf(e->model_->file());
  if (!tok.ok()) return tok.status().Wrap(options.model_path + ": tokenizer");
  e->tokenizer_ = std::move(tok).value();
  if (e->tokenizer_->n_vocab() > e->model_->config().n_vocab)
    return Errorf("%s: the tokenizer has %d tokens but the model only %lld logits",
                  options.model_path.c_str(), e->tokenizer_->n_vocab(),
                  static_cast<long long>(e->model_->config().n_vocab));
  int threads = options.n_threads;
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  e->pool_ = std::make_unique<ThreadPool>(threads);
  e->load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

Result<std::unique_ptr<Session>> Engine::NewSession(const SessionOptions& options) {
  MLA_ASSIGN_OR_RETURN(auto s, Session::Create(*model_, *pool_, options));
  Log(LogLevel::kInfo, "session: %lld positions, %s cache %.2f MiB (%zu B/token), batch %lld, scratch %.2f MiB",
      static_cast<long long>(s->n_ctx()), Name(options.cache_type),
      double(s->cache().bytes()) / (1 << 20),
      LatentCache::BytesPerToken(model_->config(), options.cache_type),
      static_cast<long long>(options.n_batch), double(s->scratch_bytes()) / (1 << 20));
  return s;
}

}  // namespace mla
