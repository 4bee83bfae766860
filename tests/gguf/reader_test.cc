// The reader on every fixture GGUF: counts, shapes and types as fixtures/README.md states them.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "gguf/gguf.h"
#include "test_util.h"

namespace mla::gguf {
namespace {

using test::Fixture;

std::unique_ptr<File> OpenOrDie(const std::string& relative) {
  auto f = File::Open(Fixture(relative));
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? std::move(f).value() : nullptr;
}

std::map<std::string, int> CountTypes(const File& f) {
  std::map<std::string, int> out;
  for (const auto& t : f.tensors()) out[Name(t.type)]++;
  return out;
}

struct Expect {
  const char* file;
  size_t tensors;
  size_t keys;
  std::map<std::string, int> types;
};

// Tensor and key counts per fixture, and the tensor types each holds (README §1, §8, §11).
const Expect kFixtures[] = {
    {"models/ds2-lite-tiny.legacy.gguf", 41, 43, {{"f32", 41}}},
    {"models/ds2-lite-tiny.mla.gguf", 44, 48, {{"f32", 44}}},
    {"models/ds2-lite-tiny.split2d.gguf", 47, 43, {{"f32", 47}}},
    {"models/ds3-tiny.legacy.gguf", 49, 44, {{"f32", 49}}},
    {"models/ds3-tiny.mla.gguf", 52, 50, {{"f32", 52}}},
    {"models/ds3-tiny.split2d.gguf", 55, 44, {{"f32", 55}}},
    {"models/ds3-demo.Q4_K_M.gguf", 34, 50,
     {{"f32", 11}, {"q4_K", 16}, {"q5_0", 2}, {"q5_K", 2}, {"q6_K", 3}}},
    {"models/ds3-small.BF16.gguf", 34, 50, {{"bf16", 23}, {"f32", 11}}},
    {"models/ds3-small.F16.gguf", 34, 50, {{"f16", 23}, {"f32", 11}}},
    {"models/ds3-small.IQ4_NL.gguf", 34, 50, {{"f32", 11}, {"iq4_nl", 20}, {"q5_K", 2}, {"q6_K", 1}}},
    {"models/ds3-small.IQ4_XS.gguf", 34, 50,
     {{"f32", 11}, {"iq4_nl", 2}, {"iq4_xs", 18}, {"q5_K", 2}, {"q6_K", 1}}},
    {"models/ds3-small.Q2_K.gguf", 34, 50,
     {{"f32", 11}, {"q2_K", 15}, {"q3_K", 3}, {"q4_0", 2}, {"q5_K", 2}, {"q6_K", 1}}},
    {"models/ds3-small.Q3_K_M.gguf", 34, 50,
     {{"f32", 11}, {"q3_K", 15}, {"q4_0", 2}, {"q4_K", 3}, {"q5_K", 2}, {"q6_K", 1}}},
    {"models/ds3-small.Q4_0.gguf", 34, 50, {{"f32", 11}, {"q4_0", 22}, {"q6_K", 1}}},
    {"models/ds3-small.Q4_1.gguf", 34, 50, {{"f32", 11}, {"q4_1", 22}, {"q6_K", 1}}},
    {"models/ds3-small.Q4_K_M.gguf", 34, 50,
     {{"f32", 11}, {"q4_K", 16}, {"q5_0", 2}, {"q5_K", 2}, {"q6_K", 3}}},
    {"models/ds3-small.Q5_0.gguf", 34, 50, {{"f32", 11}, {"q5_0", 22}, {"q6_K", 1}}},
    {"models/ds3-small.Q5_1.gguf", 34, 50, {{"f32", 11}, {"q5_1", 22}, {"q6_K", 1}}},
    {"models/ds3-small.Q5_K_M.gguf", 34, 50, {{"f32", 11}, {"q5_1", 2}, {"q5_K", 18}, {"q6_K", 3}}},
    {"models/ds3-small.Q6_K.gguf", 34, 50, {{"f32", 11}, {"q6_K", 21}, {"q8_0", 2}}},
    {"models/ds3-small.Q8_0.gguf", 34, 50, {{"f32", 11}, {"q8_0", 23}}},
    {"models/ds3-small.legacy.Q4_K_M.gguf", 32, 46,
     {{"f32", 11}, {"q4_K", 14}, {"q5_K", 2}, {"q6_K", 3}, {"q8_0", 2}}},
    {"models/ds3-small.legacy.Q8_0.gguf", 32, 46, {{"f32", 11}, {"q8_0", 21}}},
    {"vocab/ggml-vocab-deepseek-coder.gguf", 0, 25, {}},
    {"vocab/ggml-vocab-deepseek-llm.gguf", 0, 23, {}},
};

TEST(GgufReader, EveryFixtureOpensWithTheDocumentedContents) {
  for (const Expect& e : kFixtures) {
    SCOPED_TRACE(e.file);
    auto f = OpenOrDie(e.file);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->shard_count(), 1);
    EXPECT_EQ(f->tensors().size(), e.tensors);
    EXPECT_EQ(f->metadata().size(), e.keys);
    EXPECT_EQ(CountTypes(*f), e.types);
    // Every tensor lies inside the file, is aligned and has the size its shape implies.
    const uint8_t* base = nullptr;
    for (const auto& t : f->tensors()) {
      EXPECT_EQ(t.offset % 32, 0u) << t.name;
      EXPECT_EQ(t.nbytes, t.row_bytes() * uint64_t(t.nrows())) << t.name;
      EXPECT_EQ(f->FindTensor(t.name), &t);
      if (!base || t.data - t.offset < base) base = t.data - t.offset;
    }
    if (!f->tensors().empty()) {
      const auto& last = f->tensors().back();
      EXPECT_LE(uint64_t(last.data - base) + last.nbytes, f->file_bytes());
    }
  }
}

TEST(GgufReader, Ds3TinyShapesPerLayout) {
  auto mla = OpenOrDie("models/ds3-tiny.mla.gguf");
  auto split = OpenOrDie("models/ds3-tiny.split2d.gguf");
  auto legacy = OpenOrDie("models/ds3-tiny.legacy.gguf");
  ASSERT_TRUE(mla && split && legacy);

  const TensorInfo* k_b = mla->FindTensor("blk.0.attn_k_b.weight");
  ASSERT_NE(k_b, nullptr);
  EXPECT_EQ(k_b->n_dims, 3);
  EXPECT_EQ(k_b->ShapeString(), "{16, 32, 4}");
  EXPECT_EQ(k_b->type, DType::F32);
  EXPECT_EQ(k_b->nbytes, 16u * 32 * 4 * 4);
  EXPECT_EQ(mla->FindTensor("blk.0.attn_v_b.weight")->ShapeString(), "{32, 16, 4}");
  EXPECT_EQ(mla->FindTensor("blk.0.attn_kv_b.weight"), nullptr);
  EXPECT_EQ(mla->FindTensor("token_embd.weight")->ShapeString(), "{64, 2048}");
  EXPECT_EQ(mla->FindTensor("blk.1.ffn_gate_exps.weight")->ShapeString(), "{64, 32, 8}");
  EXPECT_EQ(mla->FindTensor("blk.1.ffn_down_exps.weight")->ShapeString(), "{32, 64, 8}");

  EXPECT_EQ(split->FindTensor("blk.0.attn_k_b.weight")->ShapeString(), "{16, 128}");
  EXPECT_EQ(split->FindTensor("blk.0.attn_v_b.weight")->ShapeString(), "{32, 64}");
  EXPECT_EQ(split->FindTensor("blk.0.attn_kv_b.weight")->ShapeString(), "{32, 128}");
  EXPECT_EQ(legacy->FindTensor("blk.0.attn_kv_b.weight")->ShapeString(), "{32, 128}");
  EXPECT_EQ(legacy->FindTensor("blk.0.attn_k_b.weight"), nullptr);

  // split2d's 2-D tensors hold the same bytes as mla's 3-D ones (README §5).
  for (const char* name : {"blk.2.attn_k_b.weight", "blk.2.attn_v_b.weight"}) {
    const TensorInfo* a = mla->FindTensor(name);
    const TensorInfo* b = split->FindTensor(name);
    ASSERT_EQ(a->nbytes, b->nbytes);
    EXPECT_EQ(std::memcmp(a->data, b->data, a->nbytes), 0) << name;
  }
}

TEST(GgufReader, Ds3TinyMetadataGetters) {
  auto f = OpenOrDie("models/ds3-tiny.mla.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->GetString("general.architecture"), "deepseek2");
  EXPECT_EQ(*f->GetU64("deepseek2.block_count"), 3u);
  EXPECT_EQ(*f->GetI64("deepseek2.attention.key_length_mla"), 24);
  EXPECT_EQ(*f->GetU64("deepseek2.attention.kv_lora_rank"), 32u);
  EXPECT_FLOAT_EQ(float(*f->GetF64("deepseek2.expert_weights_scale")), 2.5f);
  EXPECT_DOUBLE_EQ(*f->GetF64("deepseek2.embedding_length"), 64.0);  // integers read as numbers
  EXPECT_TRUE(*f->GetBool("deepseek2.expert_weights_norm"));
  EXPECT_EQ(*f->GetU64Or("deepseek2.nextn_predict_layers", 7), 7u);
  EXPECT_EQ(*f->GetStringOr("general.missing", "dflt"), "dflt");
  EXPECT_EQ((*f->GetStringArray("tokenizer.ggml.tokens"))->size(), 2048u);
  EXPECT_EQ((*f->GetStringArray("tokenizer.ggml.merges"))->size(), 1772u);
  const auto* types = *f->GetIntArray("tokenizer.ggml.token_type");
  ASSERT_EQ(types->size(), 2048u);
  EXPECT_EQ((*types)[0], 3);  // BOS is CONTROL
  EXPECT_EQ(f->Find("tokenizer.ggml.token_type")->elem_type, ValueType::I32);

  // Errors name the key and what was found.
  auto missing = f->GetU64("deepseek2.no_such_key");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("deepseek2.no_such_key"), std::string::npos);
  auto wrong = f->GetU64("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("found string"), std::string::npos);
  EXPECT_FALSE(f->GetBool("deepseek2.block_count").ok());
  EXPECT_FALSE(f->GetFloatArray("tokenizer.ggml.tokens").ok());
}

TEST(GgufReader, VocabOnlyFiles) {
  auto llm = OpenOrDie("vocab/ggml-vocab-deepseek-llm.gguf");
  auto coder = OpenOrDie("vocab/ggml-vocab-deepseek-coder.gguf");
  ASSERT_TRUE(llm && coder);
  EXPECT_EQ(*llm->GetString("general.architecture"), "llama");
  EXPECT_EQ((*llm->GetStringArray("tokenizer.ggml.tokens"))->size(), 102400u);
  EXPECT_EQ((*llm->GetStringArray("tokenizer.ggml.merges"))->size(), 99757u);
  EXPECT_EQ(*llm->GetString("tokenizer.ggml.pre"), "deepseek-llm");
  EXPECT_EQ(*llm->GetU64("tokenizer.ggml.bos_token_id"), 100000u);
  EXPECT_EQ(*llm->GetU64("tokenizer.ggml.eos_token_id"), 100001u);
  EXPECT_EQ((*coder->GetStringArray("tokenizer.ggml.tokens"))->size(), 32256u);
  EXPECT_EQ(*coder->GetString("tokenizer.ggml.pre"), "deepseek-coder");
  EXPECT_EQ(*coder->GetU64("tokenizer.ggml.bos_token_id"), 32013u);
  // Long arrays are summarised with their first items and the count.
  const std::string s = llm->Find("tokenizer.ggml.tokens")->ToString(3);
  EXPECT_NE(s.find("... 102400 strings]"), std::string::npos) << s;
  EXPECT_EQ(s.rfind("[\"", 0), 0u) << s;
}

TEST(GgufReader, MissingFileIsAnError) {
  auto f = File::Open(Fixture("models/no-such-file.gguf"));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("no-such-file.gguf"), std::string::npos);
}

}  // namespace
}  // namespace mla::gguf
