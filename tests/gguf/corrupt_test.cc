// Corrupt input: every error class gives an error that says what was expected and what was
// found, never a crash. Images are crafted byte by byte (not with the Writer, which refuses to
// produce them) and truncated copies of a real fixture are parsed at many lengths.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "gguf/gguf.h"
#include "test_util.h"

namespace mla::gguf {
namespace {

// Little-endian byte builder for hand-made GGUF images.
class Bytes {
 public:
  template <typename T>
  Bytes& Pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof v);
    return *this;
  }
  Bytes& Str(const std::string& s) {
    Pod(uint64_t(s.size()));
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Raw(const std::string& s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF").Pod(version).Pod(n_tensors).Pod(n_kv);
  }
  Bytes& KvU32(const std::string& key, uint32_t v) { return Str(key).Pod(uint32_t(4)).Pod(v); }
  // Tensor info with explicit dims, type id and offset.
  Bytes& Tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    Str(name).Pod(uint32_t(ne.size()));
    for (uint64_t d : ne) Pod(d);
    return Pod(type).Pod(offset);
  }
  Bytes& PadTo(size_t alignment) {
    while (b_.size() % alignment) b_.push_back(0);
    return *this;
  }
  Bytes& Zeros(size_t n) {
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  const std::vector<uint8_t>& get() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// Parses and expects an error containing every fragment.
void ExpectError(const Bytes& bytes, std::initializer_list<const char*> fragments) {
  auto r = Parse(bytes.get().data(), bytes.get().size());
  ASSERT_FALSE(r.ok()) << "parsed, expected an error with '" << *fragments.begin() << "'";
  for (const char* f : fragments)
    EXPECT_NE(r.status().message().find(f), std::string::npos)
        << "message: " << r.status().message() << "\nexpected fragment: " << f;
}

TEST(GgufCorrupt, ValidMinimalImageParses) {
  Bytes b;
  b.Header(1, 1).KvU32("k", 5).Tensor("t", {8}, 0, 0).PadTo(32).Zeros(32);
  auto r = Parse(b.get().data(), b.get().size());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors.size(), 1u);
  EXPECT_EQ(r->tensors[0].nbytes, 32u);
}

TEST(GgufCorrupt, MagicAndVersion) {
  ExpectError(Bytes(), {"expected the 4-byte magic", "0 bytes"});
  ExpectError(Bytes().Raw("GGU"), {"expected the 4-byte magic", "3 bytes"});
  ExpectError(Bytes().Raw("GGML").Pod(uint32_t(3)), {"expected magic 'GGUF'", "47 47 4d 4c"});
  ExpectError(Bytes().Raw("GGUF"), {"truncated", "version"});
  ExpectError(Bytes().Header(0, 0, 1), {"version 1 is not supported", "expected version 2 or 3"});
  ExpectError(Bytes().Header(0, 0, 4), {"unknown GGUF version 4", "expected 2 or 3"});
  ExpectError(Bytes().Header(0, 0, 0x03000000), {"big-endian"});
  // Version 2 is accepted.
  Bytes v2;
  v2.Header(0, 1, 2).KvU32("a", 1);
  EXPECT_TRUE(Parse(v2.get().data(), v2.get().size()).ok());
}

TEST(GgufCorrupt, AbsurdCountsAndLengths) {
  ExpectError(Bytes().Header(0, uint64_t(1) << 60), {"metadata count", "impossible"});
  ExpectError(Bytes().Header(uint64_t(1) << 62, 0), {"tensor count", "impossible"});
  ExpectError(Bytes().Header(0, 1).Pod(uint64_t(1) << 62).Zeros(16),
              {"metadata key #0 length", "exceeds"});
  // Array of 2^61 u32: would need 2^63 bytes.
  ExpectError(Bytes().Header(0, 1).Str("arr").Pod(uint32_t(9)).Pod(uint32_t(4))
                  .Pod(uint64_t(1) << 61).Zeros(8),
              {"metadata 'arr'", "array of", "only"});
  // Array of 10^9 strings in a tiny file: bounded before anything is allocated.
  ExpectError(Bytes().Header(0, 1).Str("toks").Pod(uint32_t(9)).Pod(uint32_t(8))
                  .Pod(uint64_t(1000000000)).Zeros(8),
              {"metadata 'toks'", "1000000000 string"});
  // String item whose length runs past the end.
  ExpectError(Bytes().Header(0, 1).Str("toks").Pod(uint32_t(9)).Pod(uint32_t(8)).Pod(uint64_t(1))
                  .Pod(uint64_t(100)).Raw("abc"),
              {"item 0 length 100", "exceeds"});
  ExpectError(Bytes().Header(0, 1).Str("s").Pod(uint32_t(8)).Pod(uint64_t(5)).Raw("ab"),
              {"metadata 's' length 5", "exceeds"});
}

TEST(GgufCorrupt, BadValues) {
  ExpectError(Bytes().Header(0, 1).Str("x").Pod(uint32_t(13)).Pod(uint32_t(0)),
              {"metadata 'x'", "unknown value type 13"});
  ExpectError(Bytes().Header(0, 1).Str("x").Pod(uint32_t(9)).Pod(uint32_t(9)).Pod(uint64_t(1))
                  .Pod(uint32_t(4)).Pod(uint64_t(0)),
              {"metadata 'x'", "arrays of arrays"});
  ExpectError(Bytes().Header(0, 1).Str("x").Pod(uint32_t(9)).Pod(uint32_t(77)).Pod(uint64_t(0)),
              {"unknown array element type 77"});
  ExpectError(Bytes().Header(0, 1).Str("b").Pod(uint32_t(7)).Pod(uint8_t(2)),
              {"metadata 'b'", "expected a bool (0 or 1), found 2"});
  ExpectError(Bytes().Header(0, 2).KvU32("k", 1).KvU32("k", 2), {"duplicate metadata key 'k'"});
  ExpectError(Bytes().Header(0, 1).KvU32("", 1), {"metadata key #0 is empty"});
  ExpectError(Bytes().Header(0, 1).Str("u").Pod(uint32_t(4)).Pod(uint16_t(1)),
              {"truncated", "metadata 'u'"});
  ExpectError(Bytes().Header(0, 1).KvU32("general.alignment", 48),
              {"general.alignment", "power of two", "48"});
  ExpectError(Bytes().Header(0, 1).KvU32("general.alignment", 0), {"general.alignment", "found 0"});
  ExpectError(Bytes().Header(0, 1).Str("general.alignment").Pod(uint32_t(8)).Str("32"),
              {"general.alignment", "expected an unsigned integer, found string"});
}

TEST(GgufCorrupt, BadTensorInfos) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data = 64) {
    Bytes b;
    b.Header(1, 0).Tensor("w", std::move(ne), type, offset).PadTo(32).Zeros(data);
    return b;
  };
  ExpectError(one({}, 0, 0), {"tensor 'w'", "expected 1 to 4 dimensions, found 0"});
  ExpectError(one({1, 1, 1, 1, 1}, 0, 0), {"tensor 'w'", "found 5"});
  ExpectError(one({4, 0}, 0, 0), {"tensor 'w'", "dimension 1 is 0, expected >= 1"});
  ExpectError(one({uint64_t(-3)}, 0, 0), {"dimension 0 is -3"});
  ExpectError(one({uint64_t(1) << 32, uint64_t(1) << 32}, 0, 0), {"tensor 'w'", "overflows"});
  ExpectError(one({uint64_t(1) << 61, 2}, 0, 0), {"tensor 'w'", "overflows 64 bits"});
  ExpectError(one({4}, 4, 0), {"tensor 'w'", "unknown tensor type id 4"});
  ExpectError(one({4}, 99, 0), {"unknown tensor type id 99"});
  ExpectError(one({100}, 12, 0), {"ne[0] = 100", "q4_K block size 256"});
  ExpectError(one({4}, 0, 4), {"offset 4", "multiple of the alignment 32"});
  ExpectError(one({4}, 0, 64), {"beyond the end", "64 bytes"});
  ExpectError(one({32}, 0, 0), {"tensor 'w'", "beyond the end"});  // 128 bytes in 64
  Bytes noname;
  noname.Header(1, 0).Tensor("", {4}, 0, 0).PadTo(32).Zeros(32);
  ExpectError(noname, {"empty tensor name"});
  Bytes dup;
  dup.Header(2, 0).Tensor("w", {4}, 0, 0).Tensor("w", {4}, 0, 32).PadTo(32).Zeros(64);
  ExpectError(dup, {"duplicate tensor name 'w'"});
  Bytes overlap;
  overlap.Header(2, 0).Tensor("a", {16}, 0, 0).Tensor("b", {4}, 0, 32).PadTo(32).Zeros(96);
  ExpectError(overlap, {"tensors 'a' [0, 64) and 'b' [32, 48) overlap"});
  Bytes headless;  // tensors declared but the file ends with the infos
  headless.Header(1, 0).Tensor("w", {4}, 0, 0);
  ExpectError(headless, {"data section starts at offset"});
  const std::string long_name(40, 'w');
  ExpectError(Bytes().Header(1, 0).Str(long_name).Pod(uint32_t(2)).Pod(uint64_t(4)),
              {"truncated", "dimension"});
}

