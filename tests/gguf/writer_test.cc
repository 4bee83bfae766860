// Writer round trips: every value type, tensor alignment and padding, split output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>

#include "gguf/gguf.h"
#include "test_util.h"

namespace mla::gguf {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = uint8_t(k * 31 + seed * 7 + (k >> 8));
  return v;
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  const std::string path = test::TempDir() + "/values.gguf";
  auto w = Writer::Create(path);
  ASSERT_TRUE(w.ok()) << w.status().message();
  (*w)->Set("u8", Value::U8(250));
  (*w)->Set("i8", Value::I8(-120));
  (*w)->Set("u16", Value::U16(65000));
  (*w)->Set("i16", Value::I16(-32000));
  (*w)->Set("u32", Value::U32(4000000000u));
  (*w)->Set("i32", Value::I32(-2000000000));
  (*w)->Set("u64", Value::U64(std::numeric_limits<uint64_t>::max()));
  (*w)->Set("i64", Value::I64(std::numeric_limits<int64_t>::min()));
  (*w)->Set("f32", Value::F32(-1.5e-7f));
  (*w)->Set("f64", Value::F64(3.141592653589793));
  (*w)->Set("bool", Value::Bool(true));
  (*w)->Set("str", Value::String(std::string("h\xc3\xa9llo\0x", 8)));
  (*w)->Set("empty", Value::String(""));
  (*w)->Set("strs", Value::StringArray({"a", "", "\xe2\x96\x81pad"}));
  (*w)->Set("u8s", Value::IntArray(ValueType::U8, {0, 255, 7}));
  (*w)->Set("i16s", Value::IntArray(ValueType::I16, {-32768, 32767}));
  (*w)->Set("i32s", Value::IntArray(ValueType::I32, {1, -2, 3}));
  (*w)->Set("u64s", Value::IntArray(ValueType::U64, {-1, 5}));  // bit pattern 2^64-1
  (*w)->Set("bools", Value::IntArray(ValueType::BOOL, {1, 0, 1}));
  (*w)->Set("f32s", Value::FloatArray(ValueType::F32, {0.5, -2.25}));
  (*w)->Set("f64s", Value::FloatArray(ValueType::F64, {1e300, -0.0}));
  (*w)->Set("noarr", Value::IntArray(ValueType::I32, {}));
  (*w)->Set("u32", Value::U32(7));  // replaces, keeps position
  (*w)->Set("gone", Value::U8(1));
  (*w)->Remove("gone");
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ((*w)->outputs(), std::vector<std::string>{path});

