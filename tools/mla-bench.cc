// mla-bench: prompt and generation speed, with llama-bench's flags and output formats, plus a
// sweep over the context (like llama-sweep-bench). Every result also says how close it comes to
// the machine: effective bandwidth (bytes a generated token reads: dense weights, active experts,
// latent cache) against the read bandwidth measured in the same run, and for prompts the
// multiply-adds per second against the measured peak of the engine's matmul kernel.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/cpu.h"
#include "base/log.h"
#include "base/profile.h"
#include "convert/quant_mix.h"
#include "convert/synth.h"
#include "mla/mla.h"
#include "runtime/bench_cost.h"
#include "runtime/bench_machine.h"

namespace {

using json = nlohmann::ordered_json;  // fields in llama-bench's order

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-bench: %s\n", message.c_str());
  return 1;
}

// "AMD EPYC (AVX2 AVX512 ...)": the model name of /proc/cpuinfo and the features the kernels use.
std::string CpuInfo() {
  static const std::string info = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line, name;
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) name = line.substr(line.find_first_not_of(" \t", colon + 1));
        break;
      }
    return (name.empty() ? std::string("unknown CPU") : name) + " (" + mla::Cpu().Describe() + ")";
  }();
  return info;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// llama-bench spells options with one dash and several letters; CLI11 wants two dashes.
std::vector<std::string> NormaliseArgs(int argc, char** argv) {
  static const std::map<std::string, std::string> kAliases = {
      {"-pg", "--prompt-gen"}, {"-ub", "--ubatch-size"}, {"-ctk", "--cache-type"},
      {"--cache-type-k", "--cache-type"}, {"-nkvo", "--no-kv-offload"}, {"-nr", "--no-repack"},
  };
  std::vector<std::string> out;
  for (int i = argc - 1; i >= 1; --i) {  // CLI11 parses a reversed vector
    auto it = kAliases.find(argv[i]);
    out.push_back(it == kAliases.end() ? argv[i] : it->second);
  }
  return out;
}

// "512,1024" or "0-8192+1024" (llama-bench's range syntax: first-last+step).
mla::Result<std::vector<int64_t>> ParseIntList(const std::vector<std::string>& items, const char* flag,
                                              int64_t min_value) {
  std::vector<int64_t> out;
  for (const std::string& all : items) {
    std::stringstream ss(all);
    std::string item;
    while (std::getline(ss, item, ',')) {
      long long a = 0, b = 0, step = 1;
      char c1 = 0, c2 = 0;
      int used = 0;
      if (std::sscanf(item.c_str(), "%lld%n", &a, &used) == 1 && size_t(used) == item.size()) {
        b = a;
      } else if (std::sscanf(item.c_str(), "%lld%c%lld%c%lld%n", &a, &c1, &b, &c2, &step, &used) == 5 &&
                 c1 == '-' && c2 == '+' && size_t(used) == item.size() && step > 0 && b >= a) {
      } else {
        return mla::Errorf("%s: expected integers or first-last+step ranges, found '%s'", flag, item.c_str());
      }
      for (long long v = a; v <= b; v += step) {
        if (v < min_value) return mla::Errorf("%s: expected values >= %lld, found %lld", flag, (long long)min_value, v);
        out.push_back(v);
      }
    }
  }
  return out;
}

// One result row (llama-bench's fields plus the machine-relative ones).
struct Row {
  std::string model_filename, model_type, type_k;
  uint64_t model_size = 0, model_n_params = 0;
  int n_threads = 0;
  int64_t n_batch = 0, n_ubatch = 0, n_prompt = 0, n_gen = 0, n_depth = 0;
  std::vector<double> samples_ns;
  double bytes = 0, macs = 0;  // per repetition: bytes read by its generation, multiply-adds of its prompt
  double bw = 0, peak = 0;     // measured in this run (bytes/s, MAC/s)

