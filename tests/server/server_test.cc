// The server in process (Scheduler + HttpServer on a free port) against an httplib client:
// continuous batching is real and invisible, prefix reuse, context shift past the context size,
// bad input with OpenAI-style errors, a client leaving mid-stream, and a bounded load test.
#include <gtest/gtest.h>

#include <chrono>
#include <httplib.h>

#include <atomic>
#include <latch>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/engine.h"
#include "server/http.h"
#include "server/reasoning.h"
#include "server/scheduler.h"
#include "test_util.h"

namespace mla::server {
namespace {

using json = nlohmann::json;

const char* kModel = "models/ds3-demo.Q4_K_M.gguf";

struct TestServer {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = 0;

  explicit TestServer(SchedulerOptions so = {}, HttpOptions ho = {}) {
    EngineOptions eo;
    eo.model_path = test::Fixture(kModel);
    eo.n_threads = 2;
    engine = std::move(Engine::Load(eo)).value();
    if (so.n_slots == 1 && so.n_ctx == 4096) {
      so.n_slots = 4;
      so.n_ctx = 4 * 256;
    }
    so.cache_type = DType::F32;
    scheduler = std::move(Scheduler::Create(*engine, so)).value();
    ho.port = 0;
    ho.model_id = "ds3-demo";
    ho.metrics = true;
    http = std::move(HttpServer::Create(*engine, *scheduler, ho)).value();
    EXPECT_TRUE(http->Bind().ok());
    port = http->port();
    thread = std::thread([this] { http->Serve(); });
  }
  ~TestServer() {
    http->Stop();
    thread.join();
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    return c;
  }
  json Post(const std::string& path, const json& body, int* status = nullptr) const {
    auto c = Client();
    auto r = c.Post(path, body.dump(), "application/json");
    if (!r) return json{{"transport_error", true}};
    if (status) *status = r->status;
    return json::parse(r->body, nullptr, false);
  }
  double Metric(const std::string& name) const {
    auto c = Client();
    auto r = c.Get("/metrics");
    if (!r) return -1;
    const std::string key = "mla:" + name + " ";
    const size_t at = r->body.find("\n" + key);
    return at == std::string::npos ? -1 : std::atof(r->body.c_str() + at + 1 + key.size());
  }
};

json Completion(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

const std::vector<std::string> kPrompts = {"The license of this software", "Once upon a time, in a",
                                           "def fibonacci(n):", "Paris is the capital of"};

TEST(Server, ConcurrentRequestsShareDecodeSteps) {
  TestServer s;
  // Long enough that the few steps taken while the four requests arrive (one step of this tiny
  // model is well under a millisecond; a busy CI machine staggered arrivals by 16 steps once,
  // against 24 generated tokens) stay small next to n_gen.
  const int n_gen = 64;
  // One at a time first (the reference), then all four at once.
  std::vector<std::string> alone;
  for (const auto& p : kPrompts) {
    int status = 0;
    json r = s.Post("/v1/completions", Completion(p, n_gen), &status);
    ASSERT_EQ(status, 200) << r.dump();
    ASSERT_EQ(r["usage"]["completion_tokens"], n_gen);
    alone.push_back(r["choices"][0]["text"]);
  }
  const double passes0 = s.Metric("forward_passes_total");
  std::vector<std::string> together(4);
  std::vector<std::thread> threads;
  // The clients connect first and send together: on this tiny model a step takes well under a
  // millisecond, so a client whose thread started late would otherwise find the others finished.
  std::latch ready(4);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      auto c = s.Client();
      c.set_keep_alive(true);
      ready.arrive_and_wait();
      // Different prompts, so no prefix is shared with another in-flight request; the slots'
      // earlier caches are reused, which is the prefix reuse path.
      auto res = c.Post("/v1/completions", Completion(kPrompts[size_t(k)], n_gen).dump(), "application/json");
      const json r = res ? json::parse(res->body, nullptr, false) : json{{"transport_error", true}};
      together[size_t(k)] = r["choices"][0].value("text", std::string("<error>"));
    });
  for (auto& t : threads) t.join();
  const double passes = s.Metric("forward_passes_total") - passes0;
  for (int k = 0; k < 4; ++k) EXPECT_EQ(together[size_t(k)], alone[size_t(k)]) << kPrompts[size_t(k)];
  // About n_gen steps (plus a few while the requests arrive), not 4·n_gen.
  EXPECT_LE(passes, 1.5 * n_gen) << "forward passes for 4 concurrent requests of " << n_gen << " tokens";
  EXPECT_GE(passes, n_gen);
}

TEST(Server, GreedyMatchesMlaCli) {
  TestServer s;
  json r = s.Post("/v1/completions", Completion(kPrompts[0], 16));
  std::string out;
  ASSERT_EQ(test::RunCommand(test::ToolPath("mla-cli") + " -m " + test::Fixture(kModel) +
                                 " -p '" + kPrompts[0] + "' -n 16 --temp 0 -t 2 --cache-type f32 --log-disable 2>/dev/null",
                             &out), 0);
  // Only the generated text is compared (the timings lines follow it).
  const size_t timings = out.find("\ntimings:");
  if (timings != std::string::npos) out.erase(timings + 1);
  const std::string want = kPrompts[0] + r["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(out.substr(0, want.size()), want);
  EXPECT_EQ(out.find_first_not_of("\n", want.size()), std::string::npos) << out;
}

TEST(Server, PrefixReuse) {
  TestServer s;
  json first = s.Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat."}}}},
                                               {"max_tokens", 8}, {"temperature", 0}});
  const std::string answer = first["choices"][0]["message"]["content"];
  json second = s.Post("/v1/chat/completions",
                       {{"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat."}},
                                      {{"role", "assistant"}, {"content", answer}},
                                      {{"role", "user"}, {"content", "And a dog?"}}}},
                        {"max_tokens", 8}, {"temperature", 0}});
  const int64_t first_prompt = first["usage"]["prompt_tokens"];
  EXPECT_GE(second["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), first_prompt - 1)
      << second.dump();
}

TEST(Server, ContextShiftGeneratesPastTheContext) {
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = 2 * 48;
  so.n_keep = 4;
  TestServer s(so);
  json r = s.Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 150}, {"temperature", 0}});
  EXPECT_EQ(r["usage"]["completion_tokens"], 150) << r.dump();
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_GT(s.Metric("context_shifts_total"), 0);

  SchedulerOptions off = so;
  off.context_shift = false;
  TestServer t(off);
  json q = t.Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 150}, {"temperature", 0}});
  EXPECT_LT(q["usage"]["completion_tokens"].get<int>(), 48) << q.dump();
  EXPECT_EQ(q["choices"][0]["finish_reason"], "length");
}

