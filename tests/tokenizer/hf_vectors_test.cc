// Golden vectors from HF `tokenizers` on the fixtures' own vocabularies
// (tests/golden/tokenizer/gen_v3_vectors.py): deepseek-v3 on ds3-tiny, deepseek-llm on ds2-lite-tiny.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace mla {
namespace {

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

void CheckVectors(const std::string& model, const std::string& vectors, const std::string& pre) {
  auto file = gguf::File::Open(test::Fixture("models/" + model));
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->pre(), pre);
  nlohmann::json doc = nlohmann::json::parse(test::ReadFile(test::SourcePath("tests/golden/tokenizer/" + vectors)));
  const auto& cases = doc.at("cases");
  ASSERT_GT(cases.size(), 200u);
  auto pre_tok = PreTokenizer::ForName(pre);
  ASSERT_TRUE(pre_tok.ok()) << pre_tok.status().message();
  int checked = 0, round_trips = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const bool is_text = c.contains("text");
    const std::string input = is_text ? c.at("text").get<std::string>() : FromHex(c.at("hex").get<std::string>());
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    const auto expected_plain =
        c.contains("ids_no_special") ? c.at("ids_no_special").get<std::vector<int32_t>>() : expected;

    // Pre-tokenizer pieces of the whole text (HF's pre_tokenize_str), in code points.
    std::vector<uint32_t> cps, lengths;
    unicode::DecodeUtf8(input, &cps);
    ASSERT_TRUE((*pre_tok)->Split(cps, &lengths).ok());
    const auto expected_pieces = c.at("pieces").get<std::vector<uint32_t>>();
    EXPECT_EQ(lengths, expected_pieces) << "case " << i << " (pieces): " << c.dump();

    auto got = (*tok)->Encode(input, /*add_special=*/false, /*parse_special=*/true);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(Ids(*got), Ids(expected)) << "case " << i << " (parse_special): " << c.dump();
    auto plain = (*tok)->Encode(input, false, false);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(Ids(*plain), Ids(expected_plain)) << "case " << i << " (no parse_special): " << c.dump();

    // With BOS: exactly one BOS in front.
    auto with_bos = (*tok)->Encode(input, true, true);
    ASSERT_TRUE(with_bos.ok());
    ASSERT_EQ(with_bos->size(), got->size() + 1);
    EXPECT_EQ((*with_bos)[0], (*tok)->bos());

    // Round trip for valid UTF-8 inputs: special tokens were matched, so decode with special = true.
    if (is_text) {
      EXPECT_EQ((*tok)->Decode(*got, /*special=*/true), input) << "case " << i;
      EXPECT_EQ((*tok)->Decode(*plain, true), input) << "case " << i;
      ++round_trips;
    }
    ++checked;
  }
  EXPECT_GT(round_trips, 200);
  EXPECT_EQ(checked, int(cases.size()));
}

TEST(HfVectors, DeepSeekV3OnDs3Tiny) { CheckVectors("ds3-tiny.mla.gguf", "v3_vectors.json", "deepseek-v3"); }
TEST(HfVectors, DeepSeekLlmOnDs2LiteTiny) {
  CheckVectors("ds2-lite-tiny.mla.gguf", "llm_vectors.json", "deepseek-llm");
}

// The fixture prompts tokenize to the committed token files (BOS + prompt).
void CheckPrompt(const std::string& model, const std::string& stem) {
  auto file = gguf::File::Open(test::Fixture("models/" + model));
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  std::string text = test::ReadFile(test::Fixture("models/" + stem + ".prompt.txt"));
  auto ids = (*tok)->Encode(text, true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(Ids(*ids), Ids(test::ReadTokens(test::Fixture("models/" + stem + ".tokens.txt"))));
}

TEST(HfVectors, FixturePrompts) {
  CheckPrompt("ds3-tiny.mla.gguf", "ds3-tiny");
  CheckPrompt("ds2-lite-tiny.mla.gguf", "ds2-lite-tiny");
}

TEST(HfVectors, Ds3SmallEvalText) {
  auto file = gguf::File::Open(test::Fixture("models/ds3-small.Q8_0.gguf"));
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  std::string text = test::ReadFile(test::Fixture("models/ds3-small.eval.txt"));
  auto ids = (*tok)->Encode(text, true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(Ids(*ids), Ids(test::ReadTokens(test::Fixture("models/ds3-small.eval-tokens.txt"))));
}

}  // namespace
}  // namespace mla