  std::string TestName() const {
    std::string s = n_gen == 0 ? "pp" + std::to_string(n_prompt)
                  : n_prompt == 0 ? "tg" + std::to_string(n_gen)
                  : "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen);
    if (n_depth > 0) s += " @ d" + std::to_string(n_depth);
    return s;
  }
  double Mean(const std::vector<double>& v) const {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / double(v.size());
  }
  double Std(const std::vector<double>& v) const {
    if (v.size() < 2) return 0;
    const double m = Mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
  }
  std::vector<double> SamplesTs() const {
    std::vector<double> ts;
    for (double ns : samples_ns) ts.push_back(1e9 * double(n_prompt + n_gen) / ns);
    return ts;
  }
  // Effective bandwidth of pure generation tests; multiply-add rate of pure prompt tests.
  double GBs() const { return n_prompt == 0 && n_gen > 0 ? bytes / (Mean(samples_ns) * 1e-9) / 1e9 : NAN; }
  double GMACs() const { return n_gen == 0 && n_prompt > 0 ? macs / (Mean(samples_ns) * 1e-9) / 1e9 : NAN; }

  json ToJson() const {
    return json{{"model_filename", model_filename}, {"model_type", model_type},
                {"model_size", model_size}, {"model_n_params", model_n_params},
                {"backend", "CPU"}, {"cpu_info", CpuInfo()}, {"n_threads", n_threads},
                {"n_batch", n_batch}, {"n_ubatch", n_ubatch}, {"type_k", type_k},
                {"n_prompt", n_prompt}, {"n_gen", n_gen}, {"n_depth", n_depth},
                {"avg_ns", uint64_t(Mean(samples_ns))}, {"stddev_ns", uint64_t(Std(samples_ns))},
                {"avg_ts", Mean(SamplesTs())}, {"stddev_ts", Std(SamplesTs())},
                {"samples_ns", samples_ns}, {"samples_ts", SamplesTs()},
                {"bytes_per_rep", bytes}, {"macs_per_rep", macs},
                {"eff_gbs", std::isnan(GBs()) ? json(nullptr) : json(GBs())},
                {"measured_bw_gbs", bw / 1e9},
                {"bw_share", std::isnan(GBs()) ? json(nullptr) : json(GBs() * 1e9 / bw)},
                {"gmacs", std::isnan(GMACs()) ? json(nullptr) : json(GMACs())},
                {"measured_peak_gmacs", peak / 1e9},
                {"peak_share", std::isnan(GMACs()) ? json(nullptr) : json(GMACs() * 1e9 / peak)}};
  }
};

std::string Fmt(const char* f, double v) { return std::isnan(v) ? "-" : mla::Format(f, v); }

// Markdown like llama-bench: a header once, then one line per result as it is measured.
class Printer {
 public:
  explicit Printer(std::string format) : format_(std::move(format)) {}
  void Add(const Row& r) {
    if (format_ == "md") return Md(r);
    if (format_ == "csv") return Csv(r);
    if (format_ == "jsonl") {
      std::printf("%s\n", r.ToJson().dump().c_str());
      std::fflush(stdout);
      return;
    }
    rows_.push_back(r.ToJson());
  }
  void Finish() {
    if (format_ == "json") std::printf("%s\n", rows_.dump(2).c_str());
  }