void ExpectError(const TestServer& s, const std::string& path, const std::string& body, int want,
                 const std::string& what) {
  auto c = s.Client();
  auto r = c.Post(path, body, "application/json");
  ASSERT_TRUE(r) << what;
  EXPECT_EQ(r->status, want) << what << ": " << r->body;
  json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << ": " << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << what;
  EXPECT_TRUE(j["error"]["type"].is_string()) << what;
}

TEST(Server, BadInputGetsOpenAiErrors) {
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = 2 * 64;
  TestServer s(so);
  ExpectError(s, "/v1/completions", "{\"prompt\": ", 400, "malformed JSON");
  ExpectError(s, "/v1/completions", "[1, 2]", 400, "not an object");
  ExpectError(s, "/v1/completions", R"({"prompt": 5})", 400, "prompt of a wrong type");
  ExpectError(s, "/v1/completions", R"({"prompt": "hi", "temperature": "hot"})", 400, "temperature a string");
  ExpectError(s, "/v1/completions", R"({"prompt": "hi", "max_tokens": 1.5})", 400, "max_tokens a float");
  ExpectError(s, "/v1/completions", R"({"prompt": "hi", "max_tokens": 100000000000})", 400, "max_tokens absurd");
  ExpectError(s, "/v1/completions", R"({"prompt": "hi", "max_tokens": -5})", 400, "max_tokens negative");
  ExpectError(s, "/v1/completions", R"({"prompt": "hi", "model": "gpt-9"})", 404, "unknown model");
  ExpectError(s, "/v1/completions", R"({"prompt": [1, 2, 99999999]})", 400, "token id out of range");
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "word ";
  ExpectError(s, "/v1/completions", json{{"prompt", long_prompt}}.dump(), 400, "prompt longer than the context");
  ExpectError(s, "/v1/completions", std::string("{\"prompt\": \"a\xff\xfe b\"}"), 400, "invalid UTF-8");
  ExpectError(s, "/v1/chat/completions", R"({"messages": "hi"})", 400, "messages not an array");
  ExpectError(s, "/v1/chat/completions", R"({"messages": [{"content": "hi"}]})", 400, "message without role");
  ExpectError(s, "/detokenize", R"({"tokens": [-1]})", 400, "bad token id");
  auto c = s.Client();
  auto r = c.Get("/v1/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  // Still serving.
  int status = 0;
  json ok = s.Post("/v1/completions", Completion("Hello", 4), &status);
  EXPECT_EQ(status, 200) << ok.dump();
  EXPECT_EQ(ok["usage"]["completion_tokens"], 4);
}

TEST(Server, ApiKey) {
  HttpOptions ho;
  ho.api_key = "sekrit";
  TestServer s({}, ho);
  auto c = s.Client();
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "authentication_error");
  r = c.Get("/v1/models", httplib::Headers{{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(r->status, 401);
  r = c.Get("/v1/models", httplib::Headers{{"Authorization", "Bearer sekrit"}});
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["data"][0]["id"], "ds3-demo");
  r = c.Get("/health");
  EXPECT_EQ(r->status, 200);
}

TEST(Server, ClientLeavingMidStreamFreesItsSlot) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 512;
  TestServer s(so);
  {
    auto c = s.Client();
    int chunks = 0;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "Once upon a time"}, {"max_tokens", 400}, {"stream", true}, {"temperature", 0}}.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    auto res = c.send(req);
    EXPECT_GE(chunks, 3);
  }
  // The only slot must come free long before 400 tokens' worth of steps would end anyway...
  for (int i = 0; i < 100 && s.Metric("requests_processing") != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(s.Metric("requests_processing"), 0);
  EXPECT_LT(s.Metric("tokens_predicted_total"), 400);
  // ...and serve the next request.
  json r = s.Post("/v1/completions", Completion("Hello", 4));
  EXPECT_EQ(r["usage"]["completion_tokens"], 4) << r.dump();
}

