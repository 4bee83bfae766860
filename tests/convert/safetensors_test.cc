// safetensors reader: valid images, every kind of corrupt header, sharded checkpoints.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "convert/safetensors.h"
#include "convert_testing.h"
#include "test_util.h"

namespace mla::test {
namespace {

using convert::Checkpoint;
using convert::SafetensorsFile;
using convert::StDType;

std::string F32Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// An image from a raw header text and data section.
std::string Image(const std::string& header, const std::string& data) {
  std::string out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  return out + header + data;
}

Result<std::vector<convert::StTensor>> Parse(const std::string& image) {
  return SafetensorsFile::ParseImage(reinterpret_cast<const uint8_t*>(image.data()), image.size(), 0);
}

std::string ParseError(const std::string& image) {
  auto r = Parse(image);
  return r.ok() ? "" : r.status().message();
}

TEST(Safetensors, ParsesTensorsSortedByName) {
  const std::string data = F32Bytes({1, 2, 3, 4, 5, 6}) + std::string("\x80\x3f\x00\x40", 4);
  const std::string img = Image(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("a":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]}})",
      data);
  auto r = Parse(img);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[0].dtype, StDType::BF16);
  EXPECT_EQ((*r)[1].name, "b");
  EXPECT_EQ((*r)[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*r)[1].numel(), 6);
  float x;
  std::memcpy(&x, (*r)[1].data + 8, 4);
  EXPECT_EQ(x, 3.0f);
  EXPECT_EQ((*r)[1].ShapeString(), "[2, 3]");
}

TEST(Safetensors, RejectsCorruptHeaders) {
  const std::string d8 = F32Bytes({1, 2});
  EXPECT_NE(ParseError("abc").find("too short"), std::string::npos);
  {
    std::string img = Image("{}", "");
    img[0] = char(0xff);  // header length far beyond the file
    EXPECT_NE(ParseError(img).find("header length"), std::string::npos);
  }
  EXPECT_NE(ParseError(Image("{\"a\":", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(ParseError(Image("[1,2]", "")).find("expected a JSON object"), std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[2]}})", d8)).find("data_offsets"), std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", d8)).find("unknown dtype"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8)).find("non-negative"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", d8)).find("inside"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8)).find("needs 12 bytes"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}})", d8)).find("data_offsets"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                             d8))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             d8))
                .find("twice"),
            std::string::npos);
  EXPECT_NE(ParseError(Image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", d8))
                .find("too large"),
            std::string::npos);
  EXPECT_NE(ParseError(Image("{\"a\xff\":{}}", "")).find("not valid JSON"), std::string::npos);  // bad UTF-8
}

TEST(Safetensors, CheckpointWithIndexAndShards) {
  const std::string dir = TempDir();
  WriteSafetensors(dir + "/model-00002-of-00002.safetensors", {{"z", "F32", {2}, F32Bytes({1, 2})}});
  WriteSafetensors(dir + "/model-00001-of-00002.safetensors",
                   {{"y", "F32", {1}, F32Bytes({3})}, {"x", "F32", {1}, F32Bytes({4})}});
  {
    std::ofstream idx(dir + "/model.safetensors.index.json");
    idx << R"({"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors",)"
           R"("y":"model-00001-of-00002.safetensors","z":"model-00002-of-00002.safetensors"}})";
  }
  auto ck = Checkpoint::Open(dir);
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  ASSERT_EQ((*ck)->ordered().size(), 3u);
  // shard order, then name order
  EXPECT_EQ((*ck)->ordered()[0]->name, "x");
  EXPECT_EQ((*ck)->ordered()[1]->name, "y");
  EXPECT_EQ((*ck)->ordered()[2]->name, "z");
  EXPECT_EQ((*ck)->ordered()[2]->shard, 1);
  ASSERT_NE((*ck)->Find("z"), nullptr);
  EXPECT_EQ((*ck)->Find("w"), nullptr);
  EXPECT_EQ((*ck)->total_bytes(), 16u);

  // A shard the index names but that is gone.
  std::filesystem::remove(dir + "/model-00002-of-00002.safetensors");
  auto missing = Checkpoint::Open(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing shard 'model-00002-of-00002.safetensors'"), std::string::npos)
      << missing.status().message();

  // A tensor the index places in another shard / does not list.
  WriteSafetensors(dir + "/model-00002-of-00002.safetensors", {{"q", "F32", {2}, F32Bytes({1, 2})}});
  auto wrong = Checkpoint::Open(dir);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'q'"), std::string::npos) << wrong.status().message();
}

TEST(Safetensors, CheckpointErrors) {
  const std::string dir = TempDir();
  auto none = Checkpoint::Open(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no .safetensors"), std::string::npos);
  EXPECT_FALSE(Checkpoint::Open(dir + "/nope").ok());
  WriteSafetensors(dir + "/a.safetensors", {{"x", "F32", {1}, F32Bytes({1})}});
  WriteSafetensors(dir + "/b.safetensors", {{"x", "F32", {1}, F32Bytes({2})}});
  auto dup = Checkpoint::Open(dir);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("more than one shard"), std::string::npos);
  {
    std::ofstream bad(dir + "/c.safetensors", std::ios::binary);
    bad << "\x10\x00\x00\x00\x00\x00\x00\x00{not json}";
  }
  std::filesystem::remove(dir + "/b.safetensors");
  auto corrupt = Checkpoint::Open(dir);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find("c.safetensors"), std::string::npos) << corrupt.status().message();
}

TEST(Safetensors, ReadsTheFixtureCheckpoint) {
  auto ck = Checkpoint::Open(Fixture("models/ds3-tiny.hf"));
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  const convert::StTensor* t = (*ck)->Find("model.layers.3.eh_proj.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(t->dtype, StDType::F32);
}

}  // namespace
}  // namespace mla::test
