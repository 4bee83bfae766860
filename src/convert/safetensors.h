// Hugging Face safetensors checkpoints, memory-mapped: one file, or a sharded set found through
// model.safetensors.index.json (or every *.safetensors of the folder when there is no index).
//
// Format: u64 (little-endian) header length N, N bytes of JSON
// {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...},
// then the data section; offsets are relative to its start. Everything is validated before use:
// JSON syntax, dtypes, that each byte range lies inside the file and matches its shape, and that
// no two tensors share bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"

namespace mla::convert {

enum class StDType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };

const char* StDTypeName(StDType t);  // as written in the header: "F32", "F8_E4M3", ...
size_t StDTypeSize(StDType t);

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // row-major (PyTorch order): shape.back() is contiguous
  const uint8_t* data = nullptr;  // into the mapping; not necessarily aligned
  uint64_t nbytes = 0;
  int shard = 0;  // index into Checkpoint::shard_paths()

  int64_t numel() const;
  std::string ShapeString() const;  // "[2048, 64]"
};

// One .safetensors file.
class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path, int shard_index = 0);
  // Parses a header + data image held in memory (used by Open and by tests).
  static Result<std::vector<StTensor>> ParseImage(const uint8_t* data, size_t size, int shard_index);

  const std::string& path() const { return map_->path(); }
  // Tensors sorted by name (byte order), as safetensors' own readers list them.
  const std::vector<StTensor>& tensors() const { return tensors_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> map_;
  std::vector<StTensor> tensors_;
};

// All shards of a checkpoint folder.
class Checkpoint {
 public:
  // With model.safetensors.index.json: its weight_map names the shards; every shard it names must
  // exist and hold exactly the tensors the index assigns to it. Without: every *.safetensors.
  static Result<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  const std::vector<std::string>& shard_paths() const { return shard_paths_; }
  // Shard by shard in file-name order, by name within a shard (the order conversions follow).
  const std::vector<const StTensor*>& ordered() const { return ordered_; }
  const StTensor* Find(std::string_view name) const;
  uint64_t total_bytes() const;

 private:
  Checkpoint() = default;
  std::vector<std::string> shard_paths_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<const StTensor*> ordered_;
  std::map<std::string, const StTensor*, std::less<>> by_name_;
};

}  // namespace mla::convert