TEST(Server, StreamingMatchesWholeAnswer) {
  TestServer s;
  json whole = s.Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                               {"max_tokens", 12}, {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2}});
  ASSERT_EQ(whole["choices"][0]["logprobs"]["content"].size(), 12u) << whole.dump();
  EXPECT_EQ(whole["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  auto c = s.Client();
  std::string body;
  auto r = c.Post("/v1/chat/completions",
                  json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 12},
                       {"temperature", 0}, {"stream", true}}.dump(), "application/json");
  ASSERT_TRUE(r);
  std::string text;
  bool done = false;
  size_t at = 0;
  while ((at = r->body.find("data: ", at)) != std::string::npos) {
    const size_t end = r->body.find("\n\n", at);
    const std::string data = r->body.substr(at + 6, end - at - 6);
    at = end;
    if (data == "[DONE]") { done = true; break; }
    json j = json::parse(data);
    text += j["choices"][0]["delta"].value("content", "");
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
}

TEST(Server, StopStringsCutTheAnswer) {
  TestServer s;
  json full = s.Post("/v1/completions", Completion(kPrompts[0], 16));
  const std::string text = full["choices"][0]["text"];
  ASSERT_GE(text.size(), 12u);
  // A stop string that starts mid-answer (likely spanning tokens): the answer ends right before it.
  const std::string stop = text.substr(6, 5);
  const std::string want = text.substr(0, text.find(stop));
  for (bool stream : {false, true}) {
    json body = Completion(kPrompts[0], 16);
    body["stop"] = {"never-in-the-output", stop};
    body["stream"] = stream;
    auto c = s.Client();
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(r);
    std::string got, finish;
    if (!stream) {
      json j = json::parse(r->body);
      got = j["choices"][0]["text"];
      finish = j["choices"][0]["finish_reason"];
    } else {
      size_t at = 0;
      while ((at = r->body.find("data: ", at)) != std::string::npos) {
        const size_t end = r->body.find("\n\n", at);
        const std::string data = r->body.substr(at + 6, end - at - 6);
        at = end;
        if (data == "[DONE]") break;
        json j = json::parse(data);
        got += j["choices"][0]["text"].get<std::string>();
        if (!j["choices"][0]["finish_reason"].is_null()) finish = j["choices"][0]["finish_reason"];
      }
    }
    EXPECT_EQ(got, want) << "stream " << stream;
    EXPECT_EQ(finish, "stop") << "stream " << stream;
  }
}

