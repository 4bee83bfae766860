// Tokenizer API: special tokens (§7.6), BOS/EOS (§7.7), detokenization (§7.8), streaming, invalid
// input, and errors for unsupported vocabularies.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace mla {
namespace {

std::unique_ptr<Tokenizer> Load(const std::string& fixture) {
  auto file = gguf::File::Open(test::Fixture(fixture));
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return nullptr;
  auto tok = Tokenizer::FromGguf(**file);
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

std::vector<int32_t> Enc(const Tokenizer& t, std::string_view text, bool add_special, bool parse_special) {
  auto r = t.Encode(text, add_special, parse_special);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::vector<int32_t>{};
}

// A minimal vocabulary: the 256 byte tokens (ids = byte values) plus extra tokens.
VocabData ByteVocab(const std::vector<std::pair<std::string, TokenType>>& extra) {
  VocabData v;
  v.model = "gpt2";
  v.pre = "deepseek-v3";
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToCodepoint(uint8_t(b)), &s);
    v.tokens.push_back(s);
    v.types.push_back(int32_t(TokenType::kNormal));
  }
  for (const auto& [text, type] : extra) {
    v.tokens.push_back(text);
    v.types.push_back(int32_t(type));
  }
  return v;
}

TEST(Tokenizer, Ds3TinyMetadata) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->n_vocab(), 2048);
  EXPECT_EQ(t->bos(), 0);
  EXPECT_EQ(t->eos(), 1);
  EXPECT_EQ(t->pad(), 2);
  EXPECT_TRUE(t->add_bos());
  EXPECT_FALSE(t->add_eos());
  EXPECT_TRUE(t->IsEndOfGeneration(1));
  EXPECT_FALSE(t->IsEndOfGeneration(0));
  EXPECT_FALSE(t->IsEndOfGeneration(2037));
  EXPECT_EQ(t->FindToken("<｜User｜>"), std::optional<int32_t>(2036));
  EXPECT_EQ(t->FindToken("<think>"), std::optional<int32_t>(2031));
  EXPECT_EQ(t->FindToken("no such token"), std::nullopt);
  EXPECT_EQ(t->GetTokenType(2031), TokenType::kUserDefined);
  EXPECT_EQ(t->GetTokenType(2036), TokenType::kControl);
  EXPECT_FALSE(t->chat_template().empty());
}

TEST(Tokenizer, SpecialTokensAndParseSpecial) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  // CONTROL texts are tokens only with parse_special; USER_DEFINED (<think>) always.
  auto with = Enc(*t, "<｜User｜>hi<think>x</think>", false, true);
  ASSERT_GE(with.size(), 4u);
  EXPECT_EQ(with.front(), 2036);
  EXPECT_NE(std::find(with.begin(), with.end(), 2031), with.end());
  EXPECT_NE(std::find(with.begin(), with.end(), 2032), with.end());
  auto without = Enc(*t, "<｜User｜>hi<think>x</think>", false, false);
  EXPECT_EQ(std::find(without.begin(), without.end(), 2036), without.end());
  EXPECT_NE(std::find(without.begin(), without.end(), 2031), without.end());
  // BOS only with add_special, exactly once; EOS never (add_eos = false).
  auto a = Enc(*t, "hello", true, true);
  auto b = Enc(*t, "hello", false, true);
  ASSERT_EQ(a.size(), b.size() + 1);
  EXPECT_EQ(a[0], 0);
  EXPECT_EQ(std::vector<int32_t>(a.begin() + 1, a.end()), b);
  EXPECT_EQ(Enc(*t, "", true, true), std::vector<int32_t>{0});
  EXPECT_EQ(Enc(*t, "", false, true), std::vector<int32_t>{});
}

TEST(Tokenizer, UserDefinedSingleCharactersMatchedWithoutParseSpecial) {
  auto t = Load("vocab/ggml-vocab-deepseek-llm.gguf");
  ASSERT_TRUE(t);
  // ö is USER_DEFINED 100003 in this vocabulary (spec §7.6).
  auto ids = Enc(*t, "sch\xC3\xB6n", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 100003), ids.end());
  // Its piece is the UTF-8 text, not passed through the byte map (§7.8).
  EXPECT_EQ(t->TokenToPiece(100003, false), "\xC3\xB6");
  EXPECT_EQ(t->Decode(ids, false), "sch\xC3\xB6n");
  // The BOS text is plain text without parse_special, one token with it.
  const std::string bos_text = t->TokenText(t->bos());
  EXPECT_EQ(Enc(*t, bos_text, false, true), std::vector<int32_t>{100000});
  EXPECT_GT(Enc(*t, bos_text, false, false).size(), 1u);
}

