#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode.h"

namespace mla {
namespace {

// Spec §7.3, verbatim: JSON arrays of the regexes, in application order (exact copies of the strings
// llama.cpp uses for these pre-types).
constexpr const char* kDeepSeekLlmJson = R"json([
  "[\r\n]",
  "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\ud801\udc00-\ud801\udc4f\ud801\udcb0-\ud801\udcd3\ud801\udcd8-\ud801\udcfb\ud803\udc80-\ud803\udcb2\ud803\udcc0-\ud803\udcf2\ud806\udca0-\ud806\udcdf\ud83a\udd00-\ud83a\udd43]+",
  "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
  "\\s+$",
  "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
  "\\p{N}+"
])json";

constexpr const char* kDeepSeekCoderJson = R"json([
  "[\r\n]",
  "\\s?\\p{L}+",
  "\\s?\\p{P}+",
  "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
  "\\p{N}"
])json";

constexpr const char* kDeepSeekV3Json = R"json([
  "\\p{N}{1,3}",
  "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
])json";

struct NamedList {
  std::string_view name;
  const char* json;
};
constexpr NamedList kLists[] = {
    {"deepseek-llm", kDeepSeekLlmJson},
    {"deepseek-coder", kDeepSeekCoderJson},
    {"deepseek-v3", kDeepSeekV3Json},
};

// The ASCII members of each category, as PCRE2 class syntax, added next to the collapsed unit
// (spec §7.4 item 1).
struct Category {
  char letter;
  uint32_t unit;
  const char* ascii;
};
constexpr Category kCategories[] = {
    {'N', 0xD1, "0-9"},
    {'L', 0xD2, "A-Za-z"},
    {'P', 0xD3, "!-#%-*,-/:;?@\\[-\\]_\\{\\}"},
    {'M', 0xD4, ""},
    {'S', 0xD5, "\\$\\+<=>\\^`\\|~"},
};

const Category* CategoryAt(const std::vector<uint32_t>& re, size_t i) {
  // \p{X} at i
  if (i + 4 >= re.size()) return nullptr;
  if (re[i] != '\\' || re[i + 1] != 'p' || re[i + 2] != '{' || re[i + 4] != '}') return nullptr;
  for (const Category& c : kCategories) {
    if (re[i + 3] == uint32_t(c.letter)) return &c;
  }
  return nullptr;
}

bool UsesCategories(const std::vector<uint32_t>& re) {
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\') {
      if (CategoryAt(re, i)) return true;
      ++i;  // skip the escaped character
    }
  }
  return false;
}

// Rewrites \p{X} into a class over the collapsed alphabet; inside [...] only the members are
// inserted (the brackets are not repeated).
std::vector<uint32_t> CollapsePattern(const std::vector<uint32_t>& re) {
  std::vector<uint32_t> out;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    uint32_t c = re[i];
    if (c == '\\') {
      if (const Category* cat = CategoryAt(re, i)) {
        if (!inside) out.push_back('[');
        out.push_back(cat->unit);
        for (const char* a = cat->ascii; *a; ++a) out.push_back(uint8_t(*a));
        if (!inside) out.push_back(']');
        i += 4;
        continue;
      }
      out.push_back(c);
      if (i + 1 < re.size()) out.push_back(re[++i]);
      continue;
    }
    if (c == '[' && !inside) inside = true;
    else if (c == ']' && inside) inside = false;
    out.push_back(c);
  }
  return out;
}

std::string PcreErrorText(int code) {
  PCRE2_UCHAR32 buf[256];
  int n = pcre2_get_error_message(code, buf, 256);
  std::string out;
  for (int i = 0; i < n; ++i) unicode::AppendUtf8(buf[i] < 0x110000 ? buf[i] : '?', &out);
  return out;
}

// Per-thread PCRE2 match state: match data (one pair: the patterns have no groups), a match context
// with a JIT stack large enough for long whitespace runs, and a heap limit for the interpreter.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
    if (context) pcre2_set_heap_limit(context, 512 * 1024);  // KiB
  }
  ~MatchState() {
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
    if (context) pcre2_match_context_free(context);
    if (data) pcre2_match_data_free(data);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;
};

MatchState& ThreadMatchState() {
  thread_local MatchState state;
  return state;
}

}  // namespace

struct PreTokenizer::Regex {
  std::string source;
  bool collapsed = false;
  bool jit = false;  // JIT-compiled: matched with pcre2_jit_match (skips pcre2_match's checks)
  pcre2_code* code = nullptr;
  ~Regex() {
    if (code) pcre2_code_free(code);
  }
};

PreTokenizer::~PreTokenizer() = default;

