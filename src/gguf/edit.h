// Metadata editing for `mla-gguf set`: parse KEY=TYPE:VALUE assignments and apply them to a file,
// in place when the encodings keep their size, otherwise by a streamed rewrite.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.h"

namespace mla::gguf {

// "KEY=TYPE:VALUE" with TYPE one of u8,i8,u16,i16,u32,i32,u64,i64,f32,f64,bool,str. Integers are
// decimal (or 0x hex) and range-checked for their type; bool is true/false/1/0; for str the value
// is everything after the first ':' (it may contain '=' and ':').
Result<std::pair<std::string, Value>> ParseAssignment(const std::string& text);

enum class EditMode { kInPlace, kRewritten };

// Sets scalar metadata in one GGUF file (for a split model, the first shard: it holds the
// metadata). When every key exists with the same type and the same encoded size (strings of the
// same length) the bytes are overwritten in place. Otherwise the file is rewritten to a temporary
// file beside it, with keys replaced or appended, tensor data streamed from the mapping, and then
// renamed over the original. `general.alignment` always takes the rewrite (offsets change).
Result<EditMode> SetMetadata(const std::string& path,
                             const std::vector<std::pair<std::string, Value>>& edits);

}  // namespace mla::gguf
