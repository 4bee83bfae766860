// UTF-8 decoding rules, category classes and the GPT-2 byte map (spec §7.2, §7.4).
#include <gtest/gtest.h>

#include <cstring>

#include "tokenizer/unicode.h"

namespace mla::unicode {
namespace {

std::vector<uint32_t> Decode(std::string_view s) {
  std::vector<uint32_t> out;
  DecodeUtf8(s, &out);
  return out;
}

TEST(Unicode, DecodeValid) {
  EXPECT_EQ(Decode("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), (std::vector<uint32_t>{'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_EQ(Decode(""), std::vector<uint32_t>{});
  EXPECT_EQ(Decode(std::string("\0x", 2)), (std::vector<uint32_t>{0, 'x'}));
}

TEST(Unicode, DecodeInvalidBytesBecomeReplacementOneByOne) {
  constexpr uint32_t R = kReplacementChar;
  EXPECT_EQ(Decode("\x80"), (std::vector<uint32_t>{R}));
  EXPECT_EQ(Decode("\xE4\xB8"), (std::vector<uint32_t>{R, R}));            // truncated: each byte
  EXPECT_EQ(Decode("\xE4\xB8x"), (std::vector<uint32_t>{R, R, 'x'}));
  EXPECT_EQ(Decode("\xFF\xFE"), (std::vector<uint32_t>{R, R}));
  EXPECT_EQ(Decode("\xC3\x28"), (std::vector<uint32_t>{R, '('}));
  EXPECT_EQ(Decode("\xF8\x88\x80\x80\x80"), (std::vector<uint32_t>{R, R, R, R, R}));
  // Overlong forms and surrogates are accepted as decoded (llama.cpp).
  EXPECT_EQ(Decode("\xC0\x80"), (std::vector<uint32_t>{0}));
  EXPECT_EQ(Decode("\xC0\xAF"), (std::vector<uint32_t>{'/'}));
  EXPECT_EQ(Decode("\xED\xA0\x80"), (std::vector<uint32_t>{0xD800}));
  // Above U+10FFFF: invalid (llama.cpp cannot re-encode it).
  EXPECT_EQ(Decode("\xF4\x90\x80\x80"), (std::vector<uint32_t>{R, R, R, R}));
}

TEST(Unicode, AppendUtf8RoundTrip) {
  for (uint32_t cp : {0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    EXPECT_EQ(Decode(s), std::vector<uint32_t>{cp}) << std::hex << cp;
  }
}

TEST(Unicode, Classes) {
  EXPECT_EQ(ClassOf('a'), CpClass::kLetter);
  EXPECT_EQ(ClassOf('7'), CpClass::kNumber);
  EXPECT_EQ(ClassOf('!'), CpClass::kPunctuation);
  EXPECT_EQ(ClassOf('$'), CpClass::kSymbol);
  EXPECT_EQ(ClassOf(0xE9), CpClass::kLetter);       // é
  EXPECT_EQ(ClassOf(0x301), CpClass::kMark);        // combining acute
  EXPECT_EQ(ClassOf(0x661), CpClass::kNumber);      // Arabic-Indic one
  EXPECT_EQ(ClassOf(0x2160), CpClass::kNumber);     // Roman numeral one (Nl)
  EXPECT_EQ(ClassOf(0x3002), CpClass::kPunctuation);
  EXPECT_EQ(ClassOf(0x20AC), CpClass::kSymbol);     // €
  EXPECT_EQ(ClassOf(0x1F600), CpClass::kSymbol);    // emoji (So)
  EXPECT_EQ(ClassOf(0x4E2D), CpClass::kLetter);
  EXPECT_EQ(ClassOf(0x3000), CpClass::kWhitespace);
  EXPECT_EQ(ClassOf(0x00A0), CpClass::kWhitespace);
  EXPECT_EQ(ClassOf(0x0085), CpClass::kWhitespace);
  EXPECT_EQ(ClassOf(0x200D), CpClass::kOther);      // ZWJ (Cf)
  EXPECT_EQ(ClassOf(0xE000), CpClass::kOther);      // private use
  EXPECT_EQ(ClassOf(0xD800), CpClass::kOther);      // surrogate
  EXPECT_EQ(ClassOf(0x2EBF0), CpClass::kLetter);    // CJK Extension I: Unicode 15.1
  EXPECT_EQ(ClassOf(0x1C89), CpClass::kOther);      // assigned only in Unicode 16.0
  EXPECT_EQ(ClassOf(0x110000), CpClass::kOther);
  EXPECT_STREQ(kUnicodeVersion, "15.1.0");
}

TEST(Unicode, CollapseUnits) {
  EXPECT_EQ(Collapse('a'), uint32_t('a'));
  EXPECT_EQ(Collapse(' '), uint32_t(' '));
  EXPECT_EQ(Collapse(0x3000), 0x0Bu);
  EXPECT_EQ(Collapse(0x0661), 0xD1u);
  EXPECT_EQ(Collapse(0x4E2D), 0xD2u);
  EXPECT_EQ(Collapse(0x3002), 0xD3u);
  EXPECT_EQ(Collapse(0x0301), 0xD4u);
  EXPECT_EQ(Collapse(0x20AC), 0xD5u);
  EXPECT_EQ(Collapse(0x200D), 0xD0u);
  EXPECT_EQ(MapWhitespace(0x2009), 0x0Bu);
  EXPECT_EQ(MapWhitespace(0x4E2D), 0x4E2Du);
  EXPECT_EQ(MapWhitespace('\n'), uint32_t('\n'));
}

TEST(Unicode, ByteMap) {
  EXPECT_EQ(ByteToCodepoint(0x20), 0x120u);  // Ġ
  EXPECT_EQ(ByteToCodepoint(0x0A), 0x10Au);  // Ċ
  EXPECT_EQ(ByteToCodepoint(0x00), 0x100u);
  EXPECT_EQ(ByteToCodepoint(0xAD), 0x143u);
  EXPECT_EQ(ByteToCodepoint(0x21), 0x21u);
  EXPECT_EQ(ByteToCodepoint(0xFF), 0xFFu);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(CodepointToByte(ByteToCodepoint(uint8_t(b))), b);
  EXPECT_EQ(CodepointToByte(0x20), -1);  // space itself is not in the alphabet
  EXPECT_EQ(CodepointToByte(0x144), -1);
  EXPECT_EQ(CodepointToByte(0xFF5C), -1);
}

}  // namespace
}  // namespace mla::unicode