const std::vector<std::string>* PreTokenizer::RegexesFor(std::string_view name) {
  static const std::vector<std::vector<std::string>> parsed = [] {
    std::vector<std::vector<std::string>> v;
    for (const NamedList& l : kLists) v.push_back(nlohmann::json::parse(l.json).get<std::vector<std::string>>());
    return v;
  }();
  for (size_t i = 0; i < std::size(kLists); ++i) {
    if (kLists[i].name == name) return &parsed[i];
  }
  return nullptr;
}

std::string PreTokenizer::SupportedNames() {
  std::string out;
  for (const NamedList& l : kLists) {
    if (!out.empty()) out += ", ";
    out += l.name;
  }
  return out;
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::ForName(std::string_view name) {
  const std::vector<std::string>* list = RegexesFor(name);
  if (!list) {
    return Errorf("tokenizer.ggml.pre is '%.*s', which this tokenizer does not implement; supported: %s",
                  int(name.size()), name.data(), SupportedNames().c_str());
  }
  return FromRegexes(*list);
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::FromRegexes(const std::vector<std::string>& regexes) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer);
  for (const std::string& source : regexes) {
    auto re = std::make_unique<Regex>();
    re->source = source;
    std::vector<uint32_t> cps;
    unicode::DecodeUtf8(source, &cps);
    re->collapsed = UsesCategories(cps);
    if (re->collapsed) {
      for (uint32_t c : cps) {
        if (c >= 0x80) {
          return Errorf("regex '%s' mixes \\p{..} categories with non-ASCII characters, which llama.cpp's "
                        "engine does not support (spec §7.4)", source.c_str());
        }
      }
      cps = CollapsePattern(cps);
    }
    int error = 0;
    PCRE2_SIZE offset = 0;
    re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cps.data()), cps.size(), PCRE2_DOLLAR_ENDONLY, &error,
                             &offset, nullptr);
    if (!re->code) {
      return Errorf("cannot compile pre-tokenizer regex '%s': %s at offset %zu", source.c_str(),
                    PcreErrorText(error).c_str(), size_t(offset));
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;  // else the interpreter is used
    (re->collapsed ? pre->need_collapsed_ : pre->need_wide_) = true;
    pre->regexes_.push_back(std::move(re));
  }
  return pre;
}

Status PreTokenizer::Split(const std::vector<uint32_t>& cps, std::vector<uint32_t>* lengths) const {
  lengths->clear();
  if (cps.empty()) return Status::Ok();
  std::vector<uint32_t> collapsed, wide;
  if (need_collapsed_) {
    collapsed.resize(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) collapsed[i] = unicode::Collapse(cps[i]);
  }
  if (need_wide_) {
    wide.resize(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) wide[i] = unicode::MapWhitespace(cps[i]);
  }
  MatchState& ms = ThreadMatchState();
  if (!ms.data || !ms.context) return Errorf("out of memory creating PCRE2 match data");

  std::vector<uint32_t> current{uint32_t(cps.size())};
  std::vector<uint32_t> next;
  for (const auto& re : regexes_) {
    const uint32_t* subject = re->collapsed ? collapsed.data() : wide.data();
    next.clear();
    size_t start = 0;
    for (uint32_t len : current) {
      const PCRE2_SPTR piece = reinterpret_cast<PCRE2_SPTR>(subject + start);
      size_t pos = 0, emitted = 0;
      while (pos < len) {
        int rc = re->jit ? pcre2_jit_match(re->code, piece, len, pos, 0, ms.data, ms.context)
                         : pcre2_match(re->code, piece, len, pos, 0, ms.data, ms.context);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
          rc = pcre2_match(re->code, piece, len, pos, PCRE2_NO_JIT, ms.data, ms.context);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          return Errorf("pre-tokenizer regex failed on a piece of %u code points: %s", len,
                        PcreErrorText(rc).c_str());
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ms.data);
        size_t m_begin = ov[0], m_end = ov[1];
        if (m_end <= m_begin) {  // empty match: none of the lists can produce one; skip ahead
          pos = m_begin + 1;
          continue;
        }
        if (m_begin > emitted) next.push_back(uint32_t(m_begin - emitted));
        next.push_back(uint32_t(m_end - m_begin));
        emitted = pos = m_end;
      }
      if (emitted < len) next.push_back(uint32_t(len - emitted));
      start += len;
    }
    current.swap(next);
  }
  *lengths = std::move(current);
  return Status::Ok();
}

Result<std::vector<std::string>> PreTokenizer::SplitText(std::string_view text) const {
  std::vector<uint32_t> cps;
  unicode::DecodeUtf8(text, &cps);
  std::vector<uint32_t> lengths;
  MLA_RETURN_IF_ERROR(Split(cps, &lengths));
  std::vector<std::string> pieces;
  size_t start = 0;
  for (uint32_t len : lengths) {
    std::string piece;
    for (size_t i = start; i < start + len; ++i) unicode::AppendUtf8(cps[i], &piece);
    pieces.push_back(std::move(piece));
    start += len;
  }
  return pieces;
}

}  // namespace mla