TEST(Tokenizer, LongestSpecialFirstThenAscendingId) {
  // Longest-first processing over the whole text (llama.cpp), not a left-to-right scan: in "ABCD"
  // the 3-byte token wins over the earlier 2-byte one.
  auto t = Tokenizer::FromVocab(
      ByteVocab({{"AB", TokenType::kUserDefined}, {"BCD", TokenType::kUserDefined}, {"<c>", TokenType::kControl}}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Enc(**t, "ABCD", false, false), (std::vector<int32_t>{'A', 257}));
  EXPECT_EQ(Enc(**t, "ABAB", false, false), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ(Enc(**t, "x<c>y", false, true), (std::vector<int32_t>{'x', 258, 'y'}));
  EXPECT_EQ(Enc(**t, "x<c>y", false, false), (std::vector<int32_t>{'x', '<', 'c', '>', 'y'}));
  // Detokenization of CONTROL tokens depends on `special`.
  EXPECT_EQ((*t)->TokenToPiece(258, false), "");
  EXPECT_EQ((*t)->TokenToPiece(258, true), "<c>");
  EXPECT_EQ((*t)->Decode({'x', 258, 'y'}, false), "xy");
  EXPECT_EQ((*t)->Decode({'x', 258, 'y'}, true), "x<c>y");
  EXPECT_EQ((*t)->TokenToPiece(-1, true), "");
  EXPECT_EQ((*t)->TokenToPiece(9999, true), "");
}

TEST(Tokenizer, BpeMergesByRankThenLeftmost) {
  VocabData v = ByteVocab({{"ab", TokenType::kNormal}, {"bc", TokenType::kNormal}, {"abc", TokenType::kNormal}});
  // "b c" has the lower rank, so "abc" -> a + bc, and no merge "a bc" exists.
  v.merges = {"b c", "a b", "ab c"};
  auto t = Tokenizer::FromVocab(v);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Enc(**t, "abc", false, false), (std::vector<int32_t>{'a', 257}));
  v.merges = {"a b", "b c", "ab c"};
  auto t2 = Tokenizer::FromVocab(v);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(Enc(**t2, "abc", false, false), (std::vector<int32_t>{258}));
  // Equal ranks: leftmost first ("aaa" with "a a": [aa][a]).
  VocabData w = ByteVocab({{"aa", TokenType::kNormal}});
  w.merges = {"a a"};
  auto t3 = Tokenizer::FromVocab(w);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(Enc(**t3, "aaa", false, false), (std::vector<int32_t>{256, 'a'}));
}

TEST(Tokenizer, UnknownBytePieceFormat) {
  // A NORMAL token whose text has code points outside the byte map (§7.8).
  auto t = Tokenizer::FromVocab(ByteVocab({{"a\xEF\xBD\x9C", TokenType::kNormal}}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->TokenToPiece(256, false), "a[UNK_BYTE_0xefbd9ca\xEF\xBD\x9C]");
}

TEST(Tokenizer, InvalidUtf8NeverFailsAndDecodesToReplacement) {
  std::mt19937 rng(7);
  for (const char* fixture : {"models/ds3-tiny.mla.gguf", "models/ds2-lite-tiny.mla.gguf"}) {
    auto t = Load(fixture);
    ASSERT_TRUE(t);
    for (int iter = 0; iter < 300; ++iter) {
      std::string bytes(rng() % 64, '\0');
      for (char& c : bytes) c = char(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 256);
      for (bool parse_special : {false, true}) {
        auto ids = t->Encode(bytes, false, parse_special);
        ASSERT_TRUE(ids.ok());
        for (int32_t id : *ids) ASSERT_TRUE(id >= 0 && id < t->n_vocab());
        // Bytes come back as llama.cpp saw them: each bad byte as U+FFFD, the rest re-encoded.
        std::vector<uint32_t> cps;
        unicode::DecodeUtf8(bytes, &cps);
        std::string expected;
        for (uint32_t cp : cps) unicode::AppendUtf8(cp, &expected);
        EXPECT_EQ(t->Decode(*ids, true), expected);
      }
    }
    EXPECT_EQ(Enc(*t, "\xFF", false, false), Enc(*t, "\xEF\xBF\xBD", false, false));
  }
}

TEST(Tokenizer, LongInputs) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  std::string text = std::string(200000, ' ') + "x" + std::string(50000, '\n') + std::string(30000, '9');
  auto ids = Enc(*t, text, false, false);
  EXPECT_EQ(t->Decode(ids, false), text);
}

TEST(Tokenizer, ConcurrentEncodeGivesTheSameIds) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back("text " + std::to_string(i * 7919) + " Grüße 你好 <think>x</think> w" + std::to_string(i));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& s : texts) expected.push_back(Enc(*t, s, true, true));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          auto ids = t->Encode(texts[(i + size_t(w)) % texts.size()], true, true);
          if (!ids.ok() || *ids != expected[(i + size_t(w)) % texts.size()]) ++mismatches[size_t(w)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(StreamDecoder, HoldsIncompleteCharacters) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  auto byte_token = [&](uint8_t b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToCodepoint(b), &s);
    auto id = t->FindToken(s);
    EXPECT_TRUE(id.has_value());
    return id.value_or(-1);
  };
  StreamDecoder d(*t);
  EXPECT_EQ(d.Push(byte_token(0xE4)), "");
  EXPECT_EQ(d.Push(byte_token(0xB8)), "");
  EXPECT_EQ(d.Push(byte_token(0xAD)), "\xE4\xB8\xAD");
  // A sequence that never completes is passed through when the next byte shows it cannot.
  EXPECT_EQ(d.Push(byte_token(0xE4)), "");
  EXPECT_EQ(d.Push(byte_token('a')), "\xE4" "a");
  // Stray continuation bytes and 0xFF are never held.
  EXPECT_EQ(d.Push(byte_token(0x80)), "\x80");
  EXPECT_EQ(d.Push(byte_token(0xFF)), "\xFF");
  // An incomplete tail is released by Flush.
  EXPECT_EQ(d.Push(byte_token(0xF0)), "");
  EXPECT_EQ(d.Push(byte_token(0x9F)), "");
  EXPECT_EQ(d.Flush(), "\xF0\x9F");
  EXPECT_EQ(d.Flush(), "");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
  auto t = Load("models/ds3-tiny.mla.gguf");
  ASSERT_TRUE(t);
  const std::string text = "Grüße 你好世界 🚀👍🏽 naïve café — done\n";
  auto ids = Enc(*t, text, false, false);
  StreamDecoder d(*t);
  std::string streamed;
  for (int32_t id : ids) {
    std::string part = d.Push(id);
    // Every emitted chunk is complete UTF-8.
    EXPECT_EQ(Utf8CompletePrefix(streamed + part), streamed.size() + part.size());
    streamed += part;
  }
  streamed += d.Flush();
  EXPECT_EQ(streamed, text);
}

