// Pre-tokenizer behaviour that is llama.cpp's own (spec §7.4), which the HF-generated vectors cannot
// show: non-ASCII whitespace is U+000B for the literal-class regexes of deepseek-llm.
#include <gtest/gtest.h>

#include "tokenizer/pretokenizer.h"

namespace mla {
namespace {

std::vector<std::string> Pieces(std::string_view pre, std::string_view text) {
  auto p = PreTokenizer::ForName(pre);
  EXPECT_TRUE(p.ok()) << p.status().message();
  auto pieces = (*p)->SplitText(text);
  EXPECT_TRUE(pieces.ok());
  return *pieces;
}

using V = std::vector<std::string>;

TEST(PreTokenizer, LlmMapsNonAsciiWhitespaceForLiteralClasses) {
  // \s? before the letter class takes the thin space (HF's \s would not).
  EXPECT_EQ(Pieces("deepseek-llm", "thin\u2009space"), (V{"thin", "\u2009space"}));
  // U+3000 never joins regex 3's punctuation run nor regex 5's range (it is U+000B there).
  EXPECT_EQ(Pieces("deepseek-llm", "\u3002\u3000x"), (V{"\u3002", "\u3000x"}));
  EXPECT_EQ(Pieces("deepseek-llm", "\u4e2d\u3000\u6587"), (V{"\u4e2d", "\u3000", "\u6587"}));
  // ...but it is whitespace for \s+$.
  EXPECT_EQ(Pieces("deepseek-llm", "a\u3000\u3000"), (V{"a", "\u3000\u3000"}));
}

TEST(PreTokenizer, LlmBasics) {
  EXPECT_EQ(Pieces("deepseek-llm", "Hello world!\n123"), (V{"Hello", " world", "!", "\n", "123"}));
  EXPECT_EQ(Pieces("deepseek-llm", "a  \n"), (V{"a", "  ", "\n"}));
  EXPECT_EQ(Pieces("deepseek-llm", ""), V{});
}

TEST(PreTokenizer, CoderSingleDigits) {
  EXPECT_EQ(Pieces("deepseek-coder", "x=123"), (V{"x", "=", "1", "2", "3"}));
}

TEST(PreTokenizer, V3Rules) {
  // Numbers in groups of at most three.
  EXPECT_EQ(Pieces("deepseek-v3", "1234567"), (V{"123", "456", "7"}));
  // Punctuation + letters, letter runs with a leading non-letter, space runs before a word.
  EXPECT_EQ(Pieces("deepseek-v3", ".hello  world"), (V{".hello", " ", " world"}));
  // Kana/CJK runs split from the rest first.
  EXPECT_EQ(Pieces("deepseek-v3", "a\u3053\u3093b"), (V{"a", "\u3053\u3093", "b"}));
  // Marks extend letter runs (\p{M} is collapsed to its own class).
  EXPECT_EQ(Pieces("deepseek-v3", "cafe\u0301 ok"), (V{"cafe\u0301", " ok"}));
  // Newline runs with leading spaces.
  EXPECT_EQ(Pieces("deepseek-v3", "a  \n\nb"), (V{"a", "  \n\n", "b"}));
}

TEST(PreTokenizer, InvalidUtf8IsReplacementCharacter) {
  EXPECT_EQ(Pieces("deepseek-v3", "a\xFF"), (V{"a", "\xEF\xBF\xBD"}));
}

TEST(PreTokenizer, LongRunsDoNotFail) {
  std::string text(300000, ' ');
  text += "x";
  text += std::string(100000, '\n');
  for (const char* name : {"deepseek-llm", "deepseek-coder", "deepseek-v3"}) {
    auto pieces = Pieces(name, text);
    size_t total = 0;
    for (const auto& p : pieces) total += p.size();
    EXPECT_EQ(total, text.size()) << name;
  }
}

TEST(PreTokenizer, Errors) {
  auto unknown = PreTokenizer::ForName("qwen2");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'qwen2'"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("deepseek-llm, deepseek-coder, deepseek-v3"), std::string::npos);
  auto mixed = PreTokenizer::FromRegexes({"\\p{L}\u00e9"});
  ASSERT_FALSE(mixed.ok());
  auto bad = PreTokenizer::FromRegexes({"(unclosed"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(unclosed"), std::string::npos);
}

}  // namespace
}  // namespace mla
