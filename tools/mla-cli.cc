// mla-cli: run a DeepSeek-V2/V3 GGUF from the command line, with llama-cli-like flags.
// A thin layer over the public API (include/mla/mla.h): flags -> Engine/Session/Sampler.
#include <CLI/CLI.hpp>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/log.h"
#include "mla/mla.h"

namespace {

constexpr const char* kDefaultModel = "models/ds3-demo.Q4_K_M.gguf";

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-cli: %s\n", message.c_str());
  return 1;
}

// llama.cpp spells some options with one dash and several letters; CLI11 wants two dashes.
std::vector<std::string> NormaliseArgs(int argc, char** argv) {
  static const std::map<std::string, std::string> kAliases = {
      {"-cnv", "--conversation"}, {"-ctk", "--cache-type"}, {"--cache-type-k", "--cache-type"},
      {"-sys", "--system-prompt"}, {"-tb", "--threads"}, {"-nr", "--no-repack"},
  };
  std::vector<std::string> out;
  for (int i = argc - 1; i >= 1; --i) {  // CLI11 parses a reversed vector
    auto it = kAliases.find(argv[i]);
    out.push_back(it == kAliases.end() ? argv[i] : it->second);
  }
  return out;
}

mla::Result<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t\n"), e = item.find_last_not_of(" \t\n");
    if (b == std::string::npos) return mla::Errorf("--tokens: expected comma-separated ids, found an empty item in '%s'", text.c_str());
    item = item.substr(b, e - b + 1);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || v < 0 || v > INT32_MAX)
      return mla::Errorf("--tokens: expected a non-negative integer id, found '%s'", item.c_str());
    ids.push_back(int32_t(v));
  }
  if (ids.empty()) return mla::Status::Error("--tokens: expected at least one id, found none");
  return ids;
}

mla::Status WriteNpy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  std::string header = mla::Format("{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRId64 ", %" PRId64 "), }",
                                   rows, cols);
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) return mla::Errorf("--logits-out: cannot write '%s'", path.c_str());
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(header.size());
  out.put(char(len & 0xff));
  out.put(char(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size_t(rows * cols) * sizeof(float)));
  if (!out) return mla::Errorf("--logits-out: error writing '%s'", path.c_str());
  return mla::Status::Ok();
}

