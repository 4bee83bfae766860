// mla-quantize: IN.gguf OUT.gguf TYPE [nthreads] — requantize a GGUF model with llama-quantize's
// mixes (Q4_K_M, Q5_K_M, ...), per-tensor overrides, multi-threaded and streaming.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "convert/progress.h"
#include "convert/quant_mix.h"
#include "convert/quantize.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-quantize: %s\n", message.c_str());
  return 1;
}

std::string TypeList() {
  std::string s;
  for (const auto& f : mla::convert::FileTypes()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quantize a GGUF model. Types: " + TypeList()};
  mla::convert::QuantizeOptions o;
  int threads_positional = 0;
  bool no_progress = false, verbose = false;
  app.add_option("IN", o.input_path, "input .gguf (F32/F16/BF16, or quantized with --allow-requantize)")->required();
  app.add_option("OUT", o.output_path, "output .gguf")->required();
  app.add_option("TYPE", o.type, "file type, e.g. Q4_K_M, Q8_0, IQ4_XS, BF16")->required();
  app.add_option("NTHREADS", threads_positional, "worker threads (default: all)");
  app.add_option("-t,--threads", o.threads, "worker threads (default: all)");
  app.add_option("--tensor-type", o.tensor_types,
                 "PATTERN=TYPE: type for the tensors whose name matches the regex (e.g. attn_k_b=bf16)");
  app.add_option("--output-tensor-type", o.output_tensor_type, "type for output.weight");
  app.add_option("--token-embedding-type", o.token_embedding_type, "type for token_embd.weight");
  app.add_flag("--pure", o.pure, "no mix rules: every quantizable tensor gets the default type");
  app.add_flag("--allow-requantize", o.allow_requantize, "allow re-encoding tensors that are already quantized");
  app.add_flag("--dry-run", o.dry_run, "print the type chosen for every tensor and stop");
  app.add_flag("--no-progress", no_progress, "no progress bar");
  app.add_flag("-v,--verbose", verbose, "print every tensor's type");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  mla::SetLogLevel(verbose ? mla::LogLevel::kInfo : mla::LogLevel::kWarn);
  if (threads_positional < 0 || o.threads < 0) return Fail("the thread count must be positive");
  if (o.threads == 0) o.threads = threads_positional;
  o.progress = !no_progress && !o.dry_run;
  auto r = mla::convert::QuantizeGguf(o);
  if (!r.ok()) return Fail(r.status().message());
  if (verbose || o.dry_run)
    for (const auto& t : r->tensors)
      std::printf("%-40s %-7s -> %-7s %s\n", t.name.c_str(), mla::Name(t.from), mla::Name(t.to), t.reason.c_str());
  std::fprintf(stderr, "mla-quantize: %s%s: %zu tensors, %s -> %s of tensor data\n", o.dry_run ? "(dry run) " : "",
               o.output_path.c_str(), r->tensors.size(), mla::convert::Progress::Bytes(double(r->bytes_in)).c_str(),
               mla::convert::Progress::Bytes(double(r->bytes_out)).c_str());
  return 0;
}
