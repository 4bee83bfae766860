// Tokenizer throughput (MB/s of UTF-8 input) on a few MB of mixed text, for the real deepseek-llm
// vocabulary (fixtures/vocab) and the deepseek-v3 pre-tokenizer (ds3-tiny's vocabulary).
//   "mixed": the vocab test strings, fixture prompts, eval text and golden-vector texts, repeated to
//            ~4 MB (pieces repeat, as in real text: the piece cache is warm after the first pass);
//   "unique": ~1 MB of random words, so nearly every piece misses the cache (BPE cost dominates).
// Fixtures: $MLA_FIXTURES, else ../shared/fixtures beside the source tree ($MLA_SOURCE_DIR).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string SourceDir() {
  const char* env = std::getenv("MLA_SOURCE_DIR");
  if (env) return env;
  std::string f = __FILE__;  // absolute in CMake builds
  size_t pos = f.rfind("bench/tokenizer_bench.cc");
  return pos == std::string::npos || pos == 0 ? std::string(".") : f.substr(0, pos - 1);
}

std::string FixturesDir() {
  const char* env = std::getenv("MLA_FIXTURES");
  return env ? env : SourceDir() + "/../shared/fixtures";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& MixedText() {
  static const std::string text = [] {
    const std::string fx = FixturesDir();
    std::string base;
    for (const char* f : {"/vocab/ggml-vocab-deepseek-llm.gguf.inp", "/vocab/ggml-vocab-deepseek-coder.gguf.inp",
                          "/models/ds3-tiny.prompt.txt", "/models/ds2-lite-tiny.prompt.txt",
                          "/models/ds3-small.eval.txt"}) {
      base += Slurp(fx + f);
    }
    base += Slurp(SourceDir() + "/tests/golden/tokenizer/v3_vectors.json");  // CJK, emoji, code, numbers
    std::string out;
    while (!base.empty() && out.size() < (4u << 20)) out += base;
    return out;
  }();
  return text;
}

const std::string& UniqueText() {
  static const std::string text = [] {
    std::mt19937 rng(1);
    const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string out;
    while (out.size() < (1u << 20)) {
      int len = 2 + int(rng() % 10);
      for (int i = 0; i < len; ++i) out += letters[rng() % letters.size()];
      out += rng() % 8 == 0 ? ".\n" : " ";
    }
    return out;
  }();
  return text;
}

std::unique_ptr<mla::Tokenizer> Load(const std::string& relative) {
  auto file = mla::gguf::File::Open(FixturesDir() + relative);
  if (!file.ok()) return nullptr;
  auto tok = mla::Tokenizer::FromGguf(**file);
  return tok.ok() ? std::move(tok).value() : nullptr;
}

void Run(benchmark::State& state, const char* vocab, const std::string& text) {
  auto tok = Load(vocab);
  if (!tok || text.empty()) {
    state.SkipWithError("cannot load the fixture vocabulary (set MLA_FIXTURES)");
    return;
  }
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->Encode(text, true, true);
    tokens = ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(tokens);
}

void BM_EncodeMixed_DeepSeekLlm(benchmark::State& s) { Run(s, "/vocab/ggml-vocab-deepseek-llm.gguf", MixedText()); }
void BM_EncodeMixed_DeepSeekV3(benchmark::State& s) { Run(s, "/models/ds3-tiny.mla.gguf", MixedText()); }
void BM_EncodeUnique_DeepSeekLlm(benchmark::State& s) { Run(s, "/vocab/ggml-vocab-deepseek-llm.gguf", UniqueText()); }
void BM_EncodeUnique_DeepSeekV3(benchmark::State& s) { Run(s, "/models/ds3-tiny.mla.gguf", UniqueText()); }
BENCHMARK(BM_EncodeMixed_DeepSeekLlm)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeMixed_DeepSeekV3)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeUnique_DeepSeekLlm)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeUnique_DeepSeekV3)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Decode_DeepSeekV3(benchmark::State& state) {
  auto tok = Load("/models/ds3-tiny.mla.gguf");
  if (!tok) {
    state.SkipWithError("cannot load the fixture vocabulary (set MLA_FIXTURES)");
    return;
  }
  auto ids = *tok->Encode(MixedText(), false, true);
  for (auto _ : state) benchmark::DoNotOptimize(tok->Decode(ids, true));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(MixedText().size()));
}
BENCHMARK(BM_Decode_DeepSeekV3)->Unit(benchmark::kMillisecond);

}  // namespace