 private:
  void Md(const Row& r) {
    if (!header_) {
      std::printf("| model | size | params | backend | threads | type_k | n_ubatch | test | t/s | GB/s | %% of bw | GMAC/s | %% of peak |\n");
      std::printf("| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      header_ = true;
    }
    const auto ts = r.SamplesTs();
    const double gib = double(r.model_size) / (1024.0 * 1024 * 1024);
    const std::string size = gib >= 1 ? mla::Format("%.2f GiB", gib) : mla::Format("%.2f MiB", gib * 1024);
    const double params = double(r.model_n_params);
    const std::string np = params >= 1e9 ? mla::Format("%.2f B", params / 1e9) : mla::Format("%.2f M", params / 1e6);
    std::printf("| %s | %s | %s | CPU | %d | %s | %lld | %s | %.2f ± %.2f | %s | %s | %s | %s |\n",
                r.model_type.c_str(), size.c_str(), np.c_str(), r.n_threads, r.type_k.c_str(), (long long)r.n_ubatch,
                r.TestName().c_str(), r.Mean(ts), r.Std(ts), Fmt("%.1f", r.GBs()).c_str(),
                Fmt("%.0f %%", 100 * r.GBs() * 1e9 / r.bw).c_str(), Fmt("%.1f", r.GMACs()).c_str(),
                Fmt("%.0f %%", 100 * r.GMACs() * 1e9 / r.peak).c_str());
    std::fflush(stdout);
  }
  void Csv(const Row& r) {
    const json j = r.ToJson();
    if (!header_) {
      std::string h;
      for (auto it = j.begin(); it != j.end(); ++it) h += (h.empty() ? "" : ",") + it.key();
      std::printf("%s\n", h.c_str());
      header_ = true;
    }
    std::string line;
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string v = it->is_string() ? it->get<std::string>() : it->dump();
      if (v.find_first_of(",\"") != std::string::npos) {
        std::string q = "\"";
        for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
        v = q + "\"";
      }
      line += (line.empty() ? "" : ",") + v;
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  std::string format_;
  bool header_ = false;
  json rows_ = json::array();
};

// "deepseek2 16B Q4_0", as llama-bench names models.
std::string ModelType(const mla::gguf::File& f, uint64_t params) {
  std::string arch = f.GetStringOr("general.architecture", "?").value();
  std::string ftype = "?";
  if (auto id = f.GetU64("general.file_type"); id.ok())
    for (const auto& t : mla::convert::FileTypes())
      if (t.id == id.value()) ftype = t.name;
  const std::string n = params >= 1e9 ? mla::Format("%.0fB", double(params) / 1e9)
                                       : mla::Format("%.0fM", double(params) / 1e6);
  return arch + " " + n + " " + ftype;
}

// The weight type holding most bytes (the kernel whose peak prompts are compared with).
mla::DType MainType(const mla::gguf::File& f) {
  std::map<mla::DType, uint64_t> bytes;
  for (const auto& t : f.tensors()) bytes[t.type] += t.nbytes;
  return std::max_element(bytes.begin(), bytes.end(),
                          [](auto& a, auto& b) { return a.second < b.second; })->first;
}

struct Options {
  bool no_repack = false;
  std::vector<std::string> models, prompts{"512"}, gens{"128"}, pgs, depths{"0"}, threads, ctks{"f16"};
  std::vector<std::string> batches{"2048"}, ubatches{"512"};
  int reps = 5;
  std::string output = "md";
  bool sweep = false;
  int64_t sweep_ctx = 8704, sweep_gen = -1;
  uint64_t bw_bytes = 2ull << 30;
  int bw_passes = 5;
  bool bandwidth_only = false, no_warmup = false, verbose = false, profile = false;
  uint64_t seed = 1234;
  // --synthetic: write missing model files first.
  bool synthetic = false, write_only = false;
  mla::convert::SynthOptions synth;
  std::string layout = "mla";
};

class Tokens {  // random ids, like llama-bench (BOS first when the model adds one)
 public:
  Tokens(uint64_t seed, int64_t n_vocab, int32_t bos) : rng_(seed), dist_(0, int32_t(n_vocab - 1)), bos_(bos) {}
  std::vector<int32_t> Prompt(int64_t n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& t : v) t = dist_(rng_);
    if (n > 0 && bos_ >= 0) v[0] = bos_;
    return v;
  }
  int32_t Next() { return dist_(rng_); }

 private:
  std::mt19937_64 rng_;
  std::uniform_int_distribution<int32_t> dist_;
  int32_t bos_;
};

mla::Status Prompt(mla::Session& s, Tokens& tok, int64_t n) { return n > 0 ? s.Decode(tok.Prompt(n)) : mla::Status::Ok(); }

mla::Status Generate(mla::Session& s, Tokens& tok, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = tok.Next();
    MLA_RETURN_IF_ERROR(s.Decode(&t, 1));
  }
  return mla::Status::Ok();
}

// Time per token by forward-pass stage (ms) and its share of the timed runs' wall time; what is
// left is outside the stages (tokenization-free Decode bookkeeping, batch setup).
void PrintProfile(const std::string& test, int threads, const mla::profile::Totals& t,
                  const std::vector<double>& samples_ns, int64_t tokens_per_run) {
  double wall = 0;
  for (double v : samples_ns) wall += v;
  const double tokens = double(tokens_per_run) * double(samples_ns.size());
  if (wall <= 0 || tokens <= 0) return;
  std::fprintf(stderr, "mla-bench: profile of %s, %d threads (ms per token, share of wall time):\n", test.c_str(),
               threads);
  std::vector<std::pair<int64_t, int>> order;
  for (int i = 0; i < int(mla::profile::Stage::kCount); ++i) order.emplace_back(t.ns[size_t(i)], i);
  std::sort(order.rbegin(), order.rend());
  for (auto [ns, i] : order)
    if (ns > 0)
      std::fprintf(stderr, "  %-24s %8.3f  %5.1f %%\n", mla::profile::Name(mla::profile::Stage(i)),
                   double(ns) / tokens * 1e-6, 100.0 * double(ns) / wall);
  const double rest = wall - double(t.total());
  std::fprintf(stderr, "  %-24s %8.3f  %5.1f %%\n", "outside the stages", rest / tokens * 1e-6, 100.0 * rest / wall);
}

