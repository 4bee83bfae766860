// Byte encoding of GGUF metadata (the inverse of parse.cc), shared by the writer and the
// in-place metadata editor. Internal to the gguf layer.
#pragma once

#include <string>

#include "gguf/gguf.h"

namespace mla::gguf {

// Appends a u64-length-prefixed string.
void AppendString(std::string* out, const std::string& s);
// Appends the encoding of `v` without its type id (what follows the type id in a kv entry).
void AppendValue(std::string* out, const Value& v);
// Appends a whole kv entry: key, u32 type id, value.
void AppendKv(std::string* out, const std::string& key, const Value& v);

template <typename T>
void AppendPod(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);  // little-endian host, like the format
}

}  // namespace mla::gguf
