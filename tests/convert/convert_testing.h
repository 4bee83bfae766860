// Helpers for the conversion tests: writing safetensors files, copying checkpoint folders,
// comparing GGUF files key by key and tensor by tensor.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/safetensors.h"
#include "gguf/gguf.h"

namespace mla::test {

struct StEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F8_E4M3", ...
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes a safetensors file: u64 header length, JSON header (space-padded to 8 bytes), data.
inline void WriteSafetensors(const std::string& path, const std::vector<StEntry>& entries) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  std::string data;
  for (const StEntry& e : entries) {
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
    data += e.bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << h << data;
}

// The tensors of a checkpoint as StEntry (to rewrite them modified).
inline std::vector<StEntry> ReadEntries(const std::string& dir) {
  auto ck = convert::Checkpoint::Open(dir);
  EXPECT_TRUE(ck.ok()) << ck.status().message();
  std::vector<StEntry> out;
  if (!ck.ok()) return out;
  for (const convert::StTensor* t : (*ck)->ordered())
    out.push_back({t->name, convert::StDTypeName(t->dtype), t->shape,
                   std::string(reinterpret_cast<const char*>(t->data), t->nbytes)});
  return out;
}

// Copies the non-safetensors files of a checkpoint folder (config, tokenizer) to `dst`.
inline void CopyCheckpointText(const std::string& src, const std::string& dst) {
  namespace fs = std::filesystem;
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string n = e.path().filename().string();
    if (n.find(".safetensors") != std::string::npos) continue;
    fs::copy_file(e.path(), fs::path(dst) / n, fs::copy_options::overwrite_existing);
  }
}

inline void EditJson(const std::string& path, const std::function<void(nlohmann::ordered_json&)>& edit) {
  std::ifstream in(path);
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(in);
  edit(j);
  std::ofstream out(path);
  out << j.dump(2);
}

inline bool SameValue(const gguf::Value& a, const gguf::Value& b) {
  return a.type == b.type && a.elem_type == b.elem_type && a.u == b.u && a.i == b.i &&
         (a.f == b.f || (a.f != a.f && b.f != b.f)) && a.s == b.s && a.ints == b.ints &&
         a.floats == b.floats && a.strings == b.strings && a.array_size == b.array_size;
}

// Keys of `a` missing in `b` (by name), and keys present in both whose values differ.
struct MetaDiff {
  std::vector<std::string> only_a, only_b, differ;
  bool same_order = true;  // the common keys appear in the same order
};
inline MetaDiff DiffMetadata(const gguf::File& a, const gguf::File& b) {
  MetaDiff d;
  std::vector<std::string> common_a, common_b;
  for (const auto& [k, v] : a.metadata()) {
    const gguf::Value* o = b.Find(k);
    if (!o) {
      d.only_a.push_back(k);
      continue;
    }
    common_a.push_back(k);
    if (!SameValue(v, *o)) d.differ.push_back(k);
  }
  for (const auto& [k, v] : b.metadata()) {
    if (!a.Find(k)) d.only_b.push_back(k);
    else common_b.push_back(k);
  }
  d.same_order = common_a == common_b;
  return d;
}

// Same names in the same order, same types, shapes and bytes.
inline void ExpectSameTensors(const gguf::File& a, const gguf::File& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const gguf::TensorInfo& x = a.tensors()[i];
    const gguf::TensorInfo& y = b.tensors()[i];
    ASSERT_EQ(x.name, y.name) << "tensor " << i;
    EXPECT_EQ(x.type, y.type) << x.name;
    EXPECT_EQ(x.n_dims, y.n_dims) << x.name;
    for (int d = 0; d < 4; ++d) EXPECT_EQ(x.ne[d], y.ne[d]) << x.name << " dim " << d;
    ASSERT_EQ(x.nbytes, y.nbytes) << x.name;
    EXPECT_EQ(0, std::memcmp(x.data, y.data, x.nbytes)) << x.name << ": data differs";
  }
}

// Same set of names; each with the same type, shape and bytes (order may differ).
inline void ExpectSameTensorsByName(const gguf::File& a, const gguf::File& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const gguf::TensorInfo& x : a.tensors()) {
    const gguf::TensorInfo* y = b.FindTensor(x.name);
    ASSERT_NE(y, nullptr) << x.name;
    EXPECT_EQ(x.type, y->type) << x.name;
    for (int d = 0; d < 4; ++d) EXPECT_EQ(x.ne[d], y->ne[d]) << x.name << " dim " << d;
    ASSERT_EQ(x.nbytes, y->nbytes) << x.name;
    EXPECT_EQ(0, std::memcmp(x.data, y->data, x.nbytes)) << x.name << ": data differs";
  }
}

inline std::unique_ptr<gguf::File> OpenGguf(const std::string& path) {
  auto f = gguf::File::Open(path);
  EXPECT_TRUE(f.ok()) << path << ": " << f.status().message();
  return f.ok() ? std::move(f).value() : nullptr;
}

}  // namespace mla::test