TEST(Utf8CompletePrefix, Cases) {
  EXPECT_EQ(Utf8CompletePrefix(""), 0u);
  EXPECT_EQ(Utf8CompletePrefix("abc"), 3u);
  EXPECT_EQ(Utf8CompletePrefix("a\xC3"), 1u);
  EXPECT_EQ(Utf8CompletePrefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(Utf8CompletePrefix("a\xF0\x9F\x98"), 1u);
  EXPECT_EQ(Utf8CompletePrefix("a\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(Utf8CompletePrefix("\x80\x80\x80\x80"), 4u);
  EXPECT_EQ(Utf8CompletePrefix("\xFF"), 1u);
}

TEST(Tokenizer, UnsupportedVocabulariesAreClearErrors) {
  VocabData v = ByteVocab({});
  v.model = "llama";
  auto r = Tokenizer::FromVocab(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'llama'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("gpt2"), std::string::npos);

  v = ByteVocab({});
  v.pre = "kimi-k2";
  r = Tokenizer::FromVocab(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'kimi-k2'"), std::string::npos);
  EXPECT_NE(r.status().message().find("deepseek-v3"), std::string::npos);

  v = ByteVocab({});
  v.types.pop_back();
  EXPECT_FALSE(Tokenizer::FromVocab(v).ok());

  v = ByteVocab({});
  v.merges = {"nospace"};
  r = Tokenizer::FromVocab(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nospace"), std::string::npos);

  v = ByteVocab({});
  v.bos = 5000;
  EXPECT_FALSE(Tokenizer::FromVocab(v).ok());
}

TEST(Tokenizer, GgufWithoutTokenizerOrWithOtherModel) {
  const std::string dir = test::TempDir();
  {
    auto w = gguf::Writer::Create(dir + "/none.gguf");
    ASSERT_TRUE(w.ok()) << w.status().message();
    (*w)->Set("general.architecture", gguf::Value::String("deepseek2"));
    ASSERT_TRUE((*w)->Finish().ok());
  }
  {
    auto w = gguf::Writer::Create(dir + "/spm.gguf");
    ASSERT_TRUE(w.ok());
    (*w)->Set("tokenizer.ggml.model", gguf::Value::String("llama"));
    (*w)->Set("tokenizer.ggml.tokens", gguf::Value::StringArray({"a", "b"}));
    ASSERT_TRUE((*w)->Finish().ok());
  }
  {
    auto w = gguf::Writer::Create(dir + "/qwen.gguf");
    ASSERT_TRUE(w.ok());
    (*w)->Set("tokenizer.ggml.model", gguf::Value::String("gpt2"));
    (*w)->Set("tokenizer.ggml.pre", gguf::Value::String("qwen2"));
    ASSERT_TRUE((*w)->Finish().ok());
  }
  const std::pair<const char*, const char*> cases[] = {
      {"none.gguf", "tokenizer.ggml.model is missing"}, {"spm.gguf", "'llama'"}, {"qwen.gguf", "'qwen2'"}};
  for (const auto& [name, needle] : cases) {
    auto f = gguf::File::Open(dir + "/" + name);
    ASSERT_TRUE(f.ok()) << f.status().message();
    auto t = Tokenizer::FromGguf(**f);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  }
}

}  // namespace
}  // namespace mla
