// Writes a small seed corpus for gguf_fuzz: minimal valid GGUFs made with the writer (every
// value type, several tensor types and alignments, split shards), plus for each fixture given on
// the command line a shrunken copy of its header (arrays cut to a few items, only small tensors),
// so the fuzzer starts from real key names and shapes without large seed files.
//
// Usage: gguf_fuzz_seeds OUT_DIR [FIXTURE.gguf ...]
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace {

using namespace mla;
using namespace mla::gguf;

Status WriteTensors(Writer& w, const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                    DType type) {
  std::vector<std::vector<uint8_t>> data;
  for (const auto& [name, ne] : shapes) {
    MLA_RETURN_IF_ERROR(w.AddTensor(name, type, int(ne.size()), ne.data()));
    int64_t rows = 1;
    for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
    data.emplace_back(RowBytes(type, ne[0]) * size_t(rows), uint8_t(data.size() + 1));
  }
  for (size_t k = 0; k < shapes.size(); ++k)
    MLA_RETURN_IF_ERROR(w.WriteTensor(shapes[k].first, data[k].data(), data[k].size()));
  return w.Finish();
}

Status AllValueTypes(const std::string& dir) {
  MLA_ASSIGN_OR_RETURN(auto w, Writer::Create(dir + "/values.gguf"));
  w->Set("general.architecture", Value::String("deepseek2"));
  w->Set("u8", Value::U8(1));
  w->Set("i8", Value::I8(-1));
  w->Set("u16", Value::U16(2));
  w->Set("i16", Value::I16(-2));
  w->Set("u32", Value::U32(3));
  w->Set("i32", Value::I32(-3));
  w->Set("u64", Value::U64(4));
  w->Set("i64", Value::I64(-4));
  w->Set("f32", Value::F32(0.5f));
  w->Set("f64", Value::F64(0.25));
  w->Set("bool", Value::Bool(true));
  w->Set("str", Value::String("text"));
  w->Set("strs", Value::StringArray({"a", "bc", ""}));
  w->Set("ints", Value::IntArray(ValueType::I32, {1, 2, 3}));
  w->Set("u8s", Value::IntArray(ValueType::U8, {1, 2}));
  w->Set("bools", Value::IntArray(ValueType::BOOL, {0, 1}));
  w->Set("floats", Value::FloatArray(ValueType::F32, {1.0, 2.0}));
  w->Set("doubles", Value::FloatArray(ValueType::F64, {3.0}));
  return w->Finish();
}

Status Tensors(const std::string& dir, DType type, uint64_t alignment, const char* name) {
  MLA_ASSIGN_OR_RETURN(auto w, Writer::Create(dir + "/" + name, {.alignment = alignment}));
  w->Set("general.architecture", Value::String("deepseek2"));
  const int64_t n0 = Info(type).block_elems == 1 ? 8 : Info(type).block_elems;
  return WriteTensors(*w, {{"blk.0.attn_norm.weight", {n0}},
                           {"blk.0.attn_k_b.weight", {n0, 2, 2}},
                           {"blk.0.ffn_gate_exps.weight", {n0, 1, 2, 1}}},
                      type);
}

Status Split(const std::string& dir) {
  MLA_ASSIGN_OR_RETURN(auto w, Writer::Create(dir + "/split.gguf", {.max_shard_bytes = 64}));
  w->Set("general.architecture", Value::String("deepseek2"));
  return WriteTensors(*w, {{"a", {16}}, {"b", {16}}, {"c", {8}}}, DType::F32);
}

// The fixture's metadata with arrays cut to 8 items, and its tensors of at most 1 KiB.
Status Shrunken(const std::string& dir, const std::string& fixture, int index) {
  MLA_ASSIGN_OR_RETURN(auto f, File::Open(fixture));
  MLA_ASSIGN_OR_RETURN(auto w, Writer::Create(dir + "/fixture" + std::to_string(index) + ".gguf"));
  for (auto [key, v] : f->metadata()) {
    if (key == "tokenizer.chat_template") v.s.resize(std::min<size_t>(v.s.size(), 64));
    if (v.strings.size() > 8) v.strings.resize(8);
    if (v.ints.size() > 8) v.ints.resize(8);
    if (v.floats.size() > 8) v.floats.resize(8);
    v.array_size = v.strings.size() + v.ints.size() + v.floats.size();
    w->Set(key, v);
  }
  std::vector<const TensorInfo*> small;
  for (const auto& t : f->tensors())
    if (t.nbytes <= 1024 && small.size() < 6) small.push_back(&t);
  for (const auto* t : small) MLA_RETURN_IF_ERROR(w->AddTensor(t->name, t->type, t->n_dims, t->ne));
  for (const auto* t : small) MLA_RETURN_IF_ERROR(w->WriteTensor(t->name, t->data, t->nbytes));
  return w->Finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [FIXTURE.gguf ...]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  std::vector<Status> results = {
      AllValueTypes(dir),
      Tensors(dir, DType::F32, 32, "f32.gguf"),
      Tensors(dir, DType::Q8_0, 64, "q8_0.gguf"),
      Tensors(dir, DType::Q4_K, 32, "q4_k.gguf"),
      Tensors(dir, DType::BF16, 256, "bf16.gguf"),
      Split(dir),
  };
  for (int k = 2; k < argc; ++k) results.push_back(Shrunken(dir, argv[k], k - 2));
  for (const auto& s : results) {
    if (!s.ok()) {
      std::fprintf(stderr, "gguf_fuzz_seeds: %s\n", s.message().c_str());
      return 1;
    }
  }
  return 0;
}
