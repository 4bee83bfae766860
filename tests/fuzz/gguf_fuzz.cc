// libFuzzer target for the GGUF reader: any input must parse or give an error, never crash, hang
// or allocate without bound. A successful parse is then walked completely (every value rendered,
// every tensor's first and last data byte touched) and its metadata re-encoded and parsed again,
// which must give back the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gguf/encode.h"
#include "gguf/gguf.h"

namespace {

bool SameValue(const mla::gguf::Value& a, const mla::gguf::Value& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || a.s != b.s) return false;
  if (std::memcmp(&a.f, &b.f, sizeof a.f) != 0) return false;  // bitwise: NaN payloads survive
  if (a.type != mla::gguf::ValueType::ARRAY) return true;
  if (a.elem_type != b.elem_type || a.array_size != b.array_size || a.ints != b.ints ||
      a.strings != b.strings || a.floats.size() != b.floats.size())
    return false;
  return a.floats.empty() ||
         std::memcmp(a.floats.data(), b.floats.data(), a.floats.size() * sizeof(double)) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mla::gguf;
  auto parsed = Parse(data, size);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();  // every error explains itself
    return 0;
  }
  const ParsedShard& p = parsed.value();
  size_t sink = 0;
  for (const auto& [key, v] : p.kv) sink += key.size() + v.ToString(4).size();
  for (const auto& t : p.tensors) {
    if (t.nbytes == 0 || !t.data) std::abort();
    if (t.data < data || t.data + t.nbytes > data + size) std::abort();
    sink += t.data[0] + t.data[t.nbytes - 1] + t.ShapeString().size();
    sink += t.row_bytes() * size_t(t.nrows()) == t.nbytes ? 0 : 1;
  }
  // Encoder/decoder symmetry: the metadata alone, re-encoded, parses to the same values.
  std::string image = "GGUF";
  AppendPod(&image, uint32_t(3));
  AppendPod(&image, uint64_t(0));
  AppendPod(&image, uint64_t(p.kv.size()));
  for (const auto& [key, v] : p.kv) AppendKv(&image, key, v);
  auto again = Parse(reinterpret_cast<const uint8_t*>(image.data()), image.size());
  if (!again.ok() || again->kv.size() != p.kv.size()) std::abort();
  for (size_t k = 0; k < p.kv.size(); ++k)
    if (again->kv[k].first != p.kv[k].first || !SameValue(again->kv[k].second, p.kv[k].second))
      std::abort();
  volatile size_t keep = sink;
  (void)keep;
  return 0;
}
