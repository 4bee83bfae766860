// tokenizer.json -> GGUF tokenizer keys, and identifying the pre-tokenizer by its regexes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "convert/hf_vocab.h"
#include "test_util.h"

namespace mla::test {
namespace {

using nlohmann::json;

json TokenizerJson(const char* model) {
  return json::parse(ReadFile(Fixture(std::string("models/") + model + ".hf/tokenizer.json")));
}

const gguf::Value* Get(const std::vector<std::pair<std::string, gguf::Value>>& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

TEST(HfVocab, IdentifiesPreTokenizersByRegex) {
  auto v3 = convert::IdentifyPreTokenizer(TokenizerJson("ds3-tiny")["pre_tokenizer"].dump());
  ASSERT_TRUE(v3.ok()) << v3.status().message();
  EXPECT_EQ(*v3, "deepseek-v3");
  auto llm = convert::IdentifyPreTokenizer(TokenizerJson("ds2-lite-tiny")["pre_tokenizer"].dump());
  ASSERT_TRUE(llm.ok()) << llm.status().message();
  EXPECT_EQ(*llm, "deepseek-llm");

  // One regex changed: unknown, and the error shows what was found.
  json pre = TokenizerJson("ds3-tiny")["pre_tokenizer"];
  pre["pretokenizers"][0]["pattern"]["Regex"] = "\\p{N}{1,4}";
  auto bad = convert::IdentifyPreTokenizer(pre.dump());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown pre-tokenizer"), std::string::npos);
  EXPECT_NE(bad.status().message().find("\\p{N}{1,4}"), std::string::npos) << bad.status().message();
  // A GPT-2 style ByteLevel pre-tokenizer with its own regex is not one of ours either.
  auto gpt2 = convert::IdentifyPreTokenizer(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})");
  ASSERT_FALSE(gpt2.ok());
  EXPECT_NE(gpt2.status().message().find("ByteLevel"), std::string::npos);
}

TEST(HfVocab, TokensTypesAndSpecialIds) {
  const std::string tj = ReadFile(Fixture("models/ds3-tiny.hf/tokenizer.json"));
  const std::string tc = ReadFile(Fixture("models/ds3-tiny.hf/tokenizer_config.json"));
  convert::VocabOptions o;
  o.vocab_size = 2050;  // two ids more than the tokenizer knows: [PAD2048], [PAD2049]
  auto kv = convert::TokenizerKeysFromText(tj, tc, "", o);
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  const auto& tokens = Get(*kv, "tokenizer.ggml.tokens")->strings;
  const auto& types = Get(*kv, "tokenizer.ggml.token_type")->ints;
  ASSERT_EQ(tokens.size(), 2050u);
  EXPECT_EQ(tokens[2049], "[PAD2049]");
  EXPECT_EQ(types[2049], 5);  // UNUSED
  EXPECT_EQ(tokens[0], "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
  EXPECT_EQ(types[0], 3);     // CONTROL
  EXPECT_EQ(tokens[2031], "<think>");
  EXPECT_EQ(types[2031], 4);  // USER_DEFINED (added, not special)
  EXPECT_EQ(types[100], 1);
  EXPECT_EQ(Get(*kv, "tokenizer.ggml.pre")->s, "deepseek-v3");
  EXPECT_EQ(Get(*kv, "tokenizer.ggml.bos_token_id")->u, 0u);
  EXPECT_EQ(Get(*kv, "tokenizer.ggml.eos_token_id")->u, 1u);
  EXPECT_EQ(Get(*kv, "tokenizer.ggml.padding_token_id")->u, 2u);
  EXPECT_TRUE(Get(*kv, "tokenizer.ggml.add_bos_token")->u);
  EXPECT_FALSE(Get(*kv, "tokenizer.ggml.add_sep_token")->u);
  EXPECT_EQ(Get(*kv, "tokenizer.chat_template")->s.substr(0, 9), "{% if not");

  // Ids beyond vocab_size are an error; the override replaces detection.
  o.vocab_size = 100;
  auto small = convert::TokenizerKeysFromText(tj, tc, "", o);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("vocab_size 100"), std::string::npos) << small.status().message();
  o.vocab_size = 2048;
  o.pre_override = "deepseek-llm";
  auto ov = convert::TokenizerKeysFromText(tj, "", "TEMPLATE", o);
  ASSERT_TRUE(ov.ok());
  EXPECT_EQ(Get(*ov, "tokenizer.ggml.pre")->s, "deepseek-llm");
  EXPECT_EQ(Get(*ov, "tokenizer.chat_template")->s, "TEMPLATE");  // chat_template.jinja
  EXPECT_EQ(Get(*ov, "tokenizer.ggml.bos_token_id"), nullptr);      // no tokenizer_config, no config ids
}

TEST(HfVocab, BadInput) {
  convert::VocabOptions o;
  o.vocab_size = 10;
  EXPECT_FALSE(convert::TokenizerKeysFromText("{", "", "", o).ok());
  auto wp = convert::TokenizerKeysFromText(R"({"model":{"type":"WordPiece","vocab":{}}})", "", "", o);
  ASSERT_FALSE(wp.ok());
  EXPECT_NE(wp.status().message().find("WordPiece"), std::string::npos);
  auto badmerge = convert::TokenizerKeysFromText(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[3]}})", "", "", o);
  ASSERT_FALSE(badmerge.ok());
  EXPECT_NE(badmerge.status().message().find("merge"), std::string::npos);
  auto badid = convert::TokenizerKeysFromText(R"({"model":{"type":"BPE","vocab":{"a":-1}}})", "", "", o);
  ASSERT_FALSE(badid.ok());
}

}  // namespace
}  // namespace mla::test
