// Built-in DeepSeek chat formats (spec §8). Each Render* function follows the control flow of the
// model's Jinja template for messages that carry plain content (no tool_calls objects), including
// the templates' namespace flags (is_tool, is_output_first, is_last_user).
#include "tokenizer/chat.h"

#include "base/log.h"

namespace mla {
namespace {

// Literal texts the V3-family templates write (they do not use the eos_token variable).
constexpr std::string_view kEosText = "<｜end▁of▁sentence｜>";
constexpr std::string_view kUser = "<｜User｜>";
constexpr std::string_view kAssistant = "<｜Assistant｜>";
constexpr std::string_view kThinkEnd = "</think>";
constexpr std::string_view kOutputsBegin = "<｜tool▁outputs▁begin｜>";
constexpr std::string_view kOutputsEnd = "<｜tool▁outputs▁end｜>";
constexpr std::string_view kOutputBegin = "<｜tool▁output▁begin｜>";
constexpr std::string_view kOutputEnd = "<｜tool▁output▁end｜>";

struct NameEntry {
  std::string_view name;
  ChatFormat format;
};
// Canonical names first (ChatFormatName returns the first entry of each format).
constexpr NameEntry kNames[] = {
    {"deepseek2", ChatFormat::kDeepSeek2},
    {"deepseek2.5", ChatFormat::kDeepSeek25},
    {"deepseek3", ChatFormat::kDeepSeek3},
    {"deepseek-r1", ChatFormat::kDeepSeekR1},
    {"deepseek-r1-original", ChatFormat::kDeepSeekR1Original},
    {"deepseek-v3.1", ChatFormat::kDeepSeekV31},
    {"deepseek-v2", ChatFormat::kDeepSeek2},
    {"deepseek-v2.5", ChatFormat::kDeepSeek25},
    {"deepseek-v2-0628", ChatFormat::kDeepSeek25},
    {"deepseek2-0628", ChatFormat::kDeepSeek25},
    {"0628", ChatFormat::kDeepSeek25},
    {"deepseek-v3", ChatFormat::kDeepSeek3},
    {"deepseek3.1", ChatFormat::kDeepSeekV31},
    {"deepseek-r1-revised", ChatFormat::kDeepSeekR1},
};
constexpr size_t kCanonicalCount = 6;

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// System messages joined by "\n\n", in order (V3 / V3.1 `ns.system_prompt`).
std::string JoinedSystemPrompt(const std::vector<ChatMessage>& messages) {
  std::string out;
  bool first = true;
  for (const ChatMessage& m : messages) {
    if (m.role != "system") continue;
    if (!first) out += "\n\n";
    out += m.content;
    first = false;
  }
  return out;
}

// §8.1: 'User: ' + content + '\n\n', 'Assistant: ' + content + eos_token, system + '\n\n'.
std::string RenderV2(const std::vector<ChatMessage>& messages, bool add_gen, const std::string& bos,
                     const std::string& eos) {
  std::string out = bos;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      out += "User: " + m.content + "\n\n";
    } else if (m.role == "assistant") {
      out += "Assistant: " + m.content + eos;
    } else if (m.role == "system") {
      out += m.content + "\n\n";
    }
  }
  if (add_gen) out += "Assistant:";
  return out;
}

// §8.2 (V2-Chat-0628): the V2 structure with the <｜User｜>/<｜Assistant｜> tokens.
std::string RenderV25(const std::vector<ChatMessage>& messages, bool add_gen, const std::string& bos,
                      const std::string& eos) {
  std::string out = bos;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      out += std::string(kUser) + m.content;
    } else if (m.role == "assistant") {
      out += std::string(kAssistant) + m.content + eos;
    } else if (m.role == "system") {
      out += m.content + "\n\n";
    }
  }
  if (add_gen) out += kAssistant;
  return out;
}

// §8.3 and §8.4: V3 and R1 share the structure; R1 keeps only the last system message (its template
// assigns instead of appending), strips reasoning from assistant history (text after the last
// </think>) and, when revised, opens the reasoning block in the generation prompt.
std::string RenderV3Family(const std::vector<ChatMessage>& messages, bool add_gen, const std::string& bos,
                           bool r1, bool r1_revised) {
  std::string out = bos;
  if (r1) {
    for (const ChatMessage& m : messages) {
      if (m.role == "system") out = bos + m.content;
    }
  } else {
    out += JoinedSystemPrompt(messages);
  }
  bool is_tool = false;
  bool is_output_first = true;  // never reset, as in the templates
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      is_tool = false;
      out += std::string(kUser) + m.content;
    } else if (m.role == "assistant") {
      if (is_tool) {
        out += std::string(kOutputsEnd) + m.content + std::string(kEosText);
        is_tool = false;
      } else {
        std::string_view content = m.content;
        if (r1) {
          size_t pos = content.rfind(kThinkEnd);  // content.split('</think>')[-1]
          if (pos != std::string_view::npos) content = content.substr(pos + kThinkEnd.size());
        }
        out += std::string(kAssistant);
        out += content;
        out += kEosText;
      }
    } else if (m.role == "tool") {
      is_tool = true;
      if (is_output_first) {
        out += std::string(kOutputsBegin) + std::string(kOutputBegin) + m.content + std::string(kOutputEnd);
        is_output_first = false;
      } else {
        out += "\n" + std::string(kOutputBegin) + m.content + std::string(kOutputEnd);
      }
    }
  }
  if (is_tool) out += kOutputsEnd;
  if (add_gen && !is_tool) {
    out += kAssistant;
    if (r1_revised) out += "<think>\n";
  }
  return out;
}

