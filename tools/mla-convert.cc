// mla-convert: Hugging Face DeepSeek-V2/V3 checkpoint folder -> GGUF, in C++ on the CPU
// (no Python, no GPU; FP8 checkpoints are dequantized as they stream). See src/convert/convert.h.
#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "convert/convert.h"
#include "convert/progress.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-convert: %s\n", message.c_str());
  return 1;
}

// "50G", "512M", "1000000" -> bytes.
mla::Result<uint64_t> ParseSize(const std::string& s) {
  if (s.empty()) return mla::Errorf("--split-max-size: expected a size such as 50G, found nothing");
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    return mla::Errorf("--split-max-size: expected a size such as 50G, found '%s'", s.c_str());
  }
  uint64_t mult = 1;
  if (pos < s.size()) {
    const char u = char(std::toupper(static_cast<unsigned char>(s[pos])));
    mult = u == 'K' ? 1000ull : u == 'M' ? 1000000ull : u == 'G' ? 1000000000ull : u == 'T' ? 1000000000000ull : 0;
    if (!mult || pos + 1 != s.size())
      return mla::Errorf("--split-max-size: expected a number with an optional K/M/G/T suffix, found '%s'", s.c_str());
  }
  if (v == 0) return mla::Errorf("--split-max-size: must be positive, found '%s'", s.c_str());
  return uint64_t(v) * mult;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Convert a Hugging Face DeepSeek-V2/V3 checkpoint (F32/F16/BF16/FP8 safetensors) to GGUF"};
  mla::convert::ConvertOptions o;
  std::string layout = "mla", split_size;
  bool no_progress = false, verbose = false;
  app.add_option("HF_DIR", o.input_dir, "checkpoint folder (config.json, *.safetensors, tokenizer.json)")->required();
  app.add_option("-o,--outfile", o.output_path, "output .gguf file")->required();
  app.add_option("--outtype", o.outtype,
                 "auto, f32, f16, bf16, or a quantization type (q8_0, q4_k_m, ...) [auto: f32 for F32 "
                 "checkpoints, f16 for F16, bf16 for BF16/FP8]");
  app.add_option("--layout", layout, "mla (3-D attn_k_b/attn_v_b, default), legacy (attn_kv_b) or split2d");
  app.add_flag("--keep-mtp", o.keep_mtp, "keep the multi-token-prediction layer(s) as blk.L.* / blk.L.nextn.*");
  app.add_option("--name", o.name, "general.name (default: the folder name)");
  app.add_option("--tokenizer-pre", o.tokenizer_pre, "tokenizer.ggml.pre to write instead of the detected one");
  app.add_option("--tensor-type", o.tensor_types, "PATTERN=TYPE: type of the tensors whose name matches (regex)");
  app.add_option("-t,--threads", o.threads, "worker threads (default: all)");
  app.add_option("--split-max-size", split_size, "split the output into shards of at most this size (e.g. 50G)");
  app.add_flag("--no-progress", no_progress, "no progress bar");
  app.add_flag("-v,--verbose", verbose, "log every type fallback");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  mla::SetLogLevel(verbose ? mla::LogLevel::kInfo : mla::LogLevel::kWarn);
  auto lay = mla::convert::ParseLayout(layout);
  if (!lay.ok()) return Fail(lay.status().message());
  o.layout = *lay;
  if (!split_size.empty()) {
    auto s = ParseSize(split_size);
    if (!s.ok()) return Fail(s.status().message());
    o.split_max_bytes = *s;
  }
  if (o.threads < 0) return Fail("--threads must be positive");
  o.progress = !no_progress;
  auto r = mla::convert::ConvertCheckpoint(o);
  if (!r.ok()) return Fail(r.status().message());
  std::fprintf(stderr, "mla-convert: wrote %s: %lld tensors, %s, %s of tensor data%s\n",
               r->outputs.size() == 1 ? r->outputs[0].c_str() : (std::to_string(r->outputs.size()) + " shards").c_str(),
               static_cast<long long>(r->n_tensors), r->file_type.c_str(),
               mla::convert::Progress::Bytes(double(r->bytes_written)).c_str(),
               r->mtp_tensors_dropped ? (", " + std::to_string(r->mtp_tensors_dropped) + " MTP tensors dropped (--keep-mtp keeps them)").c_str() : "");
  return 0;
}
