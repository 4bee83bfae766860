#include "server/http.h"

#include <httplib.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <nlohmann/json.hpp>

#include "server/reasoning.h"

namespace mla::server {

using json = nlohmann::json;

namespace {

// A request the server refuses: HTTP status, OpenAI error type and message.
struct ApiError {
  int status;
  std::string type;
  std::string message;
};

ApiError BadRequest(const std::string& m) { return {400, "invalid_request_error", m}; }

std::string Dump(const json& j) {
  // Generated text may hold bytes that are not UTF-8 (a model can emit any byte): replace them.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void SendError(httplib::Response& res, const ApiError& e) {
  json j = {{"error", {{"message", e.message}, {"type", e.type}, {"code", e.status}}}};
  res.status = e.status;
  res.set_content(Dump(j), "application/json");
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json ParseBody(const httplib::Request& req) {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw BadRequest("request body: expected a JSON object, found malformed JSON (or invalid UTF-8)");
  if (!j.is_object()) throw BadRequest(std::string("request body: expected a JSON object, found ") + j.type_name());
  return j;
}

// Typed optional fields: absent or null keep the default; a wrong type is a 400 naming the field.
double Number(const json& j, const char* key, double def, double lo, double hi) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number())
    throw BadRequest(std::string("'") + key + "': expected a number, found " + j[key].type_name());
  const double v = j[key].get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    throw BadRequest(std::string("'") + key + "': expected " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", found " + j[key].dump());
  return v;
}
int64_t Integer(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number_integer())
    throw BadRequest(std::string("'") + key + "': expected an integer, found " + j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  if (v < lo || v > hi)
    throw BadRequest(std::string("'") + key + "': expected " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", found " + std::to_string(v));
  return v;
}
bool Bool(const json& j, const char* key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean())
    throw BadRequest(std::string("'") + key + "': expected true or false, found " + j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

struct HttpServer::Impl {
  Engine* engine = nullptr;
  Scheduler* scheduler = nullptr;
  HttpOptions opt;
  httplib::Server http;
  int port = 0;

  void CheckModel(const json& body) const {
    if (!body.contains("model") || body["model"].is_null()) return;
    if (!body["model"].is_string())
      throw BadRequest("'model': expected a string, found " + body["model"].dump());
    const std::string m = body["model"].get<std::string>();
    if (!m.empty() && m != opt.model_id)
      throw ApiError{404, "model_not_found",
                     "model '" + m + "' does not exist; this server serves '" + opt.model_id + "'"};
  }

  // Sampling, limits, stop strings and logprobs shared by both completion endpoints.
  GenRequest CommonParams(const json& b, bool chat) const {
    GenRequest r;
    SamplingParams& s = r.sampling;
    s.temperature = float(Number(b, "temperature", s.temperature, 0, 100));
    s.top_p = float(Number(b, "top_p", s.top_p, 0, 1));
    if (s.top_p <= 0) s.top_p = 1e-6f;
    s.top_k = int32_t(Integer(b, "top_k", s.top_k, 0, 1 << 24));
    s.min_p = float(Number(b, "min_p", s.min_p, 0, 1));
    s.repeat_penalty = float(Number(b, "repeat_penalty", s.repeat_penalty, 1e-3, 100));
    s.repeat_last_n = int32_t(Integer(b, "repeat_last_n", s.repeat_last_n, -1, 1 << 24));
    s.presence_penalty = float(Number(b, "presence_penalty", s.presence_penalty, -2, 2));
    s.frequency_penalty = float(Number(b, "frequency_penalty", s.frequency_penalty, -2, 2));
    s.seed = uint64_t(Integer(b, "seed", int64_t(kRandomSeed), 0, INT64_MAX));
    // max_tokens beyond what any slot can hold is refused, not silently clamped.
    const int64_t limit = int64_t(1) << 24;
    r.max_tokens = Integer(b, chat && b.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
                           -1, -1, limit);
    r.max_tokens = Integer(b, "n_predict", r.max_tokens, -1, limit);
    r.ignore_eos = Bool(b, "ignore_eos", false);
    if (r.max_tokens == 0) throw BadRequest("'max_tokens': expected at least 1, found 0");
    if (b.contains("n") && !b["n"].is_null() && Integer(b, "n", 1, 1, 1) != 1)
      throw BadRequest("'n': only 1 choice is supported");
    if (b.contains("stop") && !b["stop"].is_null()) {
      const json& st = b["stop"];
      if (st.is_string()) {
        r.stop.push_back(st.get<std::string>());
      } else if (st.is_array() && st.size() <= 16) {
        for (const json& x : st) {
          if (!x.is_string()) throw BadRequest("'stop': expected strings, found " + x.dump());
          r.stop.push_back(x.get<std::string>());
        }
      } else {
        throw BadRequest("'stop': expected a string or an array of up to 16 strings");
      }
    }
    if (chat) {
      if (Bool(b, "logprobs", false)) r.top_logprobs = int32_t(Integer(b, "top_logprobs", 0, 0, 20));
      else if (b.contains("top_logprobs") && !b["top_logprobs"].is_null())
        throw BadRequest("'top_logprobs' needs 'logprobs': true");
    } else {
      r.top_logprobs = int32_t(Integer(b, "logprobs", -1, 0, 20));
    }
    return r;
  }

  std::vector<int32_t> ChatPrompt(const json& b, bool* opened_think) const {
    if (!b.contains("messages") || !b["messages"].is_array() || b["messages"].empty())
      throw BadRequest("'messages': expected a non-empty array of messages");
    std::vector<ChatMessage> msgs;
    for (const json& m : b["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
        throw BadRequest("'messages': expected objects with a string 'role', found " + m.dump());
      ChatMessage cm;
      cm.role = m["role"].get<std::string>();
      const json& c = m.contains("content") ? m["content"] : json();
      if (c.is_string()) {
        cm.content = c.get<std::string>();
      } else if (c.is_array()) {  // [{type: "text", text: ...}, ...]
        for (const json& part : c) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string())
            throw BadRequest("'content': only text parts are supported, found " + part.dump());
          cm.content += part["text"].get<std::string>();
        }
      } else if (!c.is_null()) {
        throw BadRequest(std::string("'content': expected a string or an array of text parts, found ") + c.type_name());
      }
      msgs.push_back(std::move(cm));
    }
    const Tokenizer& tok = engine->tokenizer();
    const std::string bos = tok.bos() >= 0 ? tok.TokenText(tok.bos()) : "";
    const std::string eos = tok.eos() >= 0 ? tok.TokenText(tok.eos()) : "";
    const std::string text = RenderChat(opt.chat_format, msgs, true, bos, eos);
    *opened_think = text.size() >= 8 && text.compare(text.size() - 8, 8, "<think>\n") == 0;
    auto ids = tok.Encode(text, false, true);
    if (!ids.ok()) throw BadRequest(ids.status().message());
    return *ids;
  }

  std::vector<int32_t> CompletionPrompt(const json& b) const {
    if (!b.contains("prompt")) throw BadRequest("'prompt': expected a string or an array of token ids");
    const json& p = b["prompt"];
    if (p.is_array() && p.size() == 1 && p[0].is_string()) return CompletionPrompt(json{{"prompt", p[0]}});
    if (p.is_string()) {
      auto ids = engine->tokenizer().Encode(p.get<std::string>(), true, true);
      if (!ids.ok()) throw BadRequest(ids.status().message());
      return *ids;
    }
    if (p.is_array()) {
      std::vector<int32_t> ids;
      for (const json& x : p) {
        if (!x.is_number_integer()) throw BadRequest("'prompt': expected token ids, found " + x.dump());
        const int64_t id = x.get<int64_t>();
        if (id < 0 || id >= engine->tokenizer().n_vocab())
          throw BadRequest("'prompt': token id " + std::to_string(id) + " out of range 0 to " +
                           std::to_string(engine->tokenizer().n_vocab() - 1));
        ids.push_back(int32_t(id));
      }
      return ids;
    }
    throw BadRequest(std::string("'prompt': expected a string or an array of token ids, found ") + p.type_name());
  }

  std::shared_ptr<RequestHandle> Submit(GenRequest r) const {
    auto h = scheduler->Submit(std::move(r));
    if (!h.ok()) throw BadRequest(h.status().message());
    return *h;
  }

  json LogprobEntry(const GenEvent& ev, bool chat) const {
    const Tokenizer& tok = engine->tokenizer();
    const std::string piece = tok.TokenToPiece(ev.token, false);
    json top = json::array();
    for (const TokenProb& tp : ev.top)
      top.push_back({{"token", tok.TokenToPiece(tp.id, false)}, {"logprob", tp.logprob}, {"id", tp.id}});
    return {{"token", piece}, {"logprob", ev.logprob}, {"id", ev.token}, {"top_logprobs", top}};
  }

  static json Usage(const GenEvent& ev) {
    return {{"prompt_tokens", ev.n_prompt},
            {"completion_tokens", ev.n_generated},
            {"total_tokens", ev.n_prompt + ev.n_generated},
            {"prompt_tokens_details", {{"cached_tokens", ev.n_cached}}}};
  }
  static json Timings(const GenEvent& ev) {
    return {{"cache_n", ev.n_cached},
            {"prompt_n", ev.n_prompt - ev.n_cached},
            {"prompt_ms", ev.prompt_ms},
            {"predicted_n", ev.n_generated},
            {"predicted_ms", ev.gen_ms}};
  }

  // Waits for the request's next event; cancels it when the server stops.
  static GenEvent Wait(RequestHandle& h, const std::function<bool()>& alive) {
    GenEvent ev;
    while (!h.Next(&ev, std::chrono::milliseconds(100)))
      if (!alive()) {
        h.Cancel();
        ev = GenEvent();
        ev.done = true;
        ev.error = "client disconnected";
        return ev;
      }
    return ev;
  }

  void Completion(const httplib::Request& req, httplib::Response& res, bool chat) {
    const json b = ParseBody(req);
    CheckModel(b);
    bool opened_think = false;
    std::vector<int32_t> prompt = chat ? ChatPrompt(b, &opened_think) : CompletionPrompt(b);
    GenRequest r = CommonParams(b, chat);
    r.prompt = std::move(prompt);
    const bool stream = Bool(b, "stream", false);
    const bool usage_in_stream = b.contains("stream_options") && b["stream_options"].is_object() &&
                                 b["stream_options"].value("include_usage", false);
    const bool logprobs = r.top_logprobs >= 0;
    std::shared_ptr<RequestHandle> h = Submit(std::move(r));
    const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(Now()) + "-" +
                           std::to_string(reinterpret_cast<uintptr_t>(h.get()) % 1000000);
    const int64_t created = Now();
    const std::string model = opt.model_id;

    if (!stream) {
      ThinkSplitter think(opened_think);
      std::string text, reasoning, content;
      json lp = json::array();
      GenEvent ev;
      for (;;) {
        ev = Wait(*h, [] { return true; });
        if (ev.token >= 0 && logprobs) lp.push_back(LogprobEntry(ev, chat));
        text += ev.text;
        if (chat) think.Push(ev.text, &reasoning, &content);
        if (ev.done) break;
      }
      if (!ev.error.empty()) throw ApiError{500, "server_error", ev.error};
      json choice = {{"index", 0}, {"finish_reason", ev.finish_reason}};
      if (chat) {
        think.Flush(&reasoning, &content);
        json msg = {{"role", "assistant"}, {"content", content}};
        if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
        choice["message"] = msg;
        choice["logprobs"] = logprobs ? json{{"content", lp}} : json();
      } else {
        choice["text"] = text;
        if (logprobs) {
          json tokens = json::array(), token_lp = json::array(), tops = json::array();
          for (const json& e : lp) {
            tokens.push_back(e["token"]);
            token_lp.push_back(e["logprob"]);
            json m = json::object();
            for (const json& t : e["top_logprobs"]) m[t["token"].get<std::string>()] = t["logprob"];
            tops.push_back(m);
          }
          choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", token_lp}, {"top_logprobs", tops}};
        } else {
          choice["logprobs"] = nullptr;
        }
      }
      json out = {{"id", id},
                  {"object", chat ? "chat.completion" : "text_completion"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({choice})},
                  {"usage", Usage(ev)},
                  {"timings", Timings(ev)}};
      res.set_content(Dump(out), "application/json");
      return;
    }

    // SSE: one chunk per sampled token; a client that goes away cancels the request (its slot
    // is freed at the next step).
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, h, chat, logprobs, id, created, model, opened_think, usage_in_stream](
            size_t, httplib::DataSink& sink) {
          ThinkSplitter think(opened_think);
          auto send = [&](const json& j) {
            const std::string s = "data: " + Dump(j) + "\n\n";
            return sink.write(s.data(), s.size());
          };
          auto chunk = [&](json delta_or_text, const json& finish, const json& lp) {
            json choice = {{"index", 0}, {"finish_reason", finish}};
            if (chat) choice["delta"] = delta_or_text;
            else choice["text"] = delta_or_text;
            choice["logprobs"] = lp;
            return json{{"id", id},
                        {"object", chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", created},
                        {"model", model},
                        {"choices", json::array({choice})}};
          };
          if (chat && !send(chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr))) {
            h->Cancel();
            return false;
          }
          for (;;) {
            GenEvent ev = Wait(*h, [&] { return sink.is_writable(); });
            if (!ev.error.empty()) {
              if (ev.error != "client disconnected")
                send(json{{"error", {{"message", ev.error}, {"type", "server_error"}, {"code", 500}}}});
              h->Cancel();
              return false;
            }
            json lp = nullptr;
            if (logprobs && ev.token >= 0) {
              json e = LogprobEntry(ev, chat);
              if (chat) {
                lp = {{"content", json::array({e})}};
              } else {
                json m = json::object();
                for (const json& t : e["top_logprobs"]) m[t["token"].get<std::string>()] = t["logprob"];
                lp = {{"tokens", {e["token"]}}, {"token_logprobs", {e["logprob"]}}, {"top_logprobs", {m}}};
              }
            }
            std::string reasoning, content;
            if (chat) {
              think.Push(ev.text, &reasoning, &content);
              if (ev.done) think.Flush(&reasoning, &content);
            }
            bool ok = true;
            if (chat) {
              json delta = json::object();
              if (!content.empty()) delta["content"] = content;
              if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
              if (!delta.empty() || !lp.is_null()) ok = send(chunk(delta, nullptr, lp));
            } else if (!ev.text.empty() || !lp.is_null()) {
              ok = send(chunk(ev.text, nullptr, lp));
            }
            if (ok && ev.done) {
              json last = chunk(chat ? json::object() : json(""), ev.finish_reason, nullptr);
              last["timings"] = Timings(ev);
              if (usage_in_stream) last["usage"] = Usage(ev);
              ok = send(last);
              const std::string done = "data: [DONE]\n\n";
              if (ok) ok = sink.write(done.data(), done.size());
              if (ok) sink.done();
              return ok;
            }
            if (!ok) {
              h->Cancel();
              return false;
            }
          }
        });
  }

  void Routes() {
    auto wrap = [this](auto fn) {
      return [this, fn](const httplib::Request& req, httplib::Response& res) {
        try {
          fn(req, res);
        } catch (const ApiError& e) {
          SendError(res, e);
        } catch (const std::exception& e) {
          SendError(res, {500, "server_error", e.what()});
        }
      };
    };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (opt.api_key.empty() || req.path == "/" || req.path == "/health" || req.method == "OPTIONS")
        return httplib::Server::HandlerResponse::Unhandled;
      std::string key = req.get_header_value("Authorization");
      if (key.rfind("Bearer ", 0) == 0) key = key.substr(7);
      else key = req.get_header_value("X-Api-Key");
      if (key == opt.api_key) return httplib::Server::HandlerResponse::Unhandled;
      SendError(res, {401, "authentication_error", key.empty() ? "missing API key" : "invalid API key"});
      return httplib::Server::HandlerResponse::Handled;
    });
    http.Post("/v1/chat/completions", wrap([this](const auto& q, auto& r) { Completion(q, r, true); }));
    http.Post("/chat/completions", wrap([this](const auto& q, auto& r) { Completion(q, r, true); }));
    http.Post("/v1/completions", wrap([this](const auto& q, auto& r) { Completion(q, r, false); }));
    http.Post("/completions", wrap([this](const auto& q, auto& r) { Completion(q, r, false); }));
    auto models = wrap([this](const httplib::Request&, httplib::Response& res) {
      json m = {{"id", opt.model_id},
                {"object", "model"},
                {"created", Now()},
                {"owned_by", "mla.cpp"},
                {"meta", {{"n_ctx_slot", scheduler->slot_ctx()},
                          {"n_slots", scheduler->n_slots()},
                          {"n_vocab", engine->tokenizer().n_vocab()}}}};
      res.set_content(Dump({{"object", "list"}, {"data", json::array({m})}}), "application/json");
    });
    http.Get("/v1/models", models);
    http.Get("/models", models);
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    http.Post("/tokenize", wrap([this](const httplib::Request& req, httplib::Response& res) {
      const json b = ParseBody(req);
      if (!b.contains("content") || !b["content"].is_string())
        throw BadRequest("'content': expected a string");
      auto ids = engine->tokenizer().Encode(b["content"].get<std::string>(),
                                            Bool(b, "add_special", false), Bool(b, "parse_special", true));
      if (!ids.ok()) throw BadRequest(ids.status().message());
      json toks = json::array();
      if (Bool(b, "with_pieces", false)) {
        for (int32_t id : *ids) toks.push_back({{"id", id}, {"piece", engine->tokenizer().TokenToPiece(id, true)}});
      } else {
        toks = *ids;
      }
      res.set_content(Dump({{"tokens", toks}}), "application/json");
    }));
    http.Post("/detokenize", wrap([this](const httplib::Request& req, httplib::Response& res) {
      const json b = ParseBody(req);
      if (!b.contains("tokens") || !b["tokens"].is_array()) throw BadRequest("'tokens': expected an array of token ids");
      std::vector<int32_t> ids;
      for (const json& x : b["tokens"]) {
        if (!x.is_number_integer()) throw BadRequest("'tokens': expected token ids, found " + x.dump());
        const int64_t id = x.get<int64_t>();
        if (id < 0 || id >= engine->tokenizer().n_vocab())
          throw BadRequest("'tokens': id " + std::to_string(id) + " out of range 0 to " +
                           std::to_string(engine->tokenizer().n_vocab() - 1));
        ids.push_back(int32_t(id));
      }
      res.set_content(Dump({{"content", engine->tokenizer().Decode(ids, false)}}), "application/json");
    }));
    http.Get("/metrics", wrap([this](const httplib::Request&, httplib::Response& res) {
      if (!opt.metrics) throw ApiError{501, "not_supported_error", "metrics are off; start the server with --metrics"};
      const Metrics m = scheduler->metrics();
      std::string out;
      auto add = [&](const char* name, const char* type, const char* help, double v) {
        out += std::string("# HELP mla:") + name + " " + help + "\n# TYPE mla:" + name + " " + type +
               "\nmla:" + name + " " + std::to_string(v) + "\n";
      };
      add("requests_total", "counter", "Requests received.", double(m.requests));
      add("requests_done_total", "counter", "Requests finished.", double(m.requests_done));
      add("prompt_tokens_total", "counter", "Prompt tokens evaluated.", double(m.prompt_tokens));
      add("prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.", double(m.cached_tokens));
      add("tokens_predicted_total", "counter", "Tokens generated.", double(m.generated_tokens));
      add("forward_passes_total", "counter", "Forward passes (batched steps).", double(m.forward_passes));
      add("context_shifts_total", "counter", "Context shifts.", double(m.context_shifts));
      add("prompt_tokens_seconds", "gauge", "Prompt evaluation speed (tokens/s).",
          m.prompt_ms > 0 ? double(m.prompt_tokens) * 1000.0 / m.prompt_ms : 0);
      add("predicted_tokens_seconds", "gauge", "Generation speed (tokens/s).",
          m.gen_ms > 0 ? double(m.generated_tokens) * 1000.0 / m.gen_ms : 0);
      add("requests_processing", "gauge", "Slots busy.", double(m.slots_busy));
      add("requests_deferred", "gauge", "Requests waiting for a slot.", double(m.queued));
      res.set_content(out, "text/plain; version=0.0.4");
    }));
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kChatPage, "text/html; charset=utf-8");
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      const std::string msg = res.status == 404 ? "no such endpoint" : "request failed";
      SendError(res, {res.status, res.status == 404 ? "not_found_error" : "invalid_request_error", msg});
    });
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::Create(Engine& engine, Scheduler& scheduler,
                                                       const HttpOptions& options) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  im.engine = &engine;
  im.scheduler = &scheduler;
  im.opt = options;
  const int n_threads = options.n_http_threads;
  im.http.new_task_queue = [n_threads] { return new httplib::ThreadPool(size_t(n_threads)); };
  im.http.set_read_timeout(options.timeout_s, 0);
  im.http.set_write_timeout(options.timeout_s, 0);
  im.http.set_payload_max_length(size_t(64) << 20);
  im.Routes();
  return s;
}

HttpServer::~HttpServer() = default;

Status HttpServer::Bind() {
  if (impl_->opt.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(impl_->opt.host);
    if (impl_->port <= 0) return Errorf("cannot bind to %s on any port", impl_->opt.host.c_str());
  } else {
    if (!impl_->http.bind_to_port(impl_->opt.host, impl_->opt.port))
      return Errorf("cannot bind to %s:%d (in use, or not an address of this machine)",
                    impl_->opt.host.c_str(), impl_->opt.port);
    impl_->port = impl_->opt.port;
  }
  return Status::Ok();
}

int HttpServer::port() const { return impl_->port; }
void HttpServer::Serve() { impl_->http.listen_after_bind(); }
void HttpServer::Stop() { impl_->http.stop(); }

}  // namespace mla::server
