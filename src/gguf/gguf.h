// GGUF container: a validated, memory-mapped view of one model file (or a split set of files),
// and a streaming writer. Spec §1.4 (ggml dimension order), §2 (keys), §9 (tensor types).
//
// Every size, count and offset read from a file is checked against the file length before use;
// a corrupt file gives an error that says what was expected and what was found.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "base/mapped_file.h"
#include "base/status.h"

namespace mla::gguf {

// GGUF metadata value types, with their on-disk ids.
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* ValueTypeName(ValueType t);  // "u32", "string", "array", ...

// One metadata value. Scalars keep their on-disk type; arrays keep their element type.
// Integer arrays and float arrays are widened on read (int64 / double); string arrays are strings.
// (U64 array items keep their bit pattern in int64.) Unsigned scalars also fill `i` when the value
// fits in int64, signed scalars also fill `u` when non-negative.
struct Value {
  ValueType type = ValueType::U8;
  ValueType elem_type = ValueType::U8;  // only for ARRAY
  uint64_t u = 0;                       // unsigned integers and BOOL (0/1)
  int64_t i = 0;                        // signed integers
  double f = 0;                         // F32 / F64
  std::string s;                        // STRING
  std::vector<int64_t> ints;            // ARRAY of any integer type or BOOL
  std::vector<double> floats;           // ARRAY of F32 / F64
  std::vector<std::string> strings;     // ARRAY of STRING
  uint64_t array_size = 0;              // number of elements for ARRAY

  static Value U8(uint8_t v);
  static Value I8(int8_t v);
  static Value U16(uint16_t v);
  static Value I16(int16_t v);
  static Value U32(uint32_t v);
  static Value I32(int32_t v);
  static Value U64(uint64_t v);
  static Value I64(int64_t v);
  static Value F32(float v);
  static Value F64(double v);
  static Value Bool(bool v);
  static Value String(std::string v);
  static Value StringArray(std::vector<std::string> v);
  static Value IntArray(ValueType elem, std::vector<int64_t> v);   // elem: an integer type or BOOL
  static Value FloatArray(ValueType elem, std::vector<double> v);  // elem: F32 or F64

  bool is_integer() const;  // any integer width (not BOOL)
  // Human-readable rendering; arrays longer than `max_items` are summarised.
  std::string ToString(size_t max_items = 8) const;
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ggml order: ne[0] is contiguous; unused dims are 1
  uint64_t offset = 0;           // relative to the data section of its shard
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping
  int shard = 0;

  int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_bytes() const { return RowBytes(type, ne[0]); }
  std::string ShapeString() const;  // "{16, 32, 4}"
};

class File {
 public:
  // Opens and validates a GGUF file. For a split model (NAME-00001-of-0000N.gguf with split.*
  // keys) pass the first shard: the others are found beside it and their tensors joined.
  static Result<std::unique_ptr<File>> Open(const std::string& path);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  int shard_count() const { return int(maps_.size()); }
  uint64_t file_bytes() const;  // all shards

  // Metadata in file order (of the first shard).
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed getters. Integer getters accept any integer width (and reject negative values for
  // unsigned reads); float getters accept F32, F64 and integers. Errors name the key and the
  // type found. The *Or variants return `def` when the key is missing.
  Result<uint64_t> GetU64(std::string_view key) const;
  Result<int64_t> GetI64(std::string_view key) const;
  Result<double> GetF64(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<const std::vector<std::string>*> GetStringArray(std::string_view key) const;
  Result<const std::vector<int64_t>*> GetIntArray(std::string_view key) const;
  Result<const std::vector<double>*> GetFloatArray(std::string_view key) const;
  Result<uint64_t> GetU64Or(std::string_view key, uint64_t def) const;
  Result<double> GetF64Or(std::string_view key, double def) const;
  Result<bool> GetBoolOr(std::string_view key, bool def) const;
  Result<std::string> GetStringOr(std::string_view key, std::string def) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  File() = default;
  friend class Reader;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::unique_ptr<MappedFile>> maps_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;  // name -> index in tensors_
};

// Split file names as llama.cpp's gguf-split writes them: PREFIX-00001-of-00003.gguf (1-based).
std::string SplitPath(const std::string& prefix, int split_no, int split_count);
// Recognises a split file name: fills `prefix`, `split_no` (1-based) and `split_count`.
bool ParseSplitPath(const std::string& path, std::string* prefix, int* split_no, int* split_count);

// Parses a GGUF image held in memory (used by File::Open on each shard and by the fuzzer).
// `data` must stay alive as long as the returned infos' data pointers are used.
struct ParsedShard {
  uint32_t version = 0;
  uint64_t alignment = 32;
  std::vector<std::pair<std::string, Value>> kv;
  std::vector<TensorInfo> tensors;
  uint64_t data_offset = 0;  // start of the tensor data section
  // [begin, end) byte range of each metadata value's encoding (after its type id), parallel to
  // `kv`; used to edit a value in place.
  std::vector<std::pair<uint64_t, uint64_t>> kv_spans;
};
Result<ParsedShard> Parse(const uint8_t* data, size_t size);

struct WriterOptions {
  uint64_t alignment = 32;
  // Split output: start a new shard when the next tensor would push a shard's data past this
  // many bytes (0 = one file). Shards are named PREFIX-00001-of-0000N.gguf.
  uint64_t max_shard_bytes = 0;
};

// Streaming GGUF writer. Usage: Set metadata, AddTensor for every tensor (declares name, type,
// shape: offsets are known from that), then WriteTensor in declaration order as data is produced,
// then Finish. Tensor data is never held beyond one WriteTensor call.
class Writer {
 public:
  // `path` is the output file; with splitting it must end in .gguf and shard names derive from it.
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, WriterOptions options = {});
  ~Writer();

  void Set(const std::string& key, Value value);  // replaces an existing key, keeps order
  void Remove(const std::string& key);
  Status AddTensor(const std::string& name, DType type, int n_dims, const int64_t* ne);
  // Writes the next declared tensor (`name` must match it); `nbytes` must equal its size.
  Status WriteTensor(const std::string& name, const void* data, size_t nbytes);
  // Writes the next declared tensor in consecutive pieces (for tensors too large to hold at once):
  // the sizes must add up to its size; it is complete, and padded, when its last byte arrives.
  Status WriteTensorPart(const std::string& name, const void* data, size_t nbytes);
  Status Finish();
  // Paths actually written (one, or the shards), valid after Finish.
  const std::vector<std::string>& outputs() const;

 private:
  Writer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mla::gguf
