// mla-gguf: inspect and edit GGUF files.
//   mla-gguf info FILE [--json] [--max-items N]
//   mla-gguf set FILE KEY=TYPE:VALUE [KEY=TYPE:VALUE ...]
// This file only parses flags; the work is done by src/gguf (inspect.h, edit.h) and
// DetectLayout (src/model/layout.h). Later subcommands (synth, upgrade) follow the same shape.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

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
  return Fail("expected a subcommand: info or set");
}
