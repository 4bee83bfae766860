// llama.cpp's DeepSeek tokenizer vectors (fixtures/vocab, README §9): every .inp case must give
// exactly the ids of the matching .out line (no BOS, parse_special = false).
#include <gtest/gtest.h>

#include <sstream>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace mla {
namespace {

std::vector<std::string> SplitCases(const std::string& raw) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t start = 0, pos;
  while ((pos = raw.find(sep, start)) != std::string::npos) {
    cases.push_back(raw.substr(start, pos - start));
    start = pos + sep.size();
  }
  return cases;
}

std::vector<std::string> Lines(const std::string& raw) {
  std::vector<std::string> lines;
  std::istringstream in(raw);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

void CheckVocab(const std::string& name) {
  const std::string base = test::Fixture("vocab/" + name);
  auto file = gguf::File::Open(base);
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  std::vector<std::string> cases = SplitCases(test::ReadFile(base + ".inp"));
  std::vector<std::string> expected = Lines(test::ReadFile(base + ".out"));
  ASSERT_EQ(cases.size(), 46u);
  ASSERT_EQ(expected.size(), cases.size());
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ids = (*tok)->Encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status().message();
    std::string got;
    for (int32_t id : *ids) got += " " + std::to_string(id);
    if (got != expected[i]) ++failures;
    EXPECT_EQ(got, expected[i]) << "case " << i << ": '" << cases[i] << "'";
    // Round trip: these are valid UTF-8 texts.
    EXPECT_EQ((*tok)->Decode(*ids, false), cases[i]) << "case " << i;
  }
  EXPECT_EQ(failures, 0);
}

TEST(VocabFixture, DeepSeekLlm) { CheckVocab("ggml-vocab-deepseek-llm.gguf"); }
TEST(VocabFixture, DeepSeekCoder) { CheckVocab("ggml-vocab-deepseek-coder.gguf"); }

}  // namespace
}  // namespace mla
