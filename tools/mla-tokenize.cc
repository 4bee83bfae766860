// mla-tokenize: text -> token ids (and back) with a GGUF file's vocabulary, with llama-tokenize's
// flags and output format. Only the metadata is read: the tensor data of the file is never touched,
// so it is instant even on a multi-hundred-GB model.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/log.h"
#include "gguf/gguf.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mla-tokenize: %s\n", message.c_str());
  return 1;
}

bool ReadAll(std::istream& in, std::string* out) {
  std::ostringstream buf;
  buf << in.rdbuf();
  *out = buf.str();
  return !in.bad();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// llama-tokenize's escape processing: \n \r \t \' \" \\ and \xHH; anything else is kept as written.
std::string ProcessEscapes(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char c = s[i + 1];
    switch (c) {
      case 'n': out.push_back('\n'); ++i; continue;
      case 'r': out.push_back('\r'); ++i; continue;
      case 't': out.push_back('\t'); ++i; continue;
      case '\'': out.push_back('\''); ++i; continue;
      case '"': out.push_back('"'); ++i; continue;
      case '\\': out.push_back('\\'); ++i; continue;
      case 'x':
        if (i + 3 < s.size() && HexValue(s[i + 2]) >= 0 && HexValue(s[i + 3]) >= 0) {
          out.push_back(char(HexValue(s[i + 2]) * 16 + HexValue(s[i + 3])));
          i += 3;
          continue;
        }
        break;
      default:
        break;
    }
    out.push_back(s[i]);
  }
  return out;
}

// "1, 2, 3", "[1, 2, 3]" or whitespace-separated ids.
mla::Result<std::vector<int32_t>> ParseIds(const std::string& text, int32_t n_vocab) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '[' || c == ']' || c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    size_t j = i;
    if (text[j] == '-') ++j;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i || (j == i + 1 && text[i] == '-')) {
      return mla::Errorf("--detokenize: expected token ids such as \"1, 2, 3\", found '%s'",
                         text.substr(i, 20).c_str());
    }
    long long v = 0;
    try {
      v = std::stoll(text.substr(i, j - i));
    } catch (...) {
      v = -1;
    }
    if (v < 0 || v >= n_vocab) {
      return mla::Errorf("--detokenize: token id %s is outside the vocabulary (0..%d)", text.substr(i, j - i).c_str(),
                         n_vocab - 1);
    }
    ids.push_back(int32_t(v));
    i = j;
  }
  return ids;
}

