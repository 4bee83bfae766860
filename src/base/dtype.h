// The ggml tensor types: one table of ids, names and block geometry (spec §9).
// The quant layer adds the conversion functions for each type; everything else asks this table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mla {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  IQ4_XS = 23,
  BF16 = 30,
};

struct DTypeInfo {
  DType type;
  const char* name;      // as llama.cpp prints it: "q4_K", "f16", ...
  int64_t block_elems;   // elements per block (1 for float types)
  size_t block_bytes;    // bytes per block
};

// nullptr when `id` is not a type this engine knows.
const DTypeInfo* FindDType(uint32_t id);
const DTypeInfo& Info(DType type);
inline const char* Name(DType type) { return Info(type).name; }
// Case-insensitive lookup by name ("Q4_K", "q8_0", "bf16").
std::optional<DType> DTypeFromName(std::string_view name);
// Bytes of `n` consecutive elements; `n` must be a multiple of the block size.
inline size_t RowBytes(DType type, int64_t n) {
  const DTypeInfo& i = Info(type);
  return size_t(n / i.block_elems) * i.block_bytes;
}
// All known types in id order (for listings and tests).
const DTypeInfo* AllDTypes(size_t* count);

}  // namespace mla
