// The engine: a loaded model, its tokenizer and the thread pool the forward passes run on.
// Sessions are made from it (one per sequence).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace mla {

struct EngineOptions {
  std::string model_path;
  int n_threads = 0;        // 0: one per hardware thread
  LoadOptions load;         // --override-kv
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);

  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  ThreadPool& pool() { return *pool_; }
  double load_ms() const { return load_ms_; }

  Result<std::unique_ptr<Session>> NewSession(const SessionOptions& options);

 private:
  Engine() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  double load_ms_ = 0;
};

}  // namespace mla
