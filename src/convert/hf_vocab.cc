#include "convert/hf_vocab.h"

#include <cinttypes>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/pretokenizer.h"

namespace mla::convert {

namespace {

using nlohmann::json;
using gguf::Value;

// GGUF token types (spec §2.2).
constexpr int64_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

Result<json> ParseJson(const std::string& text, const char* what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return Errorf("%s is not valid JSON: %s", what, e.what());
  }
}

bool ReadOptional(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// The names of the pre-tokenizers the engine's tokenizer implements.
std::vector<std::string> KnownPreTokenizers() {
  std::vector<std::string> names;
  const std::string all = PreTokenizer::SupportedNames();
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find(',', start);
    if (end == std::string::npos) end = all.size();
    std::string n = all.substr(start, end - start);
    while (!n.empty() && n.front() == ' ') n.erase(n.begin());
    while (!n.empty() && n.back() == ' ') n.pop_back();
    if (!n.empty()) names.push_back(n);
    start = end + 1;
  }
  return names;
}

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Added tokens that are not flagged special but are control tokens by their look (llama.cpp's
// converter: DeepSeek's <｜...｜>, <|...|>, deepseek-coder's <pad>).
bool LooksSpecial(const std::string& t) {
  return t == "<pad>" || (StartsWith(t, "<|") && EndsWith(t, "|>")) ||
         (StartsWith(t, "<\xEF\xBD\x9C") && EndsWith(t, "\xEF\xBD\x9C>"));
}

// A special-token entry of tokenizer_config.json: "text" or {"content": "text", ...}.
std::optional<std::string> TokenText(const json& tc, const char* key) {
  if (!tc.contains(key)) return std::nullopt;
  const json& v = tc[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

// gguf-py's rule for add_sep_token: a TemplateProcessing whose pair template (after dropping the
// single template's leading/trailing special tokens) has special tokens between $A and $B.
std::optional<bool> AddSepToken(const json& tj, const json& tc) {
  if (!tj.contains("post_processor") || !tj["post_processor"].is_object()) return std::nullopt;
  const json& pp = tj["post_processor"];
  std::vector<json> procs;
  if (pp.contains("processors") && pp["processors"].is_array()) {
    for (const json& p : pp["processors"]) procs.push_back(p);
  } else {
    procs.push_back(pp);
  }
  auto special_id = [](const json& item) -> std::optional<std::string> {
    if (item.is_object() && item.contains("SpecialToken") && item["SpecialToken"].is_object() &&
        item["SpecialToken"].contains("id") && item["SpecialToken"]["id"].is_string())
      return item["SpecialToken"]["id"].get<std::string>();
    return std::nullopt;
  };
  auto sequence_id = [](const json& item) -> std::optional<std::string> {
    if (item.is_object() && item.contains("Sequence") && item["Sequence"].is_object() &&
        item["Sequence"].contains("id") && item["Sequence"]["id"].is_string())
      return item["Sequence"]["id"].get<std::string>();
    return std::nullopt;
  };
  std::optional<bool> result;
  for (const json& proc : procs) {
    if (!proc.is_object() || proc.value("type", "") != "TemplateProcessing") continue;
    const json single = proc.contains("single") && proc["single"].is_array() ? proc["single"] : json::array();
    std::vector<json> pair;
    if (proc.contains("pair") && proc["pair"].is_array())
      for (const json& p : proc["pair"]) pair.push_back(p);
    std::optional<std::string> first, last;
    if (single.size() > 1) {
      first = special_id(single.front());
      last = special_id(single.back());
    }
    if (!pair.empty() && first && special_id(pair.front()) == first) pair.erase(pair.begin());
    if (!pair.empty() && last && special_id(pair.back()) == last) pair.pop_back();
    if (pair.size() > 2 && sequence_id(pair.front()) == std::optional<std::string>("A") &&
        sequence_id(pair.back()) == std::optional<std::string>("B")) {
      std::vector<std::optional<std::string>> ids;
      for (size_t i = 1; i + 1 < pair.size(); ++i) ids.push_back(special_id(pair[i]));
      const auto sep = TokenText(tc, "sep_token"), eos = TokenText(tc, "eos_token");
      auto ok = [&](const std::optional<std::string>& id) { return id && (id == sep || id == eos); };
      result = (ok(ids[0]) && !last) || (ids.size() == 2 && ok(ids[1]));
    }
  }
  return result;
}

}  // namespace

Result<std::string> IdentifyPreTokenizer(const std::string& pre_tokenizer_json) {
  MLA_ASSIGN_OR_RETURN(json pre, ParseJson(pre_tokenizer_json, "pre_tokenizer"));
  // Collect the Split regexes in application order; a trailing ByteLevel without its own regex is
  // the byte-to-unicode step every gpt2 vocabulary has.
  std::vector<std::string> found;
  std::vector<json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array()) {
    for (const json& s : pre["pretokenizers"]) steps.push_back(s);
  } else if (!pre.is_null()) {
    steps.push_back(pre);
  }
  std::string other;
  for (const json& s : steps) {
    const std::string type = s.is_object() ? s.value("type", "") : "";
    if (type == "Split" && s.contains("pattern") && s["pattern"].is_object() &&
        s["pattern"].contains("Regex") && s["pattern"]["Regex"].is_string() &&
        s.value("behavior", "") == "Isolated" && !s.value("invert", false)) {
      found.push_back(s["pattern"]["Regex"].get<std::string>());
    } else if (type == "ByteLevel" && !s.value("use_regex", true)) {
      continue;
    } else {
      other = s.dump();
      break;
    }
  }
  if (other.empty()) {
    for (const std::string& name : KnownPreTokenizers()) {
      const std::vector<std::string>* list = PreTokenizer::RegexesFor(name);
      if (list && *list == found) return name;
    }
  }
  std::string what = other.empty() ? "" : "a step " + other.substr(0, 200) + " and ";
  what += std::to_string(found.size()) + " Split regexes";
  for (const std::string& r : found) what += "\n  " + r.substr(0, 160);
  return Errorf("tokenizer.json: unknown pre-tokenizer (expected the Split regexes of one of: %s; "
                "found %s). Add it to the tokenizer first, or pass --tokenizer-pre NAME",
                PreTokenizer::SupportedNames().c_str(), what.c_str());
}

Result<std::vector<std::pair<std::string, Value>>> TokenizerKeysFromText(
    const std::string& tokenizer_json, const std::string& tokenizer_config_json,
    const std::string& chat_template_file, const VocabOptions& o) {
  MLA_ASSIGN_OR_RETURN(json tj, ParseJson(tokenizer_json, "tokenizer.json"));
  json tc = json::object();
  if (!tokenizer_config_json.empty()) {
    MLA_ASSIGN_OR_RETURN(tc, ParseJson(tokenizer_config_json, "tokenizer_config.json"));
    if (!tc.is_object()) return Errorf("tokenizer_config.json: expected an object, found %s", tc.type_name());
  }
  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    return Errorf("tokenizer.json: expected an object with a \"model\" object");
  const json& model = tj["model"];
  if (model.value("type", "") != "BPE")
    return Errorf("tokenizer.json: model type \"%s\" is not supported (expected BPE, byte-level)",
                  model.value("type", "").c_str());
  if (!model.contains("vocab") || !model["vocab"].is_object())
    return Errorf("tokenizer.json: model.vocab must be an object of token -> id");
  if (o.vocab_size < 1 || o.vocab_size > INT32_MAX) return Errorf("vocab_size %" PRId64 " out of range", o.vocab_size);

  // id -> text; added tokens override the model vocabulary (as the reference converters do).
  std::vector<std::optional<std::string>> text(static_cast<size_t>(o.vocab_size));
  std::map<std::string, int64_t> id_of;
  auto put = [&](const std::string& t, const json& id_json) -> Status {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0)
      return Errorf("tokenizer.json: token \"%s\" has id %s, expected a non-negative integer", t.c_str(),
                    id_json.dump().c_str());
    const int64_t id = id_json.get<int64_t>();
    if (id >= o.vocab_size)
      return Errorf("tokenizer.json: token \"%s\" has id %" PRId64 ", not below config.json vocab_size %" PRId64,
                    t.c_str(), id, o.vocab_size);
    text[size_t(id)] = t;
    id_of[t] = id;
    return Status::Ok();
  };
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it)
    MLA_RETURN_IF_ERROR(put(it.key(), it.value()));
  std::map<int64_t, json> added;
  if (tj.contains("added_tokens")) {
    if (!tj["added_tokens"].is_array()) return Errorf("tokenizer.json: added_tokens must be a list");
    for (const json& a : tj["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id"))
        return Errorf("tokenizer.json: added token %s lacks id or content", a.dump().substr(0, 200).c_str());
      MLA_RETURN_IF_ERROR(put(a["content"].get<std::string>(), a["id"]));
      added[a["id"].get<int64_t>()] = a;
    }
  }

  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  tokens.reserve(text.size());
  types.reserve(text.size());
  for (int64_t i = 0; i < o.vocab_size; ++i) {
    if (!text[size_t(i)]) {
      tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.push_back(kUnused);
      continue;
    }
    std::string t = *text[size_t(i)];
    auto a = added.find(i);
    if (a != added.end() && a->second["content"].get<std::string>() == t) {
      if (a->second.value("special", false) || LooksSpecial(t)) {
        types.push_back(kControl);
      } else {
        // llama.cpp's converter pre-normalises SentencePiece spaces in user-defined tokens.
        t = ReplaceAll(t, "\xE2\x96\x81", " ");
        types.push_back(kUserDefined);
      }
    } else {
      types.push_back(kNormal);
    }
    tokens.push_back(std::move(t));
  }

  std::vector<std::string> merges;
  if (model.contains("merges") && !model["merges"].is_null()) {
    if (!model["merges"].is_array()) return Errorf("tokenizer.json: model.merges must be a list");
    merges.reserve(model["merges"].size());
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return Errorf("tokenizer.json: merge %s is neither \"a b\" nor [\"a\", \"b\"]", m.dump().substr(0, 200).c_str());
      }
    }
  }

  std::string pre = o.pre_override;
  if (pre.empty()) {
    auto p = IdentifyPreTokenizer(tj.contains("pre_tokenizer") ? tj["pre_tokenizer"].dump() : "null");
    if (!p.ok()) return p.status();
    pre = *p;
  }

  std::vector<std::pair<std::string, Value>> kv;
  kv.emplace_back("tokenizer.ggml.model", Value::String("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", Value::String(pre));
  kv.emplace_back("tokenizer.ggml.tokens", Value::StringArray(std::move(tokens)));
  kv.emplace_back("tokenizer.ggml.token_type", Value::IntArray(gguf::ValueType::I32, std::move(types)));
  kv.emplace_back("tokenizer.ggml.merges", Value::StringArray(std::move(merges)));

  auto special = [&](const char* key, int64_t fallback) -> int64_t {
    if (auto t = TokenText(tc, key)) {
      auto it = id_of.find(*t);
      if (it != id_of.end()) return it->second;
    }
    return fallback >= 0 && fallback < o.vocab_size ? fallback : -1;
  };
  const int64_t bos = special("bos_token", o.config_bos), eos = special("eos_token", o.config_eos),
                pad = special("pad_token", -1);
  if (bos >= 0) kv.emplace_back("tokenizer.ggml.bos_token_id", Value::U32(uint32_t(bos)));
  if (eos >= 0) kv.emplace_back("tokenizer.ggml.eos_token_id", Value::U32(uint32_t(eos)));
  if (pad >= 0) kv.emplace_back("tokenizer.ggml.padding_token_id", Value::U32(uint32_t(pad)));
  for (const char* key : {"add_bos_token", "add_eos_token"}) {
    if (!tc.contains(key) || tc[key].is_null()) continue;
    if (!tc[key].is_boolean())
      return Errorf("tokenizer_config.json: \"%s\" must be true or false, found %s", key, tc[key].dump().c_str());
    kv.emplace_back(std::string("tokenizer.ggml.") + key, Value::Bool(tc[key].get<bool>()));
  }
  if (auto sep = AddSepToken(tj, tc)) kv.emplace_back("tokenizer.ggml.add_sep_token", Value::Bool(*sep));

  // Chat template: a string, or a list of {name, template} (the "default" one is the main key).
  if (tc.contains("chat_template") && !tc["chat_template"].is_null()) {
    const json& ct = tc["chat_template"];
    if (ct.is_string()) {
      if (!ct.get<std::string>().empty())
        kv.emplace_back("tokenizer.chat_template", Value::String(ct.get<std::string>()));
    } else if (ct.is_array()) {
      for (const json& e : ct) {
        if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") ||
            !e["template"].is_string())
          return Errorf("tokenizer_config.json: chat_template entries must be {name, template}");
        const std::string name = e["name"].get<std::string>();
        kv.emplace_back(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
                        Value::String(e["template"].get<std::string>()));
      }
    } else {
      return Errorf("tokenizer_config.json: chat_template must be a string or a list");
    }
  } else if (!chat_template_file.empty()) {
    kv.emplace_back("tokenizer.chat_template", Value::String(chat_template_file));
  }
  return kv;
}

Result<std::vector<std::pair<std::string, Value>>> TokenizerKeys(const std::string& dir,
                                                                 const VocabOptions& options) {
  namespace fs = std::filesystem;
  std::string tj, tc, jinja;
  if (!ReadOptional(fs::path(dir) / "tokenizer.json", &tj))
    return Errorf("cannot read '%s' (the converter needs a Hugging Face tokenizer.json)",
                  (fs::path(dir) / "tokenizer.json").c_str());
  ReadOptional(fs::path(dir) / "tokenizer_config.json", &tc);
  ReadOptional(fs::path(dir) / "chat_template.jinja", &jinja);
  return TokenizerKeysFromText(tj, tc, jinja, options);
}

}  // namespace mla::convert
