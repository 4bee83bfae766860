// gguf::File: opens one GGUF file or a split set (through its first shard), and the typed
// metadata getters every other layer reads the model configuration with.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "gguf/gguf.h"

namespace mla::gguf {

std::string SplitPath(const std::string& prefix, int split_no, int split_count) {
  char tail[64];
  std::snprintf(tail, sizeof tail, "-%05d-of-%05d.gguf", split_no, split_count);
  return prefix + tail;
}

bool ParseSplitPath(const std::string& path, std::string* prefix, int* split_no,
                    int* split_count) {
  // "-NNNNN-of-MMMMM.gguf" is 20 characters.
  static constexpr size_t kTail = 20;
  if (path.size() <= kTail) return false;
  const char* t = path.c_str() + path.size() - kTail;
  auto digits = [](const char* p, int* v) {
    *v = 0;
    for (int k = 0; k < 5; ++k) {
      if (p[k] < '0' || p[k] > '9') return false;
      *v = *v * 10 + (p[k] - '0');
    }
    return true;
  };
  if (t[0] != '-' || std::memcmp(t + 6, "-of-", 4) != 0 || std::strcmp(t + 15, ".gguf") != 0)
    return false;
  if (!digits(t + 1, split_no) || !digits(t + 10, split_count)) return false;
  prefix->assign(path, 0, path.size() - kTail);
  return true;
}

namespace {

const Value* FindIn(const std::vector<std::pair<std::string, Value>>& kv, std::string_view key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

// Reads an optional non-negative integer key of a shard; -1 when absent.
Result<int64_t> SplitKey(const ParsedShard& shard, const char* key) {
  const Value* v = FindIn(shard.kv, key);
  if (!v) return int64_t(-1);
  if (!v->is_integer()) return Errorf("%s: expected an integer, found %s", key, ValueTypeName(v->type));
  if (v->i < 0 || v->u > uint64_t(std::numeric_limits<int32_t>::max()))
    return Errorf("%s: expected a non-negative 32-bit count, found %s", key, v->ToString().c_str());
  return v->i;
}

}  // namespace

Result<std::unique_ptr<File>> File::Open(const std::string& path) {
  std::unique_ptr<File> file(new File());
  file->path_ = path;

  auto open_shard = [&](const std::string& p, ParsedShard* shard) -> Status {
    MLA_ASSIGN_OR_RETURN(auto map, MappedFile::Open(p));
    auto parsed = Parse(map->data(), map->size());
    if (!parsed.ok()) return parsed.status().Wrap("reading '" + p + "'");
    *shard = std::move(parsed).value();
    file->maps_.push_back(std::move(map));
    return Status::Ok();
  };

  ParsedShard first;
  MLA_RETURN_IF_ERROR(open_shard(path, &first));
  auto count = SplitKey(first, "split.count");
  auto no = SplitKey(first, "split.no");
  auto total = SplitKey(first, "split.tensors.count");
  for (const auto* r : {&count, &no, &total})
    if (!r->ok()) return r->status().Wrap("reading '" + path + "'");
  const int64_t split_count = *count < 0 ? 1 : *count;
  if (split_count > 1 && *no != 0)
    return Errorf("'%s' is shard %" PRId64 " of %" PRId64
                  " of a split model: expected the first shard (NAME-00001-of-%05" PRId64 ".gguf)",
                  path.c_str(), *no + 1, split_count, split_count);

  std::vector<ParsedShard> shards;
  shards.push_back(std::move(first));
  if (split_count > 1) {
    std::string prefix;
    int name_no = 0, name_count = 0;
    if (!ParseSplitPath(path, &prefix, &name_no, &name_count) || name_no != 1 ||
        name_count != split_count)
      return Errorf("'%s' has split.count %" PRId64 ": expected its name to end in "
                    "-00001-of-%05" PRId64 ".gguf so the other shards can be found",
                    path.c_str(), split_count, split_count);
    for (int64_t k = 1; k < split_count; ++k) {
      const std::string shard_path = SplitPath(prefix, int(k + 1), int(split_count));
      ParsedShard shard;
      MLA_RETURN_IF_ERROR(open_shard(shard_path, &shard));
      auto s_no = SplitKey(shard, "split.no");
      auto s_count = SplitKey(shard, "split.count");
      if (!s_no.ok()) return s_no.status().Wrap("reading '" + shard_path + "'");
      if (!s_count.ok()) return s_count.status().Wrap("reading '" + shard_path + "'");
      if (*s_no != k || *s_count != split_count)
        return Errorf("'%s': expected split.no %" PRId64 " and split.count %" PRId64
                      ", found %" PRId64 " and %" PRId64,
                      shard_path.c_str(), k, split_count, *s_no, *s_count);
      shards.push_back(std::move(shard));
    }
  }

  file->version_ = shards[0].version;
  file->alignment_ = shards[0].alignment;
  file->kv_ = std::move(shards[0].kv);
  for (size_t s = 0; s < shards.size(); ++s) {
    for (auto& t : shards[s].tensors) {
      t.shard = int(s);
      file->tensors_.push_back(std::move(t));
    }
  }
  if (*total >= 0 && split_count > 1 && uint64_t(*total) != file->tensors_.size())
    return Errorf("'%s': split.tensors.count is %" PRId64 " but the %" PRId64
                  " shards hold %zu tensors",
                  path.c_str(), *total, split_count, file->tensors_.size());
  for (size_t k = 0; k < file->tensors_.size(); ++k) {
    if (!file->tensor_index_.emplace(file->tensors_[k].name, k).second)
      return Errorf("'%s': tensor '%s' appears in more than one shard", path.c_str(),
                    file->tensors_[k].name.c_str());
  }
  return file;
}

uint64_t File::file_bytes() const {
  uint64_t n = 0;
  for (const auto& m : maps_) n += m->size();
  return n;
}

const Value* File::Find(std::string_view key) const { return FindIn(kv_, key); }

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status Missing(std::string_view key) {
  return Errorf("metadata key '%.*s' not found", int(key.size()), key.data());
}

Status WrongType(std::string_view key, const char* expected, const Value& v) {
  std::string found = ValueTypeName(v.type);
  if (v.type == ValueType::ARRAY) found += std::string(" of ") + ValueTypeName(v.elem_type);
  return Errorf("metadata key '%.*s': expected %s, found %s", int(key.size()), key.data(), expected,
                found.c_str());
}

bool IsUnsigned(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}

bool IsFloatType(ValueType t) { return t == ValueType::F32 || t == ValueType::F64; }

}  // namespace

Result<uint64_t> File::GetU64(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!v->is_integer()) return WrongType(key, "an unsigned integer", *v);
  if (IsUnsigned(v->type)) return v->u;
  if (v->i < 0)
    return Errorf("metadata key '%.*s': expected a non-negative integer, found %" PRId64,
                  int(key.size()), key.data(), v->i);
  return uint64_t(v->i);
}

