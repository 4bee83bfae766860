// mla-server: OpenAI-compatible HTTP server with continuous batching over -np slots, prefix
// reuse and context shift (llama-server's flags where they apply).
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

#include "base/log.h"
#include "mla/mla.h"
#include "server/http.h"
#include "server/scheduler.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int Fail(const std::string& msg) {
  std::fprintf(stderr, "mla-server: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mla-server: OpenAI-compatible server for DeepSeek-V2/V3 (MLA) GGUF models"};
  std::string model_path, host = "127.0.0.1", cache_type = "f16", api_key, chat_template, alias;
  int port = 8080, threads = 0, n_slots = 1, timeout = 600;
  int64_t n_ctx = 4096, n_batch = 512, n_keep = 0;
  bool no_shift = false, metrics = false, verbose = false;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port to listen on (0: any free port)")->capture_default_str();
  app.add_option("-c,--ctx-size", n_ctx, "total context, split over the slots (0: the model's)")->capture_default_str();
  app.add_option("--parallel", n_slots, "parallel slots (sequences decoded together)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (0: one per hardware thread)")->capture_default_str();
  app.add_option("-b,--batch-size", n_batch, "tokens per forward pass (prefill chunk)")->capture_default_str();
  app.add_option("--cache-type", cache_type, "latent cache type: f32, f16, bf16, q8_0 (aliases -ctk, --cache-type-k)")->capture_default_str();
  app.add_option("--cache-type-k", cache_type, "same as --cache-type");
  app.add_option("--api-key", api_key, "require this key (Authorization: Bearer KEY)");
  app.add_option("--chat-template", chat_template, "chat format name instead of the detected one: " + mla::ChatFormatNames());
  app.add_flag("--no-context-shift", no_shift, "finish a generation at the context limit instead of shifting");
  app.add_option("--n-keep,--keep", n_keep, "tokens kept at the start on a context shift (-1: the prompt)")->capture_default_str();
  app.add_option("--timeout", timeout, "socket read/write timeout in seconds")->capture_default_str();
  app.add_flag("--metrics", metrics, "serve Prometheus metrics at /metrics");
  app.add_option("-a,--alias", alias, "model name reported by /v1/models (default: the file name)");
  bool no_repack = false;
  app.add_flag("--no-repack", no_repack, "-nr: keep the file's row-major weights (no interleaved repacking at load)");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  // llama-server's two-letter single-dash flags (CLI11 allows one letter after a single dash).
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {
    std::string a = argv[i];
    if (a == "-np") a = "--parallel";
    else if (a == "-ctk") a = "--cache-type-k";
    else if (a == "-nr") a = "--no-repack";
    args.push_back(a);
  }
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  mla::SetLogLevel(verbose ? mla::LogLevel::kDebug : mla::LogLevel::kInfo);
  auto ctype = mla::ParseCacheType(cache_type);
  if (!ctype.ok()) return Fail(ctype.status().message());
  if (n_ctx < 0) return Fail(mla::Format("-c: expected >= 0, found %" PRId64, n_ctx));
  if (n_batch <= 0) return Fail(mla::Format("-b: expected > 0, found %" PRId64, n_batch));
  if (n_slots < 1 || n_slots > 256) return Fail(mla::Format("-np: expected 1 to 256, found %d", n_slots));
  if (port < 0 || port > 65535) return Fail(mla::Format("--port: expected 0 to 65535, found %d", port));
  if (timeout <= 0) return Fail(mla::Format("--timeout: expected > 0 seconds, found %d", timeout));
  if (n_keep < -1) return Fail(mla::Format("--n-keep: expected -1 or more, found %" PRId64, n_keep));

  mla::EngineOptions eo;
  eo.model_path = model_path;
  eo.n_threads = threads;
  eo.load.repack = !no_repack;
  auto engine = mla::Engine::Load(eo);
  if (!engine.ok()) return Fail(engine.status().message());
  mla::Engine& e = **engine;

  mla::server::SchedulerOptions so;
  so.n_ctx = n_ctx == 0 ? e.model().config().n_ctx_train * n_slots : n_ctx;
  so.n_slots = n_slots;
  so.n_batch = n_batch;
  so.cache_type = *ctype;
  so.context_shift = !no_shift;
  so.n_keep = n_keep;
  auto sched = mla::server::Scheduler::Create(e, so);
  if (!sched.ok()) return Fail(sched.status().message());

  mla::server::HttpOptions ho;
  ho.host = host;
  ho.port = port;
  ho.api_key = api_key;
  ho.timeout_s = timeout;
  ho.metrics = metrics;
  if (!alias.empty()) {
    ho.model_id = alias;
  } else {
    const size_t slash = model_path.find_last_of('/');
    ho.model_id = slash == std::string::npos ? model_path : model_path.substr(slash + 1);
  }
  bool recognised = false;
  ho.chat_format = mla::DetectChatFormat(e.tokenizer().chat_template(), &recognised);
  if (!chat_template.empty()) {
    auto f = mla::ChatFormatFromName(chat_template);
    if (!f) return Fail("--chat-template: expected one of " + mla::ChatFormatNames() + ", found '" + chat_template + "'");
    ho.chat_format = *f;
  }
  auto http = mla::server::HttpServer::Create(e, **sched, ho);
  if (!http.ok()) return Fail(http.status().message());
  if (auto st = (*http)->Bind(); !st.ok()) return Fail(st.message());

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread watcher([&] {
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*http)->Stop();
  });
  std::fprintf(stderr, "mla-server: %d slots of %" PRId64 " tokens, chat format %s; listening on http://%s:%d\n",
               n_slots, (*sched)->slot_ctx(), mla::ChatFormatName(ho.chat_format), host.c_str(), (*http)->port());
  std::fflush(stderr);
  (*http)->Serve();
  g_stop = true;
  watcher.join();
  return 0;
}