void PrintTimings(double load_ms, const mla::GenerateStats& s) {
  auto rate = [](int64_t n, double ms) { return ms > 0 ? 1000.0 * double(n) / ms : 0.0; };
  std::fprintf(stderr, "\n\ntimings: load %.2f ms\n", load_ms);
  std::fprintf(stderr, "timings: prompt %" PRId64 " tokens in %.2f ms (%.2f tokens/s)\n", s.n_prompt,
               s.prompt_ms, rate(s.n_prompt, s.prompt_ms));
  std::fprintf(stderr, "timings: generation %" PRId64 " tokens in %.2f ms (%.2f tokens/s)\n",
               s.n_decoded, s.gen_ms, rate(s.n_decoded, s.gen_ms));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mla-cli: run a DeepSeek-V2/V3 (MLA) GGUF model"};
  std::string model_path = kDefaultModel, prompt, prompt_file, system_prompt, tokens_arg,
              logits_out, cache_type = "f16", chat_template;
  std::vector<std::string> overrides;
  int64_t n_predict = -1, n_ctx = 4096, n_batch = 512;
  int threads = 0;
  bool conversation = false, verbose = false, quiet = false, no_display_prompt = false;
  mla::SamplingParams sp;
  app.add_option("-m,--model", model_path, "GGUF model file")->capture_default_str();
  app.add_option("-p,--prompt", prompt, "prompt text");
  app.add_option("-f,--file", prompt_file, "read the prompt from a file");
  auto* n_opt = app.add_option("-n,--n-predict", n_predict, "tokens to generate (-1: until end of text or full context)")->capture_default_str();
  app.add_option("-c,--ctx-size", n_ctx, "context size in tokens (0: the model's)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (0: one per hardware thread)")->capture_default_str();
  app.add_option("-b,--batch-size", n_batch, "tokens per prefill batch")->capture_default_str();
  app.add_option("--temp", sp.temperature, "temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", sp.top_k, "top-k (0: off)")->capture_default_str();
  app.add_option("--top-p", sp.top_p, "top-p (1: off)")->capture_default_str();
  app.add_option("--min-p", sp.min_p, "min-p (0: off)")->capture_default_str();
  app.add_option("--repeat-penalty", sp.repeat_penalty, "repetition penalty (1: off)")->capture_default_str();
  app.add_option("--repeat-last-n", sp.repeat_last_n, "tokens the penalty looks back (-1: all)")->capture_default_str();
  app.add_option("-s,--seed", sp.seed, "random seed (4294967295: random)")->capture_default_str();
  app.add_option("--cache-type", cache_type, "latent cache type: f32, f16, bf16, q8_0 (aliases -ctk, --cache-type-k)")->capture_default_str();
  app.add_option("--override-kv", overrides, "override model metadata: KEY=TYPE:VALUE, TYPE int|float|bool|str");
  app.add_flag("--conversation", conversation, "interactive chat with the model's chat template (-cnv)");
  app.add_option("--system-prompt", system_prompt, "system message for -cnv (-sys)");
  app.add_option("--chat-template", chat_template, "chat format name instead of the detected one: " + mla::ChatFormatNames());
  app.add_option("--tokens", tokens_arg, "evaluate these ids (ID,ID,...) from position 0, no BOS added");
  app.add_option("--logits-out", logits_out, "write float32 logits [n_prompt_tokens, n_vocab] of every prompt position to FILE.npy");
  std::string attention = "auto";
  app.add_option("--attention", attention, "MLA form: auto (fewest multiply-adds per batch), absorbed, decompressed")
      ->check(CLI::IsMember({"auto", "absorbed", "decompressed"}))->capture_default_str();
  bool context_shift = false;
  int64_t n_keep = 0;
  app.add_flag("--context-shift", context_shift, "at a full context keep --keep tokens, drop half the rest and go on");
  app.add_option("--keep,--n-keep", n_keep, "tokens kept at the start on a context shift (-1: the prompt)")->capture_default_str();
  app.add_flag("--no-display-prompt", no_display_prompt, "do not print the prompt");
  bool no_repack = false;
  app.add_flag("--no-repack", no_repack, "-nr: keep the file's row-major weights (no interleaved repacking at load)");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("--log-disable", quiet, "no log output (errors only)");
  try {
    app.parse(NormaliseArgs(argc, argv));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fail(e.what());
  }
  mla::SetLogLevel(quiet ? mla::LogLevel::kError : verbose ? mla::LogLevel::kDebug : mla::LogLevel::kInfo);

  // Flag checks before anything is loaded.
  if (auto st = mla::Sampler::Validate(sp); !st.ok()) return Fail(st.message());
  auto ctype = mla::ParseCacheType(cache_type);
  if (!ctype.ok()) return Fail(ctype.status().message());
  if (n_ctx < 0) return Fail(mla::Format("-c: expected >= 0, found %" PRId64, n_ctx));
  if (n_batch <= 0) return Fail(mla::Format("-b: expected > 0, found %" PRId64, n_batch));
  if (threads < 0) return Fail(mla::Format("-t: expected >= 0, found %d", threads));
  if (!prompt.empty() + !prompt_file.empty() + !tokens_arg.empty() > 1)
    return Fail("give only one of -p, -f and --tokens");
  if (conversation && (!tokens_arg.empty() || !logits_out.empty()))
    return Fail("-cnv cannot be combined with --tokens or --logits-out");
  mla::EngineOptions eo;
  eo.model_path = model_path;
  eo.n_threads = threads;
  eo.load.repack = !no_repack;
  for (const std::string& o : overrides) {
    auto kv = mla::ParseKvOverride(o);
    if (!kv.ok()) return Fail(kv.status().message());
    eo.load.overrides.push_back(*kv);
  }
  std::vector<int32_t> ids;
  if (!tokens_arg.empty()) {
    auto parsed = ParseIds(tokens_arg);
    if (!parsed.ok()) return Fail(parsed.status().message());
    ids = *parsed;
    if (n_opt->count() == 0) n_predict = 0;  // --tokens evaluates; generate only when asked
  }
  if (!prompt_file.empty()) {
    std::ifstream in(prompt_file, std::ios::binary);
    if (!in) return Fail("-f: cannot read '" + prompt_file + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    prompt = ss.str();
  }

  auto engine_r = mla::Engine::Load(eo);
  if (!engine_r.ok()) return Fail(engine_r.status().message());
  mla::Engine& engine = **engine_r;
  const mla::Tokenizer& tok = engine.tokenizer();
  const int64_t n_vocab = engine.model().config().n_vocab;

  mla::SessionOptions so;
  so.n_ctx = n_ctx == 0 ? engine.model().config().n_ctx_train : n_ctx;
  so.n_batch = n_batch;
  so.cache_type = *ctype;
  so.logits_all = !logits_out.empty();
  so.attention = attention == "absorbed"       ? mla::AttentionMode::kAbsorbed
                 : attention == "decompressed" ? mla::AttentionMode::kDecompressed
                                               : mla::AttentionMode::kAuto;
  auto session_r = engine.NewSession(so);
  if (!session_r.ok()) return Fail(session_r.status().message());
  mla::Session& session = **session_r;
  auto sampler_r = mla::Sampler::Create(sp, int32_t(n_vocab));
  if (!sampler_r.ok()) return Fail(sampler_r.status().message());
  mla::Sampler& sampler = *sampler_r;
  mla::Log(mla::LogLevel::kInfo, "sampling: temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, seed %llu",
           double(sp.temperature), sp.top_k, double(sp.top_p), double(sp.min_p), double(sp.repeat_penalty),
           static_cast<unsigned long long>(sampler.seed()));

  mla::GenerateStats stats;
  mla::StreamDecoder stream(tok);
  auto print_token = [&](int32_t id) {
    if (!tok.IsEndOfGeneration(id)) {
      std::fputs(stream.Push(id).c_str(), stdout);
      std::fflush(stdout);
    }
    return true;
  };

  if (conversation) {
    bool recognised = false;
    mla::ChatFormat format = mla::DetectChatFormat(tok.chat_template(), &recognised);
    if (!chat_template.empty()) {
      auto f = mla::ChatFormatFromName(chat_template);
      if (!f) return Fail("--chat-template: expected one of " + mla::ChatFormatNames() + ", found '" + chat_template + "'");
      format = *f;
    }
    mla::Log(mla::LogLevel::kInfo, "chat format: %s", mla::ChatFormatName(format));
    std::vector<mla::ChatMessage> messages;
    if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
    const std::string bos = tok.bos() >= 0 ? tok.TokenText(tok.bos()) : "";
    const std::string eos = tok.eos() >= 0 ? tok.TokenText(tok.eos()) : "";
    std::string line;
    while (true) {
      std::fputs("\n> ", stdout);
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      messages.push_back({"user", line});
      const std::string text = mla::RenderChat(format, messages, true, bos, eos);
      auto enc = tok.Encode(text, false, true);
      if (!enc.ok()) return Fail(enc.status().message());
      // Multi-turn: keep the cached prefix the new rendering shares, evaluate the rest.
      const std::vector<int32_t>& have = session.tokens();
      size_t common = 0;
      while (common < have.size() && common < enc->size() && have[common] == (*enc)[common]) ++common;
      if (common == enc->size()) --common;  // re-evaluate one token for fresh logits
      if (auto st = session.Truncate(int64_t(common)); !st.ok()) return Fail(st.message());
      std::vector<int32_t> rest(enc->begin() + int64_t(common), enc->end());
      std::string reply;
      mla::StreamDecoder reply_stream(tok);
      auto on_token = [&](int32_t id) {
        if (!tok.IsEndOfGeneration(id)) {
          const std::string piece = reply_stream.Push(id);
          reply += piece;
          std::fputs(piece.c_str(), stdout);
          std::fflush(stdout);
        }
        return true;
      };
      mla::GenerateOptions go;
      go.n_predict = n_predict;
      go.context_shift = context_shift;
      go.n_keep = std::max<int64_t>(n_keep, 0);
      mla::GenerateStats turn;
      if (auto st = mla::Generate(session, sampler, tok, rest, go, on_token, &turn); !st.ok())
        return Fail(st.message());
      const std::string tail = reply_stream.Flush();
      reply += tail;
      std::fputs(tail.c_str(), stdout);
      stats.n_prompt += turn.n_prompt, stats.prompt_ms += turn.prompt_ms;
      stats.n_generated += turn.n_generated, stats.n_decoded += turn.n_decoded, stats.gen_ms += turn.gen_ms;
      messages.push_back({"assistant", reply});
      if (turn.context_full) {
        std::fprintf(stderr, "\nmla-cli: context full (%" PRId64 " tokens); start again with a larger -c\n", session.n_ctx());
        break;
      }
    }
    PrintTimings(engine.load_ms(), stats);
    return 0;
  }

  if (ids.empty()) {
    auto enc = tok.Encode(prompt, true, true);
    if (!enc.ok()) return Fail(enc.status().message());
    ids = *enc;
    if (ids.empty()) return Fail("the prompt is empty and the model adds no BOS: nothing to evaluate");
    if (!no_display_prompt) {
      std::fputs(prompt.c_str(), stdout);
      std::fflush(stdout);
    }
  }
  std::vector<float> prompt_logits;
  mla::GenerateOptions go;
  go.n_predict = n_predict;
  go.context_shift = context_shift;
  go.n_keep = n_keep < 0 ? int64_t(ids.size()) : n_keep;
  if (!logits_out.empty()) {
    prompt_logits.resize(ids.size() * size_t(n_vocab));
    go.prompt_logits = prompt_logits.data();
  }
  if (auto st = mla::Generate(session, sampler, tok, ids, go, print_token, &stats); !st.ok())
    return Fail(st.message());
  std::fputs(stream.Flush().c_str(), stdout);
  std::fflush(stdout);
  if (stats.context_full)
    std::fprintf(stderr, "\nmla-cli: context full (%" PRId64 " tokens)\n", session.n_ctx());
  if (!logits_out.empty()) {
    if (auto st = WriteNpy(logits_out, prompt_logits.data(), int64_t(ids.size()), n_vocab); !st.ok())
      return Fail(st.message());
    mla::Log(mla::LogLevel::kInfo, "wrote logits [%zu, %" PRId64 "] to %s", ids.size(), n_vocab, logits_out.c_str());
  }
  PrintTimings(engine.load_ms(), stats);
  return 0;
}