struct Machine {
  double bw = 0, peak = 0;
};

mla::Result<Machine> MeasureMachine(mla::ThreadPool& pool, mla::DType type, const Options& o) {
  Machine m;
  std::fprintf(stderr, "mla-bench: measuring read bandwidth (%d threads, %.1f GiB, %d passes)...\n", pool.size(),
               double(o.bw_bytes) / (1 << 30), o.bw_passes);
  MLA_ASSIGN_OR_RETURN(mla::Measured bw, mla::MeasureReadBandwidth(pool, o.bw_bytes, o.bw_passes));
  MLA_ASSIGN_OR_RETURN(mla::Measured pk, mla::MeasureKernelPeak(pool, type, 3));
  std::string passes;
  for (double p : bw.passes) passes += mla::Format(" %.1f", p / 1e9);
  std::fprintf(stderr, "mla-bench: read bandwidth %.1f GB/s (best; median %.1f; passes%s), %s kernel peak %.1f GMAC/s (%s)\n",
               bw.best / 1e9, bw.median / 1e9, passes.c_str(), mla::Name(type), pk.best / 1e9,
               mla::Cpu().Describe().c_str());
  m.bw = bw.best;
  m.peak = pk.best;
  return m;
}

int RunSweep(mla::Engine& engine, const mla::TokenCost& cost, const Machine& m, const Options& o,
             mla::DType cache_type, int64_t ubatch, int threads) {
  mla::SessionOptions so;
  so.n_ctx = o.sweep_ctx;
  so.n_batch = ubatch;
  so.cache_type = cache_type;
  auto session = engine.NewSession(so);
  if (!session.ok()) return Fail(session.status().message());
  mla::Session& s = *session.value();
  const int64_t tg = o.sweep_gen >= 0 ? o.sweep_gen : ubatch / 4;
  Tokens tok(o.seed, s.n_vocab(), -1);
  json rows = json::array();
  if (o.output == "md") {
    std::printf("|    PP |     TG |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s | TG GB/s | %% of bw | PP GMAC/s | %% of peak |\n");
    std::printf("|-------|--------|--------|----------|----------|----------|----------|---------|--------|-----------|----------|\n");
  }
  if (!o.no_warmup) {  // pages of the whole model in, pool started, both batch shapes run once
    const int64_t warm_gen = std::min<int64_t>(2, o.sweep_ctx - 1);
    if (auto st = Prompt(s, tok, std::min(ubatch, o.sweep_ctx - warm_gen)); !st.ok()) return Fail(st.message());
    if (auto st = Generate(s, tok, warm_gen); !st.ok()) return Fail(st.message());
    if (auto st = s.Truncate(0); !st.ok()) return Fail(st.message());
  }
  for (int64_t n_kv = 0; n_kv + ubatch <= o.sweep_ctx; n_kv += ubatch) {
    double t_tg = 0;
    if (tg > 0 && n_kv + tg <= o.sweep_ctx) {
      const double t0 = Now();
      if (auto st = Generate(s, tok, tg); !st.ok()) return Fail(st.message());
      t_tg = Now() - t0;
      if (auto st = s.Truncate(n_kv); !st.ok()) return Fail(st.message());
    }
    const double t0 = Now();
    if (auto st = Prompt(s, tok, ubatch); !st.ok()) return Fail(st.message());
    const double t_pp = Now() - t0;
    const double s_pp = double(ubatch) / t_pp, s_tg = t_tg > 0 ? double(tg) / t_tg : NAN;
    const double gbs = t_tg > 0 ? cost.GenerationBytes(tg, n_kv) / t_tg / 1e9 : NAN;
    const double gmacs = cost.PromptMacs(ubatch, n_kv) / t_pp / 1e9;
    json j{{"n_threads", threads}, {"type_k", mla::Name(cache_type)}, {"pp", ubatch}, {"tg", tg},
           {"n_kv", n_kv}, {"t_pp", t_pp}, {"speed_pp", s_pp}, {"t_tg", t_tg},
           {"speed_tg", std::isnan(s_tg) ? json(nullptr) : json(s_tg)},
           {"tg_eff_gbs", std::isnan(gbs) ? json(nullptr) : json(gbs)}, {"measured_bw_gbs", m.bw / 1e9},
           {"pp_gmacs", gmacs}, {"measured_peak_gmacs", m.peak / 1e9}};
    if (o.output == "md") {
      std::printf("| %5lld | %6lld | %6lld | %8.3f | %8.2f | %8.3f | %8s | %7s | %6s | %9.1f | %7.0f %% |\n",
                  (long long)ubatch, (long long)tg, (long long)n_kv, t_pp, s_pp, t_tg, Fmt("%.2f", s_tg).c_str(),
                  Fmt("%.1f", gbs).c_str(), Fmt("%.0f %%", 100 * gbs * 1e9 / m.bw).c_str(), gmacs,
                  100 * gmacs * 1e9 / m.peak);
      std::fflush(stdout);
    } else if (o.output == "jsonl") {
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    } else {
      rows.push_back(j);
    }
  }
  if (o.output == "json") std::printf("%s\n", rows.dump(2).c_str());
  if (o.output == "csv") {
    if (!rows.empty()) {
      std::string h;
      for (auto it = rows[0].begin(); it != rows[0].end(); ++it) h += (h.empty() ? "" : ",") + it.key();
      std::printf("%s\n", h.c_str());
    }
    for (const auto& j : rows) {
      std::string line;
      for (auto it = j.begin(); it != j.end(); ++it)
        line += (line.empty() ? "" : ",") + (it->is_string() ? it->get<std::string>() : it->dump());
      std::printf("%s\n", line.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mla-bench: prompt and generation speed of a DeepSeek-V2/V3 GGUF (llama-bench flags)"};
  app.add_option("-m,--model", o.models, "model file(s); comma-separated or repeated")->delimiter(',');
  app.add_option("-p,--n-prompt", o.prompts, "prompt lengths (pp tests), e.g. 512 or 128,512")->delimiter(',');
  auto* n_gen = app.add_option("-n,--n-gen", o.gens, "generation lengths (tg tests); with --sweep, tokens generated at every depth")
                    ->delimiter(',');
  app.add_option("--prompt-gen", o.pgs, "-pg pp,tg: a prompt then a generation in one test (repeatable)");
  app.add_option("-d,--n-depth", o.depths, "tokens already in the cache before each test")->delimiter(',');
  app.add_option("-t,--threads", o.threads, "thread counts")->delimiter(',');
  app.add_option("-b,--batch-size", o.batches, "logical batch (the forward pass uses min(b, ub))")->delimiter(',');
  app.add_option("--ubatch-size", o.ubatches, "-ub: tokens per forward pass; the sweep step")->delimiter(',');
  app.add_option("--cache-type", o.ctks, "-ctk: latent cache type f32|f16|bf16|q8_0")->delimiter(',');
  app.add_option("-r,--repetitions", o.reps, "repetitions of each test")->check(CLI::Range(1, 1000));
  app.add_option("-o,--output", o.output, "output format")->check(CLI::IsMember({"md", "json", "jsonl", "csv"}));
  app.add_flag("--sweep", o.sweep, "fill the context in steps of -ub, timing a prompt step and -n tokens at every depth");
  app.add_option("-c,--ctx-size", o.sweep_ctx, "sweep: context to fill")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_option("--sweep-gen", o.sweep_gen, "sweep: tokens generated at every depth (default -n if given, else ub/4)");
  app.add_option("--bw-bytes", o.bw_bytes, "bytes read by the bandwidth test");
  app.add_option("--bw-passes", o.bw_passes, "passes of the bandwidth test")->check(CLI::Range(1, 100));
  app.add_flag("--bandwidth", o.bandwidth_only, "only measure read bandwidth and kernel peak (needs no model)");
  app.add_flag("--no-warmup", o.no_warmup, "skip the warm-up run");
  app.add_flag("--profile", o.profile,
               "after each test, print to stderr where the timed forward passes spent their time, by stage "
               "(not with --sweep)");
  app.add_flag("--no-repack", o.no_repack, "-nr: keep the file's row-major weights (no interleaved repacking at load)");
  app.add_option("--seed", o.seed, "seed of the random prompt tokens");
  app.add_flag("--synthetic", o.synthetic, "write each missing -m file first: a random-weight model of --shape");
  app.add_flag("--write-only", o.write_only, "synthetic: write the missing files, then exit");
  app.add_option("--shape", o.synth.shape, "synthetic: v2-lite|v2|v3");
  app.add_option("--type", o.synth.type, "synthetic: weight type (q4_0, q8_0, q4_K, bf16, ...)");
  app.add_option("--layout", o.layout, "synthetic: mla|split2d|legacy");
  app.add_option("--layers", o.synth.layers, "synthetic: layer count (default: the shape's)");
  app.add_option("--vocab", o.synth.vocab, "synthetic: vocabulary size (default: the shape's)");
  app.add_option("--experts", o.synth.experts, "synthetic: routed experts (default: the shape's)");
  app.add_option("--synth-seed", o.synth.seed, "synthetic: seed of the weights");
  app.add_flag("-v,--verbose", o.verbose, "log the model load");
  try {
    std::vector<std::string> args = NormaliseArgs(argc, argv);
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fail(e.what());
  }
  mla::SetLogLevel(o.verbose ? mla::LogLevel::kInfo : mla::LogLevel::kWarn);

  auto prompts = ParseIntList(o.prompts, "-p", 0), gens = ParseIntList(o.gens, "-n", 0),
       depths = ParseIntList(o.depths, "-d", 0), threads = ParseIntList(o.threads, "-t", 1),
       batches = ParseIntList(o.batches, "-b", 1), ubatches = ParseIntList(o.ubatches, "-ub", 1);
  for (auto* r : {&prompts, &gens, &depths, &threads, &batches, &ubatches})
    if (!r->ok()) return Fail(r->status().message());
  // llama-sweep-bench reads the tokens generated per step from -n.
  if (o.sweep && o.sweep_gen < 0 && n_gen->count() > 0) {
    if (gens.value().size() != 1) return Fail("--sweep: expected one -n value (tokens generated per step)");
    o.sweep_gen = gens.value()[0];
  }
  if (threads.value().empty()) threads.value().push_back(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::pair<int64_t, int64_t>> pgs;
  for (const std::string& pg : o.pgs) {
    auto v = ParseIntList({pg}, "-pg", 0);
    if (!v.ok() || v.value().size() != 2)
      return Fail("-pg: expected PROMPT,GEN (for example 512,128), found '" + pg + "'");
    pgs.emplace_back(v.value()[0], v.value()[1]);
  }
  std::vector<mla::DType> ctks;
  for (const std::string& c : o.ctks) {
    auto t = mla::ParseCacheType(c);
    if (!t.ok()) return Fail(t.status().message());
    ctks.push_back(t.value());
  }

  if (o.bandwidth_only) {
    for (int64_t t : threads.value()) {
      mla::ThreadPool pool(static_cast<int>(t));
      auto m = MeasureMachine(pool, o.synth.type.empty() ? mla::DType::Q4_0
                                                          : mla::DTypeFromName(o.synth.type).value_or(mla::DType::Q4_0), o);
      if (!m.ok()) return Fail(m.status().message());
      std::printf("threads %lld: read bandwidth %.1f GB/s, kernel peak %.1f GMAC/s\n", (long long)t,
                  m.value().bw / 1e9, m.value().peak / 1e9);
    }
    return 0;
  }
  if (o.models.empty()) return Fail("no model given (-m FILE)");

  for (const std::string& path : o.models) {
    if (std::filesystem::exists(path)) continue;
    if (!o.synthetic) return Fail("model file '" + path + "' does not exist (use --synthetic to write one)");
    auto layout = mla::convert::ParseLayout(o.layout);
    if (!layout.ok()) return Fail(layout.status().message());
    o.synth.layout = layout.value();
    o.synth.output_path = path;
    auto r = mla::convert::WriteSyntheticModel(o.synth);
    if (!r.ok()) return Fail(r.status().message());
    std::fprintf(stderr, "mla-bench: wrote %s (%s, %lld tensors, %.2f B parameters)\n", path.c_str(),
                 r.value().file_type.c_str(), (long long)r.value().n_tensors, double(r.value().n_params) / 1e9);
  }
  if (o.write_only) return 0;

  Printer printer(o.output);
  for (const std::string& path : o.models) {
    for (int64_t nt : threads.value()) {
      mla::EngineOptions eo;
      eo.model_path = path;
      eo.n_threads = int(nt);
      eo.load.repack = !o.no_repack;
      auto engine = mla::Engine::Load(eo);
      if (!engine.ok()) return Fail(engine.status().message());
      mla::Engine& e = *engine.value();
      const mla::gguf::File& file = e.model().file();
      const mla::ModelConfig& cfg = e.model().config();
      auto machine = MeasureMachine(e.pool(), MainType(file), o);
      if (!machine.ok()) return Fail(machine.status().message());
      const Machine m = machine.value();
      for (mla::DType ctk : ctks) {
        const mla::TokenCost cost = mla::ComputeTokenCost(
            file.tensors(), cfg, double(mla::LatentCache::BytesPerToken(cfg, ctk)));
        for (int64_t b : batches.value())
          for (int64_t ub : ubatches.value()) {
            const int64_t n_batch = std::min(b, ub);
            if (o.sweep) {
              if (int rc = RunSweep(e, cost, m, o, ctk, n_batch, int(nt)); rc != 0) return rc;
              continue;
            }
            // The tests of llama-bench: pp for each -p, tg for each -n, pg for each -pg, at each depth.
            std::vector<std::pair<int64_t, int64_t>> tests;
            for (int64_t p : prompts.value())
              if (p > 0) tests.emplace_back(p, 0);
            for (int64_t n : gens.value())
              if (n > 0) tests.emplace_back(0, n);
            for (auto pg : pgs) tests.push_back(pg);
            int64_t n_ctx = 1;
            for (int64_t d : depths.value())
              for (auto [p, n] : tests) n_ctx = std::max(n_ctx, d + p + n + 1);
            mla::SessionOptions so;
            so.n_ctx = n_ctx;
            so.n_batch = n_batch;
            so.cache_type = ctk;
            auto session = e.NewSession(so);
            if (!session.ok()) return Fail(session.status().message());
            mla::Session& s = *session.value();
            const int32_t bos = e.tokenizer().add_bos() ? e.tokenizer().bos() : -1;
            Tokens tok(o.seed, s.n_vocab(), bos);
            for (int64_t d : depths.value()) {
              for (auto [p, n] : tests) {
                Row row;
                row.model_filename = path;
                row.model_size = uint64_t(std::llround(double(cost.tensor_bytes)));
                row.model_n_params = cost.n_params;
                row.model_type = ModelType(file, cost.n_params);
                row.type_k = mla::Name(ctk);
                row.n_threads = int(nt);
                row.n_batch = b;
                row.n_ubatch = ub;
                row.n_prompt = p;
                row.n_gen = n;
                row.n_depth = d;
                row.bw = m.bw;
                row.peak = m.peak;
                row.bytes = cost.GenerationBytes(n, d + p);
                row.macs = cost.PromptMacs(p, d);
                // Depth: filled once, then restored by truncation (cache rows depend only on
                // earlier tokens, spec §5.3), never timed.
                auto fill = [&]() -> mla::Status {
                  if (s.n_past() > d) MLA_RETURN_IF_ERROR(s.Truncate(d));
                  if (s.n_past() < d) MLA_RETURN_IF_ERROR(Prompt(s, tok, d - s.n_past()));
                  return mla::Status::Ok();
                };
                mla::Status st = mla::Status::Ok();
                if (!o.no_warmup) {  // llama-bench's warm-up: the prompt, or one generated token
                  st = fill();
                  if (st.ok()) st = p > 0 ? Prompt(s, tok, std::min(p, n_ctx - 1 - d)) : Generate(s, tok, 1);
                }
                mla::profile::Totals stages;
                mla::profile::SetEnabled(o.profile);
                for (int k = 0; st.ok() && k < o.reps; ++k) {
                  st = fill();
                  if (!st.ok()) break;
                  mla::profile::Take();  // the fill is not the test
                  const double t0 = Now();
                  st = Prompt(s, tok, p);
                  if (st.ok()) st = Generate(s, tok, n);
                  row.samples_ns.push_back((Now() - t0) * 1e9);
                  const mla::profile::Totals t = mla::profile::Take();
                  for (size_t i = 0; i < t.ns.size(); ++i) stages.ns[i] += t.ns[i];
                }
                mla::profile::SetEnabled(false);
                if (!st.ok()) return Fail(row.TestName() + ": " + st.message());
                if (o.profile) PrintProfile(row.TestName(), int(nt), stages, row.samples_ns, p + n);
                printer.Add(row);
              }
            }
          }
      }
    }
  }
  if (!o.sweep) printer.Finish();  // the sweep prints its own rows
  return 0;
}