  auto f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const File& r = **f;
  ASSERT_EQ(r.metadata().size(), 22u);
  EXPECT_EQ(r.metadata()[4].first, "u32");
  EXPECT_FALSE(r.Has("gone"));
  EXPECT_EQ(r.Find("u8")->type, ValueType::U8);
  EXPECT_EQ(*r.GetU64("u8"), 250u);
  EXPECT_EQ(*r.GetI64("i8"), -120);
  EXPECT_EQ(*r.GetU64("u16"), 65000u);
  EXPECT_EQ(*r.GetI64("i16"), -32000);
  EXPECT_EQ(*r.GetU64("u32"), 7u);
  EXPECT_EQ(*r.GetI64("i32"), -2000000000);
  EXPECT_EQ(*r.GetU64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(r.GetI64("u64").ok());  // does not fit
  EXPECT_EQ(*r.GetI64("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(r.GetU64("i64").ok());  // negative
  EXPECT_EQ(float(*r.GetF64("f32")), -1.5e-7f);
  EXPECT_EQ(*r.GetF64("f64"), 3.141592653589793);
  EXPECT_TRUE(*r.GetBool("bool"));
  EXPECT_EQ(*r.GetString("str"), std::string("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(*r.GetString("empty"), "");
  EXPECT_EQ(**r.GetStringArray("strs"), (std::vector<std::string>{"a", "", "\xe2\x96\x81pad"}));
  EXPECT_EQ(**r.GetIntArray("u8s"), (std::vector<int64_t>{0, 255, 7}));
  EXPECT_EQ(r.Find("u8s")->elem_type, ValueType::U8);
  EXPECT_EQ(**r.GetIntArray("i16s"), (std::vector<int64_t>{-32768, 32767}));
  EXPECT_EQ(**r.GetIntArray("i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(uint64_t((**r.GetIntArray("u64s"))[0]), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(**r.GetIntArray("bools"), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(**r.GetFloatArray("f32s"), (std::vector<double>{0.5, -2.25}));
  const auto& f64s = **r.GetFloatArray("f64s");
  EXPECT_EQ(f64s[0], 1e300);
  EXPECT_TRUE(std::signbit(f64s[1]));
  EXPECT_EQ(r.Find("noarr")->array_size, 0u);
  EXPECT_EQ(r.tensors().size(), 0u);
  // Rendering: one line per value, arrays summarised.
  EXPECT_EQ(r.Find("i32s")->ToString(2), "[1, -2, ... 3 i32]");
  EXPECT_EQ(r.Find("u64s")->ToString(), "[18446744073709551615, 5]");
  EXPECT_EQ(r.Find("strs")->ToString(), "[\"a\", \"\", \"\xe2\x96\x81pad\"]");
}

// Declares tensors of several types and shapes; returns their data for comparison.
struct TestTensor {
  std::string name;
  DType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> data;
};

std::vector<TestTensor> MakeTensors() {
  std::vector<TestTensor> ts = {
      {"a.f32", DType::F32, {3}, {}},           // 12 bytes: needs padding
      {"b.q8_0", DType::Q8_0, {64, 3}, {}},     // 2 blocks × 34 × 3 rows
      {"c.q4_K", DType::Q4_K, {256, 2, 2}, {}},
      {"d.f16", DType::F16, {5, 1, 1, 3}, {}},
      {"e.bf16", DType::BF16, {100, 7}, {}},
  };
  uint8_t seed = 1;
  for (auto& t : ts) {
    int64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
    t.data = Pattern(RowBytes(t.type, t.ne[0]) * size_t(rows), seed++);
  }
  return ts;
}

Status WriteAll(Writer& w, const std::vector<TestTensor>& ts) {
  w.Set("general.architecture", Value::String("test"));
  w.Set("n", Value::U32(uint32_t(ts.size())));
  for (const auto& t : ts)
    MLA_RETURN_IF_ERROR(w.AddTensor(t.name, t.type, int(t.ne.size()), t.ne.data()));
  for (const auto& t : ts) MLA_RETURN_IF_ERROR(w.WriteTensor(t.name, t.data.data(), t.data.size()));
  return w.Finish();
}

void ExpectTensors(const File& f, const std::vector<TestTensor>& ts) {
  ASSERT_EQ(f.tensors().size(), ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const TensorInfo& t = f.tensors()[k];
    EXPECT_EQ(t.name, ts[k].name);
    EXPECT_EQ(t.type, ts[k].type);
    EXPECT_EQ(t.n_dims, int(ts[k].ne.size()));
    for (size_t d = 0; d < ts[k].ne.size(); ++d) EXPECT_EQ(t.ne[d], ts[k].ne[d]);
    ASSERT_EQ(t.nbytes, ts[k].data.size());
    EXPECT_EQ(std::memcmp(t.data, ts[k].data.data(), t.nbytes), 0) << t.name;
  }
}

TEST(GgufWriter, TensorsAreAlignedAndPadded) {
  for (uint64_t alignment : {32u, 64u, 4096u}) {
    SCOPED_TRACE(alignment);
    const std::string path = test::TempDir() + "/tensors.gguf";
    auto ts = MakeTensors();
    auto w = Writer::Create(path, {.alignment = alignment});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(WriteAll(**w, ts).ok());
    auto f = File::Open(path);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ((*f)->alignment(), alignment);
    EXPECT_EQ((*f)->Has("general.alignment"), alignment != 32);
    ExpectTensors(**f, ts);
    const uint8_t* base = (*f)->tensors()[0].data;
    for (const auto& t : (*f)->tensors()) {
      EXPECT_EQ(t.offset % alignment, 0u) << t.name;
      EXPECT_EQ(uintptr_t(t.data - base) % alignment, 0u);
    }
    // The file ends on an alignment boundary: every tensor (also the last) is padded.
    EXPECT_EQ(std::filesystem::file_size(path) % alignment, 0u);
    // Padding bytes are zero.
    const auto& a = (*f)->tensors()[0];
    for (size_t k = a.nbytes; k < (*f)->tensors()[1].offset; ++k) EXPECT_EQ(a.data[k], 0) << k;
  }
}

TEST(GgufWriter, SplitRoundTripThroughTheFirstShard) {
  const std::string dir = test::TempDir();
  auto ts = MakeTensors();
  // Padded sizes are 32, 224, 576, 32, 1408 bytes: a 700-byte cap gives the shards {a, b},
  // {c, d} and {e} (a tensor larger than the cap gets a shard of its own).
  auto w = Writer::Create(dir + "/model.gguf", {.alignment = 32, .max_shard_bytes = 700});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WriteAll(**w, ts).ok());
  const auto outputs = (*w)->outputs();
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0], dir + "/model-00001-of-00003.gguf");
  EXPECT_EQ(outputs[2], dir + "/model-00003-of-00003.gguf");

  auto f = File::Open(outputs[0]);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->shard_count(), 3);
  ExpectTensors(**f, ts);
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "test");
  EXPECT_EQ((*f)->Find("split.no")->type, ValueType::U16);
  EXPECT_EQ((*f)->Find("split.count")->type, ValueType::U16);
  EXPECT_EQ((*f)->Find("split.tensors.count")->type, ValueType::I32);
  EXPECT_EQ(*(*f)->GetU64("split.count"), 3u);
  EXPECT_EQ(*(*f)->GetU64("split.tensors.count"), ts.size());
  uint64_t total = 0;
  for (const auto& p : outputs) total += std::filesystem::file_size(p);
  EXPECT_EQ((*f)->file_bytes(), total);
  std::vector<int> shards;
  for (const auto& t : (*f)->tensors()) shards.push_back(t.shard);
  EXPECT_EQ(shards, (std::vector<int>{0, 0, 1, 1, 2}));

  // Later shards hold only the split keys; opening one directly is refused with a hint.
  auto second = File::Open(outputs[1]);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("first shard"), std::string::npos)
      << second.status().message();
  // A missing shard is an error naming it.
  std::filesystem::remove(outputs[2]);
  auto broken = File::Open(outputs[0]);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("model-00003-of-00003.gguf"), std::string::npos);
}

