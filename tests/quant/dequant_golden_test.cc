// Dequantization of every tensor of every fixture model must be bit-exact with the PyPI gguf
// package (tests/golden/gen_dequant_goldens.py wrote the SHA-256 of each tensor's f32 bytes and a
// few sampled values to tests/golden/dequant_goldens.tsv).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "quant/sha256.h"
#include "test_util.h"

namespace mla::quant {
namespace {

struct GoldenRow {
  std::string file, tensor, type;
  int64_t n = 0;
  std::string sha256;
  std::vector<std::pair<int64_t, uint32_t>> samples;  // (index, f32 bits)
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::vector<GoldenRow> ReadGoldens() {
  std::vector<GoldenRow> rows;
  std::istringstream in(test::ReadFile(test::SourcePath("tests/golden/dequant_goldens.tsv")));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f = Split(line, '\t');
    if (f.size() != 6) {
      ADD_FAILURE() << "bad golden line: " << line;
      continue;
    }
    GoldenRow r{f[0], f[1], f[2], std::stoll(f[3]), f[4], {}};
    for (const std::string& s : Split(f[5], ',')) {
      const size_t colon = s.find(':');
      r.samples.emplace_back(std::stoll(s.substr(0, colon)),
                             uint32_t(std::stoul(s.substr(colon + 1), nullptr, 16)));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

TEST(DequantGolden, EveryFixtureTensorBitExact) {
  const std::vector<GoldenRow> rows = ReadGoldens();
  ASSERT_GT(rows.size(), 800u);
  std::map<std::string, std::vector<const GoldenRow*>> by_file;
  for (const GoldenRow& r : rows) by_file[r.file].push_back(&r);

  std::set<std::string> types_checked;
  std::vector<float> values;
  for (const auto& [file, file_rows] : by_file) {
    auto opened = gguf::File::Open(test::Fixture("models/" + file));
    ASSERT_TRUE(opened.ok()) << file << ": " << opened.status().message();
    const gguf::File& f = **opened;
    // The goldens must cover the whole file (a stale TSV would silently skip tensors).
    EXPECT_EQ(f.tensors().size(), file_rows.size()) << file;
    for (const GoldenRow* r : file_rows) {
      SCOPED_TRACE(file + " " + r->tensor);
      const gguf::TensorInfo* t = f.FindTensor(r->tensor);
      ASSERT_NE(t, nullptr);
      const std::optional<DType> want_type = DTypeFromName(r->type);
      ASSERT_TRUE(want_type.has_value()) << r->type;
      ASSERT_EQ(t->type, *want_type);
      ASSERT_EQ(t->nelements(), r->n);
      ASSERT_TRUE(CanDequantize(t->type));
      values.assign(size_t(r->n), 0.f);
      DequantizeRow(t->type, t->data, values.data(), r->n);  // rows are contiguous
      for (const auto& [index, bits] : r->samples) {
        ASSERT_LT(index, r->n);
        EXPECT_EQ(F32Bits(values[size_t(index)]), bits) << "element " << index;
      }
      EXPECT_EQ(test::Sha256Hex(values.data(), values.size() * sizeof(float)), r->sha256);
      types_checked.insert(Name(t->type));
    }
  }
  // Issue 2's 15 file types all occur in the fixtures (fixtures README §11).
  for (const char* name : {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K",
                           "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"})
    EXPECT_TRUE(types_checked.count(name)) << name << " not covered by the goldens";
}

TEST(DequantGolden, GoldensCoverEveryFixtureFile) {
  std::set<std::string> in_tsv;
  for (const GoldenRow& r : ReadGoldens()) in_tsv.insert(r.file);
  std::set<std::string> on_disk;
  for (const auto& e : std::filesystem::directory_iterator(test::Fixture("models")))
    if (e.path().extension() == ".gguf") on_disk.insert(e.path().filename().string());
  EXPECT_EQ(in_tsv, on_disk) << "re-run tests/golden/gen_dequant_goldens.py";
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(test::Sha256Hex("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(test::Sha256Hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // 56 bytes
  EXPECT_EQ(test::Sha256Hex(m.data(), m.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  test::Sha256 s;  // streaming in odd pieces == one shot
  const std::string big(1000, 'a');
  for (size_t i = 0; i < big.size(); i += 7) s.Update(big.data() + i, std::min<size_t>(7, big.size() - i));
  EXPECT_EQ(s.HexDigest(), test::Sha256Hex(big.data(), big.size()));
}

}  // namespace
}  // namespace mla::quant
