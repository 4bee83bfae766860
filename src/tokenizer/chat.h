// Built-in chat formats of the DeepSeek models (spec §8): each renders a conversation exactly as the
// model's own Jinja template does for plain chats (system / user / assistant / tool messages), and
// DetectChatFormat recognises which one a file's `tokenizer.chat_template` is (spec §8.6). No Jinja
// is executed.
//
// Render the prompt, then tokenize it with parse_special = true and add_special = false: the
// template already starts with BOS (spec §8).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mla {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"; other roles are ignored
  std::string content;
};

enum class ChatFormat {
  kDeepSeek2,           // V2 / V2-Lite-Chat / V2-Chat: "User: ...\n\nAssistant: ...<eos>"   (§8.1)
  kDeepSeek25,          // V2-Chat-0628 / V2.5 style: <｜User｜>, system + "\n\n"               (§8.2)
  kDeepSeek3,           // V3 / V3-0324: system right after BOS, <｜User｜>/<｜Assistant｜>      (§8.3)
  kDeepSeekR1,          // R1, revised (Feb 2025): history </think>-stripped, prompt opens <think>\n (§8.4)
  kDeepSeekR1Original,  // R1, original (Jan 2025): as revised but the prompt is <｜Assistant｜>  (§8.4)
  kDeepSeekV31,         // V3.1: <｜Assistant｜></think> / <think>, `thinking` flag            (§8.5)
};

// The default for templates that are missing or not recognised (documented in spec §8.6 terms).
inline constexpr ChatFormat kDefaultChatFormat = ChatFormat::kDeepSeek3;

// Canonical names: deepseek2, deepseek2.5, deepseek3, deepseek-r1, deepseek-r1-original,
// deepseek-v3.1. Aliases: deepseek-v2, deepseek-v2.5, deepseek-v2-0628, deepseek2-0628, 0628,
// deepseek-v3, deepseek3.1, deepseek-r1-revised.
std::optional<ChatFormat> ChatFormatFromName(std::string_view name);
const char* ChatFormatName(ChatFormat format);
// "deepseek2, deepseek2.5, ..." for error messages and --help.
std::string ChatFormatNames();

// Recognises a Jinja chat template (spec §8.6). Unknown or empty templates give kDefaultChatFormat
// with *recognised = false (and a warning in the log).
ChatFormat DetectChatFormat(std::string_view jinja, bool* recognised = nullptr);

// Renders `messages` as the model's template does. `bos`/`eos` are the token texts
// (<｜begin▁of▁sentence｜>, <｜end▁of▁sentence｜>). `thinking` only affects kDeepSeekV31.
std::string RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages,
                       bool add_generation_prompt, const std::string& bos, const std::string& eos,
                       bool thinking = false);

}  // namespace mla