TEST(GgufWriter, RejectsMisuse) {
  const std::string dir = test::TempDir();
  auto w = Writer::Create(dir + "/x.gguf");
  ASSERT_TRUE(w.ok());
  const int64_t bad_block[] = {100, 2};
  EXPECT_FALSE((*w)->AddTensor("q", DType::Q4_K, 2, bad_block).ok());
  const int64_t zero[] = {0};
  EXPECT_FALSE((*w)->AddTensor("z", DType::F32, 1, zero).ok());
  const int64_t ok[] = {4};
  EXPECT_FALSE((*w)->AddTensor("five", DType::F32, 5, ok).ok());
  ASSERT_TRUE((*w)->AddTensor("t", DType::F32, 1, ok).ok());
  EXPECT_FALSE((*w)->AddTensor("t", DType::F32, 1, ok).ok());  // duplicate
  ASSERT_TRUE((*w)->AddTensor("u", DType::F32, 1, ok).ok());
  float data[4] = {1, 2, 3, 4};
  EXPECT_FALSE((*w)->WriteTensor("u", data, sizeof data).ok());   // out of order
  EXPECT_FALSE((*w)->WriteTensor("t", data, 8).ok());             // wrong size
  ASSERT_TRUE((*w)->WriteTensor("t", data, sizeof data).ok());
  EXPECT_FALSE((*w)->Finish().ok());                               // "u" not written
  EXPECT_FALSE(Writer::Create(dir + "/x.gguf", {.alignment = 48}).ok());
  EXPECT_FALSE(Writer::Create(dir + "/x.bin", {.max_shard_bytes = 10}).ok());
  w->reset();  // an unfinished writer removes its partial output
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.gguf"));
}

// Tensors streamed in pieces (WriteTensorPart) read back the same as whole writes, across shards.
TEST(GgufWriter, WritesTensorsInParts) {
  const std::string dir = test::TempDir();
  auto ts = MakeTensors();
  auto w = Writer::Create(dir + "/parts.gguf", {.alignment = 64, .max_shard_bytes = 700});
  ASSERT_TRUE(w.ok());
  (*w)->Set("general.architecture", Value::String("test"));
  for (const auto& t : ts) ASSERT_TRUE((*w)->AddTensor(t.name, t.type, int(t.ne.size()), t.ne.data()).ok());
  for (const auto& t : ts) {
    size_t done = 0, step = 1;
    while (done < t.data.size()) {
      const size_t n = std::min(step, t.data.size() - done);
      ASSERT_TRUE((*w)->WriteTensorPart(t.name, t.data.data() + done, n).ok()) << t.name;
      done += n;
      step = step * 3 + 1;
    }
    EXPECT_FALSE((*w)->WriteTensorPart(t.name, t.data.data(), 1).ok());  // already complete
  }
  ASSERT_TRUE((*w)->Finish().ok());
  auto f = File::Open((*w)->outputs()[0]);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_GT((*f)->shard_count(), 1);
  ExpectTensors(**f, ts);
}

// A fixture copied through the writer reads back with identical metadata and tensors.
TEST(GgufWriter, CopiesAFixtureExactly) {
  auto src = File::Open(test::Fixture("models/ds3-small.Q4_K_M.gguf"));
  ASSERT_TRUE(src.ok());
  const std::string path = test::TempDir() + "/copy.gguf";
  auto w = Writer::Create(path);
  ASSERT_TRUE(w.ok());
  for (const auto& [k, v] : (*src)->metadata()) (*w)->Set(k, v);
  for (const auto& t : (*src)->tensors()) ASSERT_TRUE((*w)->AddTensor(t.name, t.type, t.n_dims, t.ne).ok());
  for (const auto& t : (*src)->tensors()) ASSERT_TRUE((*w)->WriteTensor(t.name, t.data, t.nbytes).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  // llama.cpp packs the same way, so even the bytes agree.
  EXPECT_EQ(test::ReadFile(path), test::ReadFile(test::Fixture("models/ds3-small.Q4_K_M.gguf")));
}

}  // namespace
}  // namespace mla::gguf