// §8.5: assistant turns after a user turn open with <｜Assistant｜></think>; reasoning before the
// first </think> is dropped; tool outputs have no outer begin/end; generation prompt only after a
// user turn.
std::string RenderV31(const std::vector<ChatMessage>& messages, bool add_gen, const std::string& bos,
                      bool thinking) {
  std::string out = bos + JoinedSystemPrompt(messages);
  bool is_tool = false;
  bool is_last_user = false;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      is_tool = false;
      is_last_user = true;
      out += std::string(kUser) + m.content;
    } else if (m.role == "assistant") {
      if (is_last_user) out += std::string(kAssistant) + std::string(kThinkEnd);
      is_last_user = false;
      if (is_tool) {
        out += m.content + std::string(kEosText);
        is_tool = false;
      } else {
        std::string_view content = m.content;
        size_t pos = content.find(kThinkEnd);  // content.split('</think>', 1)[1]
        if (pos != std::string_view::npos) content = content.substr(pos + kThinkEnd.size());
        out += content;
        out += kEosText;
      }
    } else if (m.role == "tool") {
      is_last_user = false;
      is_tool = true;
      out += std::string(kOutputBegin) + m.content + std::string(kOutputEnd);
    }
  }
  if (add_gen && is_last_user && !is_tool) {
    out += kAssistant;
    out += thinking ? "<think>" : "</think>";
  }
  return out;
}

}  // namespace

std::optional<ChatFormat> ChatFormatFromName(std::string_view name) {
  for (const NameEntry& e : kNames) {
    if (e.name == name) return e.format;
  }
  return std::nullopt;
}

const char* ChatFormatName(ChatFormat format) {
  for (const NameEntry& e : kNames) {
    if (e.format == format) return e.name.data();  // literals: NUL-terminated
  }
  return "unknown";
}

std::string ChatFormatNames() {
  std::string out;
  for (size_t i = 0; i < kCanonicalCount; ++i) {
    if (i) out += ", ";
    out += kNames[i].name;
  }
  return out;
}

ChatFormat DetectChatFormat(std::string_view t, bool* recognised) {
  if (recognised) *recognised = true;
  // Spec §8.6, in order.
  if (Contains(t, "'Assistant: ' + message['content'] + eos_token")) return ChatFormat::kDeepSeek2;
  if (Contains(t, "thinking") && Contains(t, "'<｜Assistant｜></think>'")) return ChatFormat::kDeepSeekV31;
  // llama.cpp's deepseek3 rule names the literal EOS text; V2-Chat-0628's template writes eos_token
  // instead, so either counts.
  if (Contains(t, kAssistant) && Contains(t, kUser) && (Contains(t, kEosText) || Contains(t, "eos_token"))) {
    // R1 revised: the generation prompt opens the reasoning block (Jinja escape or a real newline).
    if (Contains(t, "<｜Assistant｜><think>\\n") || Contains(t, "<｜Assistant｜><think>\n")) {
      return ChatFormat::kDeepSeekR1;
    }
    if (Contains(t, "split('</think>')")) return ChatFormat::kDeepSeekR1Original;
    if (Contains(t, "is_first_sp") || Contains(t, "tool▁calls▁begin")) return ChatFormat::kDeepSeek3;
    return ChatFormat::kDeepSeek25;
  }
  if (recognised) *recognised = false;
  if (t.empty()) {
    Log(LogLevel::kWarn, "the model has no chat template; using the built-in %s format",
        ChatFormatName(kDefaultChatFormat));
  } else {
    Log(LogLevel::kWarn, "chat template not recognised as a DeepSeek format; using the built-in %s format "
        "(choose another with --chat-template NAME: %s)", ChatFormatName(kDefaultChatFormat),
        ChatFormatNames().c_str());
  }
  return kDefaultChatFormat;
}

std::string RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                       const std::string& bos, const std::string& eos, bool thinking) {
  switch (format) {
    case ChatFormat::kDeepSeek2:
      return RenderV2(messages, add_generation_prompt, bos, eos);
    case ChatFormat::kDeepSeek25:
      return RenderV25(messages, add_generation_prompt, bos, eos);
    case ChatFormat::kDeepSeek3:
      return RenderV3Family(messages, add_generation_prompt, bos, false, false);
    case ChatFormat::kDeepSeekR1:
      return RenderV3Family(messages, add_generation_prompt, bos, true, true);
    case ChatFormat::kDeepSeekR1Original:
      return RenderV3Family(messages, add_generation_prompt, bos, true, false);
    case ChatFormat::kDeepSeekV31:
      return RenderV31(messages, add_generation_prompt, bos, thinking);
  }
  return std::string();
}

}  // namespace mla
