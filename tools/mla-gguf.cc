// mla-gguf: inspect and edit GGUF files.
//   mla-gguf info FILE [--json] [--max-items N]
//   mla-gguf set FILE KEY=TYPE:VALUE [KEY=TYPE:VALUE ...]
//   mla-gguf upgrade OLD.gguf NEW.gguf [--kb-type auto|f16|bf16|q8_0]
//   mla-gguf synth -o FILE [--shape v2-lite|v2|v3] [--type q4_0] [--layout mla|split2d|legacy] ...
// This file only parses flags; the work is done by src/gguf (inspect.h, edit.h), DetectLayout
// (src/model/layout.h) and src/convert (upgrade.h, synth.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "convert/synth.h"
#include "convert/tensor_plan.h"
#include "convert/upgrade.h"
#include "gguf/edit.h"
#include "gguf/gguf.h"
#include "gguf/inspect.h"
#include "model/layout.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-gguf: %s\n", message.c_str());
  return 1;
}

int Info(const std::string& path, bool json, size_t max_items) {
  auto file = mla::gguf::File::Open(path);
  if (!file.ok()) return Fail(file.status().message());
  mla::gguf::LayoutLine layout;
  auto detected = mla::DetectLayout(**file);
  if (detected.ok()) {
    layout.known = true;
    layout.name = mla::LayoutName(*detected);
  } else {
    layout.reason = detected.status().message();
  }
  const std::string text = json ? mla::gguf::InfoJson(**file, layout, max_items)
                                : mla::gguf::InfoText(**file, layout, max_items);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int Set(const std::string& path, const std::vector<std::string>& assignments) {
  std::vector<std::pair<std::string, mla::gguf::Value>> edits;
  for (const auto& a : assignments) {
    auto parsed = mla::gguf::ParseAssignment(a);
    if (!parsed.ok()) return Fail(parsed.status().message());
    edits.push_back(std::move(parsed).value());
  }
  auto mode = mla::gguf::SetMetadata(path, edits);
  if (!mode.ok()) return Fail(mode.status().message());
  std::printf("%s: set %zu key%s %s\n", path.c_str(), edits.size(), edits.size() == 1 ? "" : "s",
              *mode == mla::gguf::EditMode::kInPlace ? "in place" : "(file rewritten)");
  return 0;
}

int Upgrade(const mla::convert::UpgradeOptions& options) {
  auto report = mla::convert::UpgradeToMla(options);
  if (!report.ok()) return Fail(report.status().message());
  std::printf("%s: %lld layers upgraded to the MLA layout (attn_k_b %s, attn_v_b %s)\n",
              options.output_path.c_str(), (long long)report->layers, mla::Name(report->k_b_type),
              mla::Name(report->v_b_type));
  return 0;
}

int Synth(mla::convert::SynthOptions options, const std::string& layout) {
  auto parsed = mla::convert::ParseLayout(layout);
  if (!parsed.ok()) return Fail(parsed.status().message());
  options.layout = *parsed;
  auto report = mla::convert::WriteSyntheticModel(options);
  if (!report.ok()) return Fail(report.status().message());
  std::printf("%s: synthetic %s model written\n", options.output_path.c_str(),
              options.shape.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mla-gguf: inspect and edit GGUF files"};
  app.require_subcommand(1);

  std::string info_path;
  bool json = false;
  size_t max_items = 8;
  CLI::App* info = app.add_subcommand("info", "print metadata, tensors, totals and layout");
  info->add_option("FILE", info_path, "GGUF file (first shard of a split model)")->required();
  info->add_flag("--json", json, "one JSON object instead of text");
  info->add_option("--max-items", max_items, "array items shown before summarising")
      ->check(CLI::PositiveNumber);

  std::string set_path;
  std::vector<std::string> assignments;
  CLI::App* set = app.add_subcommand(
      "set", "set scalar metadata: KEY=TYPE:VALUE, TYPE one of u8 i8 u16 i16 u32 i32 u64 i64 "
             "f32 f64 bool str");
  set->add_option("FILE", set_path, "GGUF file (the first shard of a split model)")->required();
  set->add_option("ASSIGNMENT", assignments, "KEY=TYPE:VALUE")->required();

  mla::convert::UpgradeOptions up;
  CLI::App* upgrade = app.add_subcommand(
      "upgrade", "rewrite a legacy/split2d file into the MLA layout (attn_k_b/attn_v_b derived)");
  upgrade->add_option("OLD", up.input_path, "legacy or split2d GGUF")->required();
  upgrade->add_option("NEW", up.output_path, "output GGUF")->required();
  upgrade->add_option("--kb-type", up.derived_type,
                      "type of the derived attn_k_b/attn_v_b (auto: exact float, or q8_0 for a "
                      "quantized attn_kv_b)");
  upgrade->add_option("-t,--threads", up.threads, "worker threads (default: all)");
  upgrade->add_flag("!--no-progress", up.progress, "no progress bar");

  mla::convert::SynthOptions syn;
  std::string syn_layout = "mla";
  CLI::App* synth = app.add_subcommand(
      "synth", "write a full-size random-weight model of a real DeepSeek shape (for benchmarks)");
  synth->add_option("-o,--output", syn.output_path, "output GGUF")->required();
  synth->add_option("--shape", syn.shape, "v2-lite, v2 or v3");
  synth->add_option("--type", syn.type, "weight type (q4_0, q8_0, q4_K, bf16, ...)");
  synth->add_option("--layout", syn_layout, "mla, split2d or legacy");
  synth->add_option("--layers", syn.layers, "layer count (default: the shape's)");
  synth->add_option("--vocab", syn.vocab, "vocabulary size (default: the shape's)");
  synth->add_option("--seed", syn.seed, "random seed");
  synth->add_option("-t,--threads", syn.threads, "worker threads (default: all)");
  synth->add_flag("!--no-progress", syn.progress, "no progress bar");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "mla-gguf: %s (see --help)\n", e.what());
    return 2;
  }
  if (info->parsed()) return Info(info_path, json, max_items);
  if (set->parsed()) return Set(set_path, assignments);
  if (upgrade->parsed()) return Upgrade(up);
  if (synth->parsed()) return Synth(syn, syn_layout);
  return Fail("expected a subcommand: info, set, upgrade or synth");
}
