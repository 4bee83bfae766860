// Helpers for the model tests: fixture paths and a GGUF copy with edited metadata (to make
// "older files" with keys removed).
#pragma once

#include <set>
#include <string>

#include "gguf/gguf.h"
#include "test_util.h"

namespace mla::test {

inline std::string Model(const std::string& name) { return Fixture("models/" + name); }

// Copies `src` to a new file in a temp dir without the metadata keys in `drop`.
inline std::string CopyWithoutKeys(const std::string& src, const std::set<std::string>& drop) {
  auto in = gguf::File::Open(src);
  if (!in.ok()) throw std::runtime_error(in.status().message());
  const std::string path = TempDir() + "/edited.gguf";
  auto w = gguf::Writer::Create(path);
  if (!w.ok()) throw std::runtime_error(w.status().message());
  for (const auto& [k, v] : (*in)->metadata())
    if (!drop.count(k) && k != "general.alignment") (*w)->Set(k, v);
  for (const auto& t : (*in)->tensors()) {
    auto st = (*w)->AddTensor(t.name, t.type, t.n_dims, t.ne);
    if (!st.ok()) throw std::runtime_error(st.message());
  }
  for (const auto& t : (*in)->tensors()) {
    auto st = (*w)->WriteTensor(t.name, t.data, t.nbytes);
    if (!st.ok()) throw std::runtime_error(st.message());
  }
  auto st = (*w)->Finish();
  if (!st.ok()) throw std::runtime_error(st.message());
  return path;
}

}  // namespace mla::test