// A real file cut at many lengths never parses and never crashes.
TEST(GgufCorrupt, TruncatedFixtureAtManyLengths) {
  const std::string bytes = test::ReadFile(test::Fixture("models/ds3-tiny.mla.gguf"));
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  auto full = Parse(data, bytes.size());
  ASSERT_TRUE(full.ok());
  uint64_t end = 0;  // where the last tensor's data ends (trailing padding may be cut freely)
  for (const auto& t : full->tensors) end = std::max(end, full->data_offset + t.offset + t.nbytes);
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 300; ++n) lengths.push_back(n);
  for (size_t n = 300; n < full->data_offset; n += 397) lengths.push_back(n);
  for (size_t n = full->data_offset - 16; n < full->data_offset + 16; ++n) lengths.push_back(n);
  for (size_t n = full->data_offset; n < end; n += 65537) lengths.push_back(n);
  lengths.push_back(end - 1);
  int checked = 0;
  for (size_t n : lengths) {
    if (n >= end) continue;
    // Header cuts get a fresh heap copy of exactly n bytes, so ASan sees any read past the end;
    // the parser never reads tensor data, so cuts inside it only need the shorter size.
    std::vector<uint8_t> cut(data, data + std::min<size_t>(n, full->data_offset));
    auto r = n <= full->data_offset ? Parse(cut.empty() ? nullptr : cut.data(), n) : Parse(data, n);
    EXPECT_FALSE(r.ok()) << "length " << n;
    ++checked;
  }
  EXPECT_GT(checked, 400);

  // The same through File::Open on disk.
  const std::string dir = test::TempDir();
  for (size_t n : {size_t(0), size_t(10), size_t(5000), size_t(full->data_offset + 10), size_t(end - 1)}) {
    const std::string p = dir + "/cut.gguf";
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(n));
    auto f = File::Open(p);
    ASSERT_FALSE(f.ok()) << n;
    EXPECT_NE(f.status().message().find("cut.gguf"), std::string::npos) << f.status().message();
  }
}

