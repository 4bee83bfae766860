#include "gguf/edit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "gguf/encode.h"

namespace mla::gguf {
namespace {

struct TypeName {
  const char* name;
  ValueType type;
};
constexpr TypeName kTypes[] = {
    {"u8", ValueType::U8},   {"i8", ValueType::I8},   {"u16", ValueType::U16},
    {"i16", ValueType::I16}, {"u32", ValueType::U32}, {"i32", ValueType::I32},
    {"u64", ValueType::U64}, {"i64", ValueType::I64}, {"f32", ValueType::F32},
    {"f64", ValueType::F64}, {"bool", ValueType::BOOL}, {"str", ValueType::STRING},
};

Result<Value> ParseInteger(ValueType type, const std::string& text) {
  const bool is_signed = type == ValueType::I8 || type == ValueType::I16 ||
                         type == ValueType::I32 || type == ValueType::I64;
  const int bits = type == ValueType::U8 || type == ValueType::I8     ? 8
                   : type == ValueType::U16 || type == ValueType::I16 ? 16
                   : type == ValueType::U32 || type == ValueType::I32 ? 32
                                                                      : 64;
  const char* s = text.c_str();
  char* end = nullptr;
  // Decimal, or hex with 0x; never octal (a leading zero is just a zero).
  const size_t digits = text[0] == '-' || text[0] == '+' ? 1 : 0;
  const int base = text.compare(digits, 2, "0x") == 0 || text.compare(digits, 2, "0X") == 0 ? 16 : 10;
  errno = 0;
  if (text.empty() || std::isspace(uint8_t(text[0])))
    return Errorf("expected an integer for %s, found '%s'", ValueTypeName(type), s);
  if (is_signed) {
    const long long v = std::strtoll(s, &end, base);
    const long long lo = bits == 64 ? std::numeric_limits<long long>::min() : -(1LL << (bits - 1));
    const long long hi = bits == 64 ? std::numeric_limits<long long>::max() : (1LL << (bits - 1)) - 1;
    if (*end || errno == ERANGE || v < lo || v > hi)
      return Errorf("expected an integer in [%lld, %lld] for %s, found '%s'", lo, hi,
                    ValueTypeName(type), s);
    switch (type) {
      case ValueType::I8: return Value::I8(int8_t(v));
      case ValueType::I16: return Value::I16(int16_t(v));
      case ValueType::I32: return Value::I32(int32_t(v));
      default: return Value::I64(v);
    }
  }
  const unsigned long long hi =
      bits == 64 ? std::numeric_limits<unsigned long long>::max() : (1ULL << bits) - 1;
  const unsigned long long v = std::strtoull(s, &end, base);
  if (*end || errno == ERANGE || text[0] == '-' || v > hi)
    return Errorf("expected an integer in [0, %llu] for %s, found '%s'", hi, ValueTypeName(type), s);
  switch (type) {
    case ValueType::U8: return Value::U8(uint8_t(v));
    case ValueType::U16: return Value::U16(uint16_t(v));
    case ValueType::U32: return Value::U32(uint32_t(v));
    default: return Value::U64(v);
  }
}

}  // namespace

Result<std::pair<std::string, Value>> ParseAssignment(const std::string& text) {
  const size_t eq = text.find('=');
  const size_t colon = eq == std::string::npos ? std::string::npos : text.find(':', eq + 1);
  if (eq == std::string::npos || colon == std::string::npos || eq == 0)
    return Errorf("expected KEY=TYPE:VALUE (e.g. deepseek2.expert_group_count=u32:8), found '%s'",
                  text.c_str());
  const std::string key = text.substr(0, eq);
  const std::string type_name = text.substr(eq + 1, colon - eq - 1);
  const std::string value = text.substr(colon + 1);
  const TypeName* type = nullptr;
  for (const auto& t : kTypes)
    if (type_name == t.name) type = &t;
  if (!type)
    return Errorf("'%s': expected TYPE u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool or "
                  "str, found '%s'",
                  text.c_str(), type_name.c_str());
  Value v;
  switch (type->type) {
    case ValueType::STRING:
      v = Value::String(value);
      break;
    case ValueType::BOOL:
      if (value == "true" || value == "1") {
        v = Value::Bool(true);
      } else if (value == "false" || value == "0") {
        v = Value::Bool(false);
      } else {
        return Errorf("'%s': expected true, false, 1 or 0 for bool, found '%s'", text.c_str(),
                      value.c_str());
      }
      break;
    case ValueType::F32:
    case ValueType::F64: {
      char* end = nullptr;
      const double d = std::strtod(value.c_str(), &end);
      if (value.empty() || *end || std::isspace(uint8_t(value[0])))
        return Errorf("'%s': expected a number for %s, found '%s'", text.c_str(), type_name.c_str(),
                      value.c_str());
      v = type->type == ValueType::F32 ? Value::F32(float(d)) : Value::F64(d);
      break;
    }
    default: {
      auto r = ParseInteger(type->type, value);
      if (!r.ok()) return r.status().Wrap("'" + text + "'");
      v = std::move(r).value();
    }
  }
  return std::make_pair(key, std::move(v));
}

namespace {

// Overwrites each value's bytes; the caller checked that every encoding keeps its size.
Status WriteInPlace(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& patches) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errorf("cannot open '%s' for writing: %s", path.c_str(), std::strerror(errno));
  for (const auto& [offset, bytes] : patches) {
    if (::pwrite(fd, bytes.data(), bytes.size(), off_t(offset)) != ssize_t(bytes.size())) {
      const int err = errno;
      ::close(fd);
      return Errorf("writing '%s': %s", path.c_str(), std::strerror(err));
    }
  }
  if (::close(fd) != 0) return Errorf("closing '%s': %s", path.c_str(), std::strerror(errno));
  return Status::Ok();
}

Status Rewrite(const std::string& path, const ParsedShard& shard,
               const std::vector<std::pair<std::string, Value>>& edits) {
  uint64_t alignment = shard.alignment;
  for (const auto& [key, v] : edits) {
    if (key != "general.alignment") continue;
    if (!v.is_integer() || v.u == 0 || (v.u & (v.u - 1)) != 0 || v.u > (1u << 30))
      return Errorf("general.alignment: expected a power of two up to 2^30, found %s",
                    v.ToString().c_str());
    alignment = v.u;
  }
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  MLA_ASSIGN_OR_RETURN(auto w, Writer::Create(tmp, {.alignment = alignment}));
  for (const auto& [key, v] : shard.kv) w->Set(key, v);
  for (const auto& [key, v] : edits) w->Set(key, v);
  for (const auto& t : shard.tensors) MLA_RETURN_IF_ERROR(w->AddTensor(t.name, t.type, t.n_dims, t.ne));
  // Tensor bytes go from the mapping to the new file one tensor at a time.
  for (const auto& t : shard.tensors) MLA_RETURN_IF_ERROR(w->WriteTensor(t.name, t.data, t.nbytes));
  MLA_RETURN_IF_ERROR(w->Finish());
  std::error_code ec;
  std::filesystem::permissions(tmp, std::filesystem::status(path).permissions(), ec);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::filesystem::remove(tmp, ec);
    return Errorf("renaming '%s' to '%s': %s", tmp.c_str(), path.c_str(), std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace

Result<EditMode> SetMetadata(const std::string& path,
                             const std::vector<std::pair<std::string, Value>>& edits) {
  for (const auto& [key, v] : edits) {
    if (key.empty()) return Status::Error("metadata key: expected a non-empty key");
    if (v.type == ValueType::ARRAY)
      return Errorf("metadata '%s': only scalar values can be set, found an array", key.c_str());
  }
  MLA_ASSIGN_OR_RETURN(auto map, MappedFile::Open(path));
  auto parsed = Parse(map->data(), map->size());
  if (!parsed.ok()) return parsed.status().Wrap("reading '" + path + "'");
  const ParsedShard& shard = parsed.value();

  std::vector<std::pair<uint64_t, std::string>> patches;
  bool in_place = true;
  for (const auto& [key, v] : edits) {
    size_t k = 0;
    while (k < shard.kv.size() && shard.kv[k].first != key) ++k;
    if (k == shard.kv.size() || shard.kv[k].second.type != v.type || key == "general.alignment") {
      in_place = false;
      break;
    }
    std::string bytes;
    AppendValue(&bytes, v);
    const auto [begin, end] = shard.kv_spans[k];
    if (bytes.size() != end - begin) {
      in_place = false;
      break;
    }
    patches.emplace_back(begin, std::move(bytes));
  }
  if (in_place) {
    map.reset();  // unmap before writing
    MLA_RETURN_IF_ERROR(WriteInPlace(path, patches));
    return EditMode::kInPlace;
  }
  MLA_RETURN_IF_ERROR(Rewrite(path, shard, edits));
  return EditMode::kRewritten;
}

}  // namespace mla::gguf
