// mla-gguf info / set, run as a process on copies of the fixtures; and the assignment parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "gguf/edit.h"
#include "gguf/gguf.h"
#include "test_util.h"

namespace mla::gguf {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int status;
  std::string output;
};

ToolRun Tool(const std::string& args) {
  ToolRun r;
  r.status = test::RunCommand(test::ToolPath("mla-gguf") + " " + args, &r.output);
  return r;
}

std::string Copy(const std::string& fixture, const std::string& dir) {
  const std::string dst = dir + "/" + fs::path(fixture).filename().string();
  fs::copy_file(test::Fixture(fixture), dst, fs::copy_options::overwrite_existing);
  return dst;
}

// Every tensor of `a` has the same name, type, shape and bytes in `b`.
void ExpectSameTensors(const File& a, const File& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& t : a.tensors()) {
    const TensorInfo* u = b.FindTensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type);
    EXPECT_EQ(u->ShapeString(), t.ShapeString());
    ASSERT_EQ(u->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(GgufTool, InfoJsonNamesTheLayoutOfEachDs3TinyFile) {
  const std::pair<const char*, const char*> cases[] = {
      {"models/ds3-tiny.mla.gguf", "mla"},
      {"models/ds3-tiny.split2d.gguf", "split2d"},
      {"models/ds3-tiny.legacy.gguf", "legacy"},
  };
  for (const auto& [file, layout] : cases) {
    SCOPED_TRACE(file);
    ToolRun r = Tool("info --json " + test::Fixture(file));
    ASSERT_EQ(r.status, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["layout"], layout);
    EXPECT_EQ(j["version"], 3);
    auto f = File::Open(test::Fixture(file));
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(j["tensors"].size(), (*f)->tensors().size());
    ASSERT_EQ(j["metadata"].size(), (*f)->metadata().size());
    EXPECT_EQ(j["totals"]["f32"]["count"], (*f)->tensors().size());
    for (const auto& t : j["tensors"]) {
      if (t["name"] == "blk.0.attn_k_b.weight") {
        EXPECT_EQ(t["shape"], layout == std::string("mla") ? nlohmann::json({16, 32, 4})
                                                           : nlohmann::json({16, 128}));
        EXPECT_EQ(t["bytes"], 16 * 32 * 4 * 4);
      }
    }
    for (const auto& m : j["metadata"]) {
      if (m["key"] == "tokenizer.ggml.tokens") {
        EXPECT_EQ(m["type"], "array");
        EXPECT_EQ(m["elem_type"], "string");
        EXPECT_EQ(m["count"], 2048);
        EXPECT_EQ(m["items"].size(), 8u);
      }
      if (m["key"] == "deepseek2.attention.kv_lora_rank") {
        EXPECT_EQ(m["value"], 32);
      }
    }
  }
}

TEST(GgufTool, InfoTextOnVocabOnlyFile) {
  ToolRun r = Tool("info " + test::Fixture("vocab/ggml-vocab-deepseek-llm.gguf"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("layout: n/a ("), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("... 102400 strings]"), std::string::npos);
  EXPECT_NE(r.output.find("tensors: 0"), std::string::npos);
  ToolRun j = Tool("info --json " + test::Fixture("vocab/ggml-vocab-deepseek-llm.gguf"));
  ASSERT_EQ(j.status, 0);
  const auto parsed = nlohmann::json::parse(j.output);
  EXPECT_TRUE(parsed["layout"].is_null());
  EXPECT_NE(parsed["layout_reason"].get<std::string>().find("deepseek2"), std::string::npos);
}

TEST(GgufTool, InfoTextTableAndTotals) {
  ToolRun r = Tool("info " + test::Fixture("models/ds3-small.Q4_K_M.gguf"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("layout: mla"), std::string::npos);
  EXPECT_NE(r.output.find("blk.0.attn_k_b.weight"), std::string::npos);
  EXPECT_NE(r.output.find("{128, 256, 4}"), std::string::npos) << r.output;
  // Totals: 16 q4_K tensors, 34 in all.
  EXPECT_NE(r.output.find("q4_K        16 tensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("all         34 tensors"), std::string::npos) << r.output;
}

TEST(GgufTool, SetInPlace) {
  const std::string dir = test::TempDir();
  const std::string path = Copy("models/ds3-tiny.legacy.gguf", dir);
  const auto size = fs::file_size(path);
  // Same type, same size; general.name "ds3-tiny" -> another 8-byte name.
  ToolRun r = Tool("set " + path + " deepseek2.block_count=u32:3 general.name=str:tiny-ds3 "
               "deepseek2.expert_weights_scale=f32:1.25");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("in place"), std::string::npos) << r.output;
  EXPECT_EQ(fs::file_size(path), size);
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*(*f)->GetString("general.name"), "tiny-ds3");
  EXPECT_EQ(*(*f)->GetF64("deepseek2.expert_weights_scale"), 1.25);
  auto original = File::Open(test::Fixture("models/ds3-tiny.legacy.gguf"));
  ASSERT_TRUE(original.ok());
  ExpectSameTensors(**original, **f);
}

TEST(GgufTool, SetByRewrite) {
  const std::string dir = test::TempDir();
  const std::string path = Copy("models/ds3-tiny.legacy.gguf", dir);
  // A new key (the old-V3 use case), a longer string and a type change force a rewrite.
  ToolRun r = Tool("set " + path + " deepseek2.expert_group_count=u32:8 "
               "deepseek2.expert_group_used_count=u32:4 general.name=str:a-longer-name "
               "deepseek2.block_count=u64:3");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("rewritten"), std::string::npos) << r.output;
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto original = File::Open(test::Fixture("models/ds3-tiny.legacy.gguf"));
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(*(*f)->GetU64("deepseek2.expert_group_count"), 8u);
  EXPECT_EQ(*(*f)->GetU64("deepseek2.expert_group_used_count"), 4u);
  EXPECT_EQ(*(*f)->GetString("general.name"), "a-longer-name");
  EXPECT_EQ((*f)->Find("deepseek2.block_count")->type, ValueType::U64);
  EXPECT_EQ((*f)->metadata().size(), (*original)->metadata().size() + 2);
  // Existing keys keep their order; new ones are appended.
  for (size_t k = 0; k < (*original)->metadata().size(); ++k)
    EXPECT_EQ((*f)->metadata()[k].first, (*original)->metadata()[k].first);
  EXPECT_EQ((**(*f)->GetStringArray("tokenizer.ggml.tokens")),
            (**(*original)->GetStringArray("tokenizer.ggml.tokens")));
  ExpectSameTensors(**original, **f);
  for (const auto& e : fs::directory_iterator(dir))  // no temporary file left behind
    EXPECT_EQ(e.path().filename(), "ds3-tiny.legacy.gguf");

  // Changing the alignment rewrites with the new padding.
  ToolRun a = Tool("set " + path + " general.alignment=u32:128");
  ASSERT_EQ(a.status, 0) << a.output;
  auto g = File::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ((*g)->alignment(), 128u);
  for (const auto& t : (*g)->tensors()) EXPECT_EQ(t.offset % 128, 0u);
  ExpectSameTensors(**original, **g);
}

TEST(GgufTool, SetOnFirstShardOfSplitModel) {
  const std::string dir = test::TempDir();
  auto w = Writer::Create(dir + "/m.gguf", {.max_shard_bytes = 64});
  ASSERT_TRUE(w.ok());
  (*w)->Set("general.architecture", Value::String("test"));
  const int64_t ne[] = {16};
  const float data[16] = {1, 2, 3};
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE((*w)->AddTensor(n, DType::F32, 1, ne).ok());
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE((*w)->WriteTensor(n, data, sizeof data).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ((*w)->outputs().size(), 3u);
  const std::string first = (*w)->outputs()[0];
  ToolRun r = Tool("set " + first + " general.name=str:split-model");
  ASSERT_EQ(r.status, 0) << r.output;
  auto f = File::Open(first);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->shard_count(), 3);
  EXPECT_EQ(*(*f)->GetString("general.name"), "split-model");
  ASSERT_EQ((*f)->tensors().size(), 3u);
  EXPECT_EQ(std::memcmp((*f)->tensors()[2].data, data, sizeof data), 0);
}

TEST(GgufTool, BadInputGivesOneLineAndNonZeroExit) {
  const std::string dir = test::TempDir();
  const std::string path = Copy("models/ds3-tiny.mla.gguf", dir);
  const std::string garbage = dir + "/garbage.gguf";
  {
    FILE* f = std::fopen(garbage.c_str(), "wb");
    std::fputs("GGUF\x03\0\0\0 this is not a model", f);
    std::fclose(f);
  }
  const std::string cases[] = {
      "info " + dir + "/missing.gguf",
      "info " + garbage,
      "set " + garbage + " a=u32:1",
      "set " + path + " no-equals-sign",
      "set " + path + " key=u33:1",
      "set " + path + " key=u8:300",
      "set " + path + " key=i8:-129",
      "set " + path + " key=bool:maybe",
      "set " + path + " key=f32:abc",
      "set " + path + " =u32:1",
      "set " + path,
      "",
      "frobnicate " + path,
  };
  for (const auto& args : cases) {
    ToolRun r = Tool(args);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_FALSE(r.output.empty()) << args;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  }
  // The file is untouched by the failed edits.
  EXPECT_EQ(test::ReadFile(path), test::ReadFile(test::Fixture("models/ds3-tiny.mla.gguf")));
}

TEST(GgufEdit, ParseAssignment) {
  auto a = ParseAssignment("deepseek2.expert_group_count=u32:8");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "deepseek2.expert_group_count");
  EXPECT_EQ(a->second.type, ValueType::U32);
  EXPECT_EQ(a->second.u, 8u);
  EXPECT_EQ(ParseAssignment("k=i64:-9223372036854775808")->second.i, INT64_MIN);
  EXPECT_EQ(ParseAssignment("k=u64:18446744073709551615")->second.u, UINT64_MAX);
  EXPECT_EQ(ParseAssignment("k=u16:0x10")->second.u, 16u);
  EXPECT_EQ(ParseAssignment("k=u16:010")->second.u, 10u);  // not octal
  EXPECT_EQ(ParseAssignment("k=f64:1e-3")->second.f, 1e-3);
  EXPECT_EQ(ParseAssignment("k=bool:false")->second.u, 0u);
  EXPECT_EQ(ParseAssignment("k=str:a=b:c")->second.s, "a=b:c");
  EXPECT_EQ(ParseAssignment("k=str:")->second.s, "");
  for (const char* bad : {"k", "k=u32", "=u32:1", "k=U32:1", "k=u8:256", "k=u8:-1", "k=i16:40000",
                          "k=u32: 1", "k=u32:1x", "k=u64:18446744073709551616", "k=f32:",
                          "k=bool:yes", "k=i32:"}) {
    auto r = ParseAssignment(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("expected"), std::string::npos) << bad;
    }
  }
}

}  // namespace
}  // namespace mla::gguf