TEST(Server, TokenizeDetokenize) {
  TestServer s;
  json t = s.Post("/tokenize", {{"content", "Hello world"}});
  ASSERT_TRUE(t["tokens"].is_array());
  json d = s.Post("/detokenize", {{"tokens", t["tokens"]}});
  EXPECT_EQ(d["content"], "Hello world");
}

TEST(Reasoning, SplitsThinkBlocksAcrossPieces) {
  ThinkSplitter sp;
  std::string r, c;
  for (const char* piece : {" <th", "ink>plan ", "a</th", "ink>", "answer <think> x"}) sp.Push(piece, &r, &c);
  sp.Flush(&r, &c);
  EXPECT_EQ(r, "plan a");
  EXPECT_EQ(c, "answer <think> x");
  ThinkSplitter opened(true);
  std::string r2, c2;
  opened.Push("why</think>because", &r2, &c2);
  EXPECT_EQ(r2, "why");
  EXPECT_EQ(c2, "because");
  ThinkSplitter none;
  std::string r3, c3;
  none.Push("plain", &r3, &c3);
  none.Flush(&r3, &c3);
  EXPECT_EQ(r3, "");
  EXPECT_EQ(c3, "plain");
}

int64_t RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

// Several hundred requests from 8 clients on 4 slots: no error, memory stable. MLA_LOAD_REQUESTS
// overrides the count (a sanitizer build uses fewer by default).
TEST(Server, BoundedLoad) {
#ifdef __SANITIZE_ADDRESS__
  int total = 96;  // ASan/UBSan: every step is ~10x slower
#else
  int total = 320;
#endif
  if (const char* e = std::getenv("MLA_LOAD_REQUESTS")) total = std::max(24, std::atoi(e));
  TestServer s;
  std::atomic<int> next{0}, errors{0};
  std::atomic<int64_t> rss_after_first{0};
  std::vector<std::thread> clients;
  for (int k = 0; k < 8; ++k)
    clients.emplace_back([&, k] {
      auto c = s.Client();
      for (int i; (i = next.fetch_add(1)) < total;) {
        json body = {{"prompt", kPrompts[size_t(i % 4)] + " " + std::to_string(i)},
                     {"max_tokens", 4 + i % 5}, {"temperature", 0.7}, {"seed", i}, {"stream", i % 3 == 0}};
        auto r = c.Post(i % 2 ? "/v1/completions" : "/v1/completions", body.dump(), "application/json");
        if (!r || r->status != 200) ++errors;
        if (i == total / 3) rss_after_first = RssKb();
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0);
  // A response can reach its client a moment before the engine thread counts the request done.
  for (int wait = 0; wait < 100 && s.Metric("requests_done_total") < total; ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.Metric("requests_done_total"), total);
  const int64_t rss_end = RssKb();
#ifdef __SANITIZE_ADDRESS__
  // ASan holds freed memory in its quarantine (up to 256 MiB) and checks leaks itself at exit.
  const int64_t bound_kb = 300 * 1024;
#else
  const int64_t bound_kb = 16 * 1024;
#endif
  EXPECT_LT(rss_end - rss_after_first.load(), bound_kb)
      << "RSS grew from " << rss_after_first << " kB to " << rss_end;
}

}  // namespace
}  // namespace mla::server

namespace mla::server {
namespace {

// mla-cli with --context-shift generates past its context to the requested length (spec §5.4).
TEST(MlaCli, ContextShiftGeneratesPastTheContext) {
  const std::string cmd = test::ToolPath("mla-cli") + " -m " + test::Fixture(kModel) +
                          " -p 'Once upon a time' -n 100 -c 32 --temp 0 -t 2 --keep 2";
  std::string out;
  ASSERT_EQ(test::RunCommand(cmd + " --context-shift", &out), 0) << out;
  EXPECT_NE(out.find("generation 99 tokens"), std::string::npos) << out;  // the 100th is not evaluated
  EXPECT_EQ(out.find("context full"), std::string::npos) << out;
  ASSERT_EQ(test::RunCommand(cmd, &out), 0) << out;
  EXPECT_NE(out.find("context full"), std::string::npos) << out;
}

}  // namespace
}  // namespace mla::server
