#include "base/dtype.h"

#include <cctype>
#include <cstdlib>

namespace mla {
namespace {

constexpr DTypeInfo kTypes[] = {
    {DType::F32, "f32", 1, 4},        {DType::F16, "f16", 1, 2},
    {DType::Q4_0, "q4_0", 32, 18},    {DType::Q4_1, "q4_1", 32, 20},
    {DType::Q5_0, "q5_0", 32, 22},    {DType::Q5_1, "q5_1", 32, 24},
    {DType::Q8_0, "q8_0", 32, 34},    {DType::Q8_1, "q8_1", 32, 36},
    {DType::Q2_K, "q2_K", 256, 84},   {DType::Q3_K, "q3_K", 256, 110},
    {DType::Q4_K, "q4_K", 256, 144},  {DType::Q5_K, "q5_K", 256, 176},
    {DType::Q6_K, "q6_K", 256, 210},  {DType::Q8_K, "q8_K", 256, 292},
    {DType::IQ4_NL, "iq4_nl", 32, 18}, {DType::IQ4_XS, "iq4_xs", 256, 136},
    {DType::BF16, "bf16", 1, 2},
};

}  // namespace

const DTypeInfo* FindDType(uint32_t id) {
  for (const auto& t : kTypes)
    if (uint32_t(t.type) == id) return &t;
  return nullptr;
}

const DTypeInfo& Info(DType type) {
  const DTypeInfo* info = FindDType(uint32_t(type));
  if (!info) std::abort();  // a DType value is only ever made from this table
  return *info;
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& t : kTypes) {
    std::string_view n = t.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i)
      same = std::tolower(uint8_t(n[i])) == std::tolower(uint8_t(name[i]));
    if (same) return t.type;
  }
  return std::nullopt;
}

const DTypeInfo* AllDTypes(size_t* count) {
  *count = sizeof(kTypes) / sizeof(kTypes[0]);
  return kTypes;
}

}  // namespace mla
