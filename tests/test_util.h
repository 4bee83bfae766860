// Helpers shared by the tests: where the fixtures are, reading .npy and token files, KL stats.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mla::test {

// Path of a file under ../shared/fixtures (env MLA_FIXTURES, set by CTest).
std::string Fixture(const std::string& relative);
// Path of a file in the source tree (env MLA_SOURCE_DIR).
std::string SourcePath(const std::string& relative);
// Path of a built tool (env MLA_BIN_DIR).
std::string ToolPath(const std::string& name);
// A fresh empty temporary folder, removed at exit.
std::string TempDir();

// A float32 .npy array (C order); `shape` receives its dimensions.
std::vector<float> ReadNpyF32(const std::string& path, std::vector<int64_t>* shape);
// Comma- or whitespace-separated token ids.
std::vector<int32_t> ReadTokens(const std::string& path);
std::string ReadFile(const std::string& path);

struct KlStats {
  double mean_kl = 0, max_kl = 0, top1 = 0;
};
// KL(ref || test) per position with float64 log-softmax, as fixtures/gen/models_common.py.
KlStats CompareLogits(const float* ref, const float* test, int64_t n_pos, int64_t n_vocab);

// Runs a shell command, returns its exit status; stdout+stderr go to *output.
int RunCommand(const std::string& command, std::string* output);

}  // namespace mla::test