mla::Result<std::vector<mla::ChatMessage>> ReadChat(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return mla::Errorf("cannot open --chat file '%s'", path.c_str());
  std::string text;
  ReadAll(in, &text);
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("messages")) doc = doc["messages"];
  if (!doc.is_array()) {
    return mla::Errorf("--chat file '%s': expected a JSON array of {\"role\", \"content\"} messages (or an object "
                       "with \"messages\")", path.c_str());
  }
  std::vector<mla::ChatMessage> messages;
  for (const auto& m : doc) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
        (m.contains("content") && !m["content"].is_string() && !m["content"].is_null())) {
      return mla::Errorf("--chat file '%s': each message needs a string \"role\" and a string \"content\", found %s",
                         path.c_str(), m.dump().substr(0, 80).c_str());
    }
    messages.push_back({m["role"].get<std::string>(),
                        m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : ""});
  }
  return messages;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenize text with the vocabulary of a GGUF model (llama-tokenize compatible)"};
  std::string model, prompt, file, chat_file, chat_template;
  bool use_stdin = false, print_ids = false, no_bos = false, no_escape = false, no_parse_special = false;
  bool show_count = false, log_disable = false, detokenize = false, render_only = false, thinking = false;
  app.add_option("-m,--model", model, "GGUF file (only its tokenizer metadata is read)")->required();
  auto* p_opt = app.add_option("-p,--prompt", prompt, "text to tokenize (with --detokenize: ids, e.g. \"1, 2, 3\")");
  auto* f_opt = app.add_option("-f,--file", file, "read the text from a file");
  auto* s_opt = app.add_flag("--stdin", use_stdin, "read the text from standard input");
  auto* c_opt = app.add_option("--chat", chat_file, "render a conversation (JSON [{\"role\",\"content\"}...]) with "
                                                    "the model's chat format, then tokenize it");
  p_opt->excludes(f_opt)->excludes(s_opt)->excludes(c_opt);
  f_opt->excludes(s_opt)->excludes(c_opt);
  s_opt->excludes(c_opt);
  app.add_flag("--ids", print_ids, "print only the ids, as [1, 2, 3]");
  app.add_flag("--no-bos", no_bos, "do not add the BOS token");
  app.add_flag("--no-escape", no_escape, "do not process escapes (\\n, \\t, \\xHH ...) in the text");
  app.add_flag("--no-parse-special", no_parse_special,
               "treat control-token texts as plain text (user-defined tokens are still matched)");
  app.add_flag("--show-count", show_count, "print the number of tokens");
  app.add_flag("--log-disable", log_disable, "no log output");
  app.add_flag("--detokenize", detokenize, "ids in (-p, -f or --stdin), text out");
  app.add_option("--chat-template", chat_template,
                 "chat format for --chat: " + mla::ChatFormatNames() + " (default: detected from the model)");
  app.add_flag("--render", render_only, "with --chat: print the rendered prompt instead of its tokens");
  app.add_flag("--thinking", thinking, "with --chat and deepseek-v3.1: open a reasoning block");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(e.what());
  }
  mla::SetLogLevel(log_disable ? mla::LogLevel::kNone : mla::LogLevel::kWarn);
  if (prompt.empty() && p_opt->count() == 0 && file.empty() && !use_stdin && chat_file.empty()) {
    return Fail("no input: use one of -p TEXT, -f FILE, --stdin or --chat FILE");
  }
  if (!chat_template.empty() && !mla::ChatFormatFromName(chat_template)) {
    return Fail("--chat-template '" + chat_template + "' is not one of: " + mla::ChatFormatNames());
  }

  auto gguf_file = mla::gguf::File::Open(model);
  if (!gguf_file.ok()) return Fail(gguf_file.status().message());
  auto tok_result = mla::Tokenizer::FromGguf(**gguf_file);
  if (!tok_result.ok()) return Fail(tok_result.status().message());
  const mla::Tokenizer& tok = **tok_result;

  std::string text;
  bool from_chat = false;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail("cannot open '" + file + "'");
    if (!ReadAll(in, &text)) return Fail("error reading '" + file + "'");
  } else if (use_stdin) {
    if (!ReadAll(std::cin, &text)) return Fail("error reading standard input");
  } else if (!chat_file.empty()) {
    auto messages = ReadChat(chat_file);
    if (!messages.ok()) return Fail(messages.status().message());
    mla::ChatFormat format = chat_template.empty() ? mla::DetectChatFormat(tok.chat_template())
                                                   : *mla::ChatFormatFromName(chat_template);
    text = mla::RenderChat(format, *messages, /*add_generation_prompt=*/true, tok.TokenText(tok.bos()),
                           tok.TokenText(tok.eos()), thinking);
    from_chat = true;
    if (render_only) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::printf("\n");
      return 0;
    }
  } else {
    text = prompt;
  }

  if (detokenize) {
    auto ids = ParseIds(text, tok.n_vocab());
    if (!ids.ok()) return Fail(ids.status().message());
    std::string out = tok.Decode(*ids, /*special=*/!no_parse_special);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::printf("\n");
    return 0;
  }

  if (!no_escape && !from_chat) text = ProcessEscapes(text);
  // A rendered chat already starts with BOS (spec §8): never add another.
  const bool add_special = !no_bos && !from_chat;
  auto ids = tok.Encode(text, add_special, /*parse_special=*/from_chat || !no_parse_special);
  if (!ids.ok()) return Fail(ids.status().message());

  if (print_ids) {
    std::printf("[");
    for (size_t i = 0; i < ids->size(); ++i) std::printf(i ? ", %d" : "%d", (*ids)[i]);
    std::printf("]\n");
  } else {
    for (int32_t id : *ids) {
      std::string piece = tok.TokenToPiece(id, /*special=*/true);
      std::printf("%6d -> '", id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::printf("'\n");
    }
  }
  if (show_count) std::printf("Total number of tokens: %zu\n", ids->size());
  return 0;
}
