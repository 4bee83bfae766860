// Unicode helpers for the tokenizer: UTF-8 decoding with llama.cpp's error rules (spec §7.4 item 7),
// general-category classes for the regex "collapse" (§7.4 item 1), and the GPT-2 byte <-> code point
// map (§7.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mla::unicode {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Class of a code point for the collapse step. kWhitespace is llama.cpp's non-ASCII whitespace set
// (U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), which takes
// precedence over the general category.
enum class CpClass : uint8_t { kOther = 0, kNumber, kLetter, kPunctuation, kMark, kSymbol, kWhitespace };

struct CpRange {
  uint32_t first, last;
  CpClass cls;
};
// Generated table (unicode_tables.cc): non-ASCII code points by general category, Unicode
// kUnicodeVersion. Code points in no range are kOther.
extern const char kUnicodeVersion[];
extern const CpRange kCpRanges[];
extern const size_t kCpRangeCount;

// Class of any code point (ASCII included: by its ASCII category; ASCII whitespace is kOther here
// because the collapse keeps ASCII as is). Values >= 0x110000 are kOther.
CpClass ClassOf(uint32_t cp);

// One unit of the collapsed text (spec §7.4 item 1): ASCII kept, non-ASCII whitespace -> 0x0B,
// else 0xD0 + class (other 0xD0, N 0xD1, L 0xD2, P 0xD3, M 0xD4, S 0xD5).
inline constexpr uint32_t kCollapsedOther = 0xD0;
uint32_t Collapse(uint32_t cp);
// The code point as the literal-class regexes see it (§7.4 item 2): non-ASCII whitespace -> 0x0B.
uint32_t MapWhitespace(uint32_t cp);

// Decodes UTF-8 as llama.cpp does: a byte that does not start a complete sequence (lead byte with
// the right number of continuation bytes) becomes U+FFFD and decoding resumes at the next byte.
// Overlong forms and surrogates are accepted as decoded. 4-byte forms above U+10FFFF (which
// llama.cpp cannot re-encode) are treated as invalid. Appends to *out.
void DecodeUtf8(std::string_view text, std::vector<uint32_t>* out);
// Appends the UTF-8 encoding of cp (< 0x110000; surrogates encoded as 3 bytes like any other).
void AppendUtf8(uint32_t cp, std::string* out);
// Number of bytes a UTF-8 sequence with this lead byte has (1..4), or 0 for a continuation byte or
// 0xF8..0xFF.
int Utf8SequenceLength(uint8_t lead);

// GPT-2 byte-level map (§7.2).
uint32_t ByteToCodepoint(uint8_t b);
// The byte a code point stands for, or -1 when it is not one of the 256 mapped code points.
int CodepointToByte(uint32_t cp);

}  // namespace mla::unicode
