#include "tokenizer/unicode.h"

#include <array>
#include <memory>
#include <unordered_map>

namespace mla::unicode {
namespace {

// Two-stage lookup built once from the range table: stage 1 maps cp >> 7 to a 128-entry block,
// identical blocks are shared (the table is ~80 KB instead of 1.1 MB).
constexpr uint32_t kMaxCp = 0x110000;
constexpr int kBlockShift = 7;
constexpr uint32_t kBlockSize = 1u << kBlockShift;

struct ClassTable {
  std::vector<uint16_t> stage1;
  std::vector<uint8_t> blocks;
};

constexpr uint32_t kNonAsciiWhitespace[] = {0x0085, 0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
                                            0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                            0x2028, 0x2029, 0x202F, 0x205F, 0x3000};

CpClass AsciiClass(uint32_t c) {
  if (c >= '0' && c <= '9') return CpClass::kNumber;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return CpClass::kLetter;
  switch (c) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '`': case '|': case '~':
      return CpClass::kSymbol;
    default:
      break;
  }
  if (c >= 0x21 && c <= 0x7E) return CpClass::kPunctuation;
  return CpClass::kOther;
}

const ClassTable& Table() {
  static const ClassTable table = [] {
    auto flat = std::make_unique<uint8_t[]>(kMaxCp);  // temporary, freed after deduplication
    for (uint32_t c = 0; c < 0x80; ++c) flat[c] = uint8_t(AsciiClass(c));
    for (uint32_t c = 0x80; c < kMaxCp; ++c) flat[c] = uint8_t(CpClass::kOther);
    for (size_t i = 0; i < kCpRangeCount; ++i) {
      for (uint32_t c = kCpRanges[i].first; c <= kCpRanges[i].last; ++c) flat[c] = uint8_t(kCpRanges[i].cls);
    }
    for (uint32_t c : kNonAsciiWhitespace) flat[c] = uint8_t(CpClass::kWhitespace);
    ClassTable result;
    ClassTable* t = &result;
    t->stage1.resize(kMaxCp / kBlockSize);
    std::unordered_map<std::string, uint16_t> seen;
    for (uint32_t b = 0; b < kMaxCp / kBlockSize; ++b) {
      std::string block(reinterpret_cast<const char*>(&flat[size_t(b) * kBlockSize]), kBlockSize);
      auto [it, inserted] = seen.emplace(std::move(block), uint16_t(seen.size()));
      if (inserted) t->blocks.insert(t->blocks.end(), it->first.begin(), it->first.end());
      t->stage1[b] = it->second;
    }
    return result;
  }();
  return table;
}

// GPT-2 byte map: bytes 0x21–0x7E, 0xA1–0xAC, 0xAE–0xFF map to themselves; the other 68 bytes, in
// increasing order, to U+0100..U+0143.
struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 0x144> to_byte{};
};

const ByteMap& Bytes() {
  static const ByteMap map = [] {
    ByteMap m;
    m.to_byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = self ? uint32_t(b) : next++;
      m.to_cp[b] = cp;
      m.to_byte[cp] = int16_t(b);
    }
    return m;
  }();
  return map;
}

}  // namespace

CpClass ClassOf(uint32_t cp) {
  if (cp >= kMaxCp) return CpClass::kOther;
  const ClassTable& t = Table();
  return CpClass(t.blocks[size_t(t.stage1[cp >> kBlockShift]) * kBlockSize + (cp & (kBlockSize - 1))]);
}

uint32_t Collapse(uint32_t cp) {
  if (cp < 0x80) return cp;
  CpClass c = ClassOf(cp);
  if (c == CpClass::kWhitespace) return 0x0B;
  return kCollapsedOther + uint32_t(c);
}

uint32_t MapWhitespace(uint32_t cp) {
  if (cp < 0x80) return cp;
  return ClassOf(cp) == CpClass::kWhitespace ? 0x0B : cp;
}

int Utf8SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC0) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 0;
}

void DecodeUtf8(std::string_view text, std::vector<uint32_t>* out) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  out->reserve(out->size() + n);
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (b < 0x80) {
      out->push_back(b);
      ++i;
      continue;
    }
    int len = Utf8SequenceLength(b);
    bool ok = len > 0 && i + size_t(len) <= n;
    for (int k = 1; ok && k < len; ++k) ok = (s[i + k] & 0xC0) == 0x80;
    uint32_t cp = 0;
    if (ok) {
      if (len == 2) {
        cp = (uint32_t(b & 0x1F) << 6) | (s[i + 1] & 0x3F);
      } else if (len == 3) {
        cp = (uint32_t(b & 0x0F) << 12) | (uint32_t(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      } else {
        cp = (uint32_t(b & 0x07) << 18) | (uint32_t(s[i + 1] & 0x3F) << 12) | (uint32_t(s[i + 2] & 0x3F) << 6) |
             (s[i + 3] & 0x3F);
        ok = cp < kMaxCp;
      }
    }
    if (ok) {
      out->push_back(cp);
      i += size_t(len);
    } else {
      out->push_back(kReplacementChar);
      ++i;
    }
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xC0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xE0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  }
}

uint32_t ByteToCodepoint(uint8_t b) { return Bytes().to_cp[b]; }

int CodepointToByte(uint32_t cp) {
  if (cp >= 0x144) return -1;
  return Bytes().to_byte[cp];
}

}  // namespace mla::unicode