Result<int64_t> File::GetI64(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (!v->is_integer()) return WrongType(key, "an integer", *v);
  if (IsUnsigned(v->type)) {
    if (v->u > uint64_t(std::numeric_limits<int64_t>::max()))
      return Errorf("metadata key '%.*s': expected a value that fits int64, found %" PRIu64,
                    int(key.size()), key.data(), v->u);
    return int64_t(v->u);
  }
  return v->i;
}

Result<double> File::GetF64(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (IsFloatType(v->type)) return v->f;
  if (v->is_integer()) return IsUnsigned(v->type) ? double(v->u) : double(v->i);
  return WrongType(key, "a number", *v);
}

Result<bool> File::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::BOOL) return WrongType(key, "bool", *v);
  return v->u != 0;
}

Result<std::string> File::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::STRING) return WrongType(key, "string", *v);
  return v->s;
}

Result<const std::vector<std::string>*> File::GetStringArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING)
    return WrongType(key, "array of string", *v);
  return &v->strings;
}

Result<const std::vector<int64_t>*> File::GetIntArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::ARRAY || IsFloatType(v->elem_type) ||
      v->elem_type == ValueType::STRING)
    return WrongType(key, "array of integers", *v);
  return &v->ints;
}

Result<const std::vector<double>*> File::GetFloatArray(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return Missing(key);
  if (v->type != ValueType::ARRAY || !IsFloatType(v->elem_type))
    return WrongType(key, "array of f32 or f64", *v);
  return &v->floats;
}

Result<uint64_t> File::GetU64Or(std::string_view key, uint64_t def) const {
  return Has(key) ? GetU64(key) : Result<uint64_t>(def);
}

Result<double> File::GetF64Or(std::string_view key, double def) const {
  return Has(key) ? GetF64(key) : Result<double>(def);
}

Result<bool> File::GetBoolOr(std::string_view key, bool def) const {
  return Has(key) ? GetBool(key) : Result<bool>(def);
}

Result<std::string> File::GetStringOr(std::string_view key, std::string def) const {
  return Has(key) ? GetString(key) : Result<std::string>(std::move(def));
}

}  // namespace mla::gguf
