// The OpenAI-compatible HTTP front end (llama-server's endpoints): chat and text completions
// (SSE streaming or whole), models, health, tokenize / detokenize, Prometheus metrics and the
// embedded chat page. Handler threads parse and validate, submit to the Scheduler and relay its
// events; every error is an OpenAI-style error object with the matching HTTP status.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "runtime/engine.h"
#include "server/scheduler.h"
#include "tokenizer/chat.h"

namespace mla::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;         // non-empty: every endpoint but / and /health needs it
  std::string model_id;        // reported by /v1/models and accepted as "model"
  ChatFormat chat_format = kDefaultChatFormat;
  int timeout_s = 600;         // socket read/write timeout
  bool metrics = false;        // GET /metrics
  int n_http_threads = 16;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Create(Engine& engine, Scheduler& scheduler,
                                                    const HttpOptions& options);
  ~HttpServer();
  // Binds (port 0: any free port) and serves until Stop; errors when the address is unusable.
  Status Bind();
  int port() const;
  void Serve();   // blocks
  void Stop();

 private:
  struct Impl;
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
};

// The chat page served at / (static, no external assets).
extern const char kChatPage[];

}  // namespace mla::server
