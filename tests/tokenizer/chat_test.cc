// Chat formats against the exact renderings of spec §8 (conversations A and B), and template
// detection (§8.6) on the real template texts (fixture GGUFs) and on templates derived from them.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

namespace mla {
namespace {

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

const std::vector<ChatMessage> kA = {
    {"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"}};
const std::vector<ChatMessage> kB = {
    {"user", "Hi there."}, {"assistant", "<think>The user said \"Hi there.\"</think>Hi!"}, {"user", "Tell me a joke."}};

std::string Render(ChatFormat f, const std::vector<ChatMessage>& m, bool thinking = false) {
  return RenderChat(f, m, /*add_generation_prompt=*/true, kBos, kEos, thinking);
}

TEST(Chat, DeepSeek2) {  // §8.1
  EXPECT_EQ(Render(ChatFormat::kDeepSeek2, kA),
            "<｜begin▁of▁sentence｜>You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi "
            "there<｜end▁of▁sentence｜>User: Who are you\n\nAssistant:");
  // B by the rules of §8.1 (the V2 template keeps assistant content as it is).
  EXPECT_EQ(Render(ChatFormat::kDeepSeek2, kB),
            "<｜begin▁of▁sentence｜>User: Hi there.\n\nAssistant: <think>The user said \"Hi "
            "there.\"</think>Hi!<｜end▁of▁sentence｜>User: Tell me a joke.\n\nAssistant:");
  EXPECT_EQ(RenderChat(ChatFormat::kDeepSeek2, kA, false, kBos, kEos),
            "<｜begin▁of▁sentence｜>You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi "
            "there<｜end▁of▁sentence｜>User: Who are you\n\n");
}

TEST(Chat, DeepSeek25) {  // §8.2
  EXPECT_EQ(Render(ChatFormat::kDeepSeek25, kA),
            "<｜begin▁of▁sentence｜>You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeek25, kB),
            "<｜begin▁of▁sentence｜><｜User｜>Hi there.<｜Assistant｜><think>The user said \"Hi "
            "there.\"</think>Hi!<｜end▁of▁sentence｜><｜User｜>Tell me a joke.<｜Assistant｜>");
}

TEST(Chat, DeepSeek3) {  // §8.3
  EXPECT_EQ(Render(ChatFormat::kDeepSeek3, kA),
            "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeek3, kB),
            "<｜begin▁of▁sentence｜><｜User｜>Hi there.<｜Assistant｜><think>The user said \"Hi "
            "there.\"</think>Hi!<｜end▁of▁sentence｜><｜User｜>Tell me a joke.<｜Assistant｜>");
  // Several system messages are joined by a blank line; no generation prompt when not asked.
  EXPECT_EQ(RenderChat(ChatFormat::kDeepSeek3, {{"system", "A"}, {"user", "u"}, {"system", "B"}}, false, kBos, kEos),
            kBos + "A\n\nB<｜User｜>u");
}

TEST(Chat, DeepSeekR1) {  // §8.4
  EXPECT_EQ(Render(ChatFormat::kDeepSeekR1, kA),
            "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekR1Original, kB),
            "<｜begin▁of▁sentence｜><｜User｜>Hi there.<｜Assistant｜>Hi!<｜end▁of▁sentence｜><｜User｜>Tell me a "
            "joke.<｜Assistant｜>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekR1, kB),
            "<｜begin▁of▁sentence｜><｜User｜>Hi there.<｜Assistant｜>Hi!<｜end▁of▁sentence｜><｜User｜>Tell me a "
            "joke.<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekR1Original, kA),
            "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜>");
  // Only the text after the last </think> is kept.
  EXPECT_EQ(RenderChat(ChatFormat::kDeepSeekR1, {{"assistant", "a</think>b</think>c"}}, false, kBos, kEos),
            kBos + "<｜Assistant｜>c" + kEos);
}

TEST(Chat, DeepSeekV31) {  // §8.5
  EXPECT_EQ(Render(ChatFormat::kDeepSeekV31, kA, false),
            "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜></think>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜></think>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekV31, kA, true),
            "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜></think>Hi "
            "there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜><think>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekV31, kB, false),
            "<｜begin▁of▁sentence｜><｜User｜>Hi there.<｜Assistant｜></think>Hi!<｜end▁of▁sentence｜><｜User｜>Tell "
            "me a joke.<｜Assistant｜></think>");
  // Only the text after the first </think> is kept.
  EXPECT_EQ(RenderChat(ChatFormat::kDeepSeekV31, {{"user", "q"}, {"assistant", "a</think>b</think>c"}}, false, kBos,
                       kEos),
            kBos + "<｜User｜>q<｜Assistant｜></think>b</think>c" + kEos);
}

TEST(Chat, ToolOutputs) {
  const std::vector<ChatMessage> m = {{"user", "q"}, {"tool", "r1"}, {"tool", "r2"}, {"assistant", "ans"}};
  EXPECT_EQ(Render(ChatFormat::kDeepSeek3, m),
            kBos + "<｜User｜>q<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>\n"
                   "<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>ans" + kEos +
                "<｜Assistant｜>");
  EXPECT_EQ(Render(ChatFormat::kDeepSeekV31, m),
            kBos + "<｜User｜>q<｜tool▁output▁begin｜>r1<｜tool▁output▁end｜><｜tool▁output▁begin｜>r2"
                   "<｜tool▁output▁end｜>ans" + kEos);
  // A conversation ending in tool output: the outputs block is closed, no generation prompt (V3).
  EXPECT_EQ(Render(ChatFormat::kDeepSeek3, {{"user", "q"}, {"tool", "r"}}),
            kBos + "<｜User｜>q<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
}

TEST(Chat, Names) {
  for (ChatFormat f : {ChatFormat::kDeepSeek2, ChatFormat::kDeepSeek25, ChatFormat::kDeepSeek3, ChatFormat::kDeepSeekR1,
                       ChatFormat::kDeepSeekR1Original, ChatFormat::kDeepSeekV31}) {
    EXPECT_EQ(ChatFormatFromName(ChatFormatName(f)), std::optional<ChatFormat>(f));
  }
  EXPECT_EQ(ChatFormatFromName("deepseek-v2.5"), std::optional<ChatFormat>(ChatFormat::kDeepSeek25));
  EXPECT_EQ(ChatFormatFromName("deepseek-v2-0628"), std::optional<ChatFormat>(ChatFormat::kDeepSeek25));
  EXPECT_EQ(ChatFormatFromName("deepseek-v3"), std::optional<ChatFormat>(ChatFormat::kDeepSeek3));
  EXPECT_EQ(ChatFormatFromName("chatml"), std::nullopt);
  EXPECT_EQ(ChatFormatNames(), "deepseek2, deepseek2.5, deepseek3, deepseek-r1, deepseek-r1-original, deepseek-v3.1");
}

std::string TemplateOf(const std::string& fixture) {
  auto f = gguf::File::Open(test::Fixture(fixture));
  EXPECT_TRUE(f.ok()) << f.status().message();
  if (!f.ok()) return "";
  auto t = (*f)->GetString("tokenizer.chat_template");
  EXPECT_TRUE(t.ok());
  return t.ok() ? *t : "";
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

ChatFormat Detect(const std::string& t, bool expect_recognised = true) {
  bool recognised = !expect_recognised;
  ChatFormat f = DetectChatFormat(t, &recognised);
  EXPECT_EQ(recognised, expect_recognised);
  return f;
}

TEST(Chat, DetectRealTemplates) {
  const std::string v2 = TemplateOf("models/ds2-lite-tiny.mla.gguf");
  const std::string v3 = TemplateOf("models/ds3-tiny.mla.gguf");
  ASSERT_FALSE(v2.empty());
  ASSERT_FALSE(v3.empty());
  EXPECT_EQ(Detect(v2), ChatFormat::kDeepSeek2);
  EXPECT_EQ(Detect(v3), ChatFormat::kDeepSeek3);

  // V2-Chat-0628 (spec §8.2, verbatim).
  const std::string v0628 =
      "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}"
      "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
      "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}"
      "{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";
  EXPECT_EQ(Detect(v0628), ChatFormat::kDeepSeek25);

  // R1: V3's template with reasoning stripped from assistant history (§8.4); the revised one also
  // opens <think> in the generation prompt.
  const std::string v3_assistant = "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}";
  const std::string r1_assistant =
      "{% set content = message['content'] %}{% if '</think>' in content %}{% set content = "
      "content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}";
  const std::string r1 = Replace(v3, v3_assistant, r1_assistant);
  EXPECT_EQ(Detect(r1), ChatFormat::kDeepSeekR1Original);
  const std::string r1_revised = Replace(r1, "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}",
                                         "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}");
  EXPECT_EQ(Detect(r1_revised), ChatFormat::kDeepSeekR1);

  // V3.1: a `thinking` flag and assistant turns opened with <｜Assistant｜></think> (§8.5).
  const std::string v31 =
      "{% if not thinking is defined %}{% set thinking = false %}{% endif %}" +
      Replace(v3, v3_assistant, "{{'<｜Assistant｜></think>'}}{{message['content'] + '<｜end▁of▁sentence｜>'}}");
  EXPECT_EQ(Detect(v31), ChatFormat::kDeepSeekV31);
}

TEST(Chat, UnknownTemplatesFallBackToDefault) {
  EXPECT_EQ(Detect("", false), kDefaultChatFormat);
  EXPECT_EQ(Detect("{% for m in messages %}<|im_start|>{{ m['role'] }}{% endfor %}", false), ChatFormat::kDeepSeek3);
  // deepseek-coder instruct (llama.cpp `deepseek`) is out of scope.
  EXPECT_EQ(Detect("### Instruction:\n{{ content }}\n### Response:\n<|EOT|>", false), kDefaultChatFormat);
}

TEST(Chat, RenderedPromptTokenizesWithSpecialTokens) {
  auto f = gguf::File::Open(test::Fixture("models/ds3-tiny.mla.gguf"));
  ASSERT_TRUE(f.ok());
  auto tok = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(tok.ok());
  const Tokenizer& t = **tok;
  ChatFormat format = DetectChatFormat(t.chat_template());
  std::string prompt = RenderChat(format, kA, true, t.TokenText(t.bos()), t.TokenText(t.eos()));
  auto ids = t.Encode(prompt, /*add_special=*/false, /*parse_special=*/true);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 6u);
  EXPECT_EQ(ids->front(), t.bos());
  EXPECT_EQ(ids->back(), *t.FindToken("<｜Assistant｜>"));
  EXPECT_EQ(std::count(ids->begin(), ids->end(), *t.FindToken("<｜User｜>")), 2);
  EXPECT_EQ(std::count(ids->begin(), ids->end(), t.eos()), 1);
  EXPECT_EQ(t.Decode(*ids, true), prompt);
}

}  // namespace
}  // namespace mla