// Random byte flips in the header of a real file: errors or success, never a crash (the fuzzer
// does this at scale; this keeps a cheap version in every test run, also under ASan).
TEST(GgufCorrupt, FlippedHeaderBytes) {
  const std::string bytes = test::ReadFile(test::Fixture("models/ds3-tiny.legacy.gguf"));
  auto full = Parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  ASSERT_TRUE(full.ok());
  uint32_t state = 12345;
  auto rnd = [&state] { return state = state * 1664525u + 1013904223u; };
  int errors = 0;
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  for (int iter = 0; iter < 100; ++iter) {
    size_t pos[4];
    for (size_t& p : pos) {
      p = rnd() % full->data_offset;
      copy[p] ^= uint8_t(1u << (rnd() % 8));
    }
    auto r = Parse(copy.data(), copy.size());
    errors += !r.ok();
    for (size_t p : pos) copy[p] = uint8_t(bytes[p]);
  }
  EXPECT_GT(errors, 0);
}

TEST(GgufCorrupt, SplitKeysWithoutMatchingName) {
  const std::string dir = test::TempDir();
  Bytes b;
  b.Header(0, 2).Str("split.count").Pod(uint32_t(2)).Pod(uint16_t(2))
      .Str("split.no").Pod(uint32_t(2)).Pod(uint16_t(0));
  const std::string p = dir + "/model.gguf";
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.get().data()), std::streamsize(b.get().size()));
  auto f = File::Open(p);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("-00001-of-00002.gguf"), std::string::npos)
      << f.status().message();
}

}  // namespace
}  // namespace mla::gguf
