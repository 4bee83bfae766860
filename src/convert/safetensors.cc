// safetensors reader: header validation and the shard set of a checkpoint folder.
#include "convert/safetensors.h"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace mla::convert {

namespace {

using nlohmann::json;

// safetensors' own limit on the header (it refuses larger ones as a denial-of-service guard).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr size_t kMaxRank = 8;

struct DTypeRow {
  StDType type;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {StDType::F64, "F64", 8},         {StDType::F32, "F32", 4},
    {StDType::F16, "F16", 2},         {StDType::BF16, "BF16", 2},
    {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E5M2, "F8_E5M2", 1},
    {StDType::I64, "I64", 8},         {StDType::I32, "I32", 4},
    {StDType::I16, "I16", 2},         {StDType::I8, "I8", 1},
    {StDType::U8, "U8", 1},           {StDType::BOOL, "BOOL", 1},
};

const DTypeRow* FindDTypeByName(const std::string& name) {
  for (const auto& r : kDTypes)
    if (name == r.name) return &r;
  return nullptr;
}

Result<int64_t> NonNegativeInt(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) return Errorf("%s: %" PRIu64 " is too large", what.c_str(), u);
    return int64_t(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return Errorf("%s: expected a non-negative integer, found %" PRId64, what.c_str(), i);
    return i;
  }
  return Errorf("%s: expected a non-negative integer, found %s", what.c_str(), v.dump().c_str());
}

std::string ReadText(const std::string& path, Status* status) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *status = Errorf("cannot read '%s'", path.c_str());
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const char* StDTypeName(StDType t) {
  for (const auto& r : kDTypes)
    if (r.type == t) return r.name;
  return "?";
}

size_t StDTypeSize(StDType t) {
  for (const auto& r : kDTypes)
    if (r.type == t) return r.size;
  return 0;
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string StTensor::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Result<std::vector<StTensor>> SafetensorsFile::ParseImage(const uint8_t* data, size_t size,
                                                          int shard_index) {
  if (size < 8) return Errorf("file is %zu bytes, too short for the 8-byte header length", size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | data[i];
  if (header_len > kMaxHeaderBytes)
    return Errorf("header length %" PRIu64 " exceeds the %" PRIu64 "-byte limit", header_len,
                  kMaxHeaderBytes);
  if (header_len > size - 8)
    return Errorf("header length %" PRIu64 " exceeds the %zu bytes after the length field",
                  header_len, size - 8);
  const uint8_t* data_start = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  // Duplicate names are invalid in safetensors, but a JSON object keeps only the last one:
  // watch the top-level keys while parsing.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(data + 8, data + 8 + header_len, watch);
  } catch (const json::exception& e) {
    return Errorf("header is not valid JSON: %s", e.what());
  }
  if (!duplicate.empty()) return Errorf("header names tensor '%s' twice", duplicate.c_str());
  if (!header.is_object()) return Errorf("header: expected a JSON object, found %s", header.type_name());

  std::vector<StTensor> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) return Errorf("__metadata__: expected an object, found %s", e.type_name());
      continue;
    }
    if (!e.is_object()) return Errorf("tensor '%s': expected an object, found %s", name.c_str(), e.type_name());
    if (!e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      return Errorf("tensor '%s': expected keys dtype, shape and data_offsets, found %s",
                    name.c_str(), e.dump().c_str());
    StTensor t;
    t.name = name;
    t.shard = shard_index;
    if (!e["dtype"].is_string())
      return Errorf("tensor '%s': dtype must be a string, found %s", name.c_str(), e["dtype"].dump().c_str());
    const DTypeRow* dt = FindDTypeByName(e["dtype"].get<std::string>());
    if (!dt) return Errorf("tensor '%s': unknown dtype %s", name.c_str(), e["dtype"].dump().c_str());
    t.dtype = dt->type;
    const json& shape = e["shape"];
    if (!shape.is_array() || shape.size() > kMaxRank)
      return Errorf("tensor '%s': shape must be an array of at most %zu dimensions, found %s",
                    name.c_str(), kMaxRank, shape.dump().c_str());
    uint64_t numel = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      MLA_ASSIGN_OR_RETURN(int64_t dim, NonNegativeInt(shape[d], "tensor '" + name + "' shape"));
      if (dim != 0 && numel > (uint64_t(1) << 62) / uint64_t(dim))
        return Errorf("tensor '%s': shape %s is too large", name.c_str(), shape.dump().c_str());
      numel *= uint64_t(dim);
      t.shape.push_back(dim);
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2)
      return Errorf("tensor '%s': data_offsets must be [begin, end], found %s", name.c_str(),
                    off.dump().c_str());
    MLA_ASSIGN_OR_RETURN(int64_t begin, NonNegativeInt(off[0], "tensor '" + name + "' data_offsets"));
    MLA_ASSIGN_OR_RETURN(int64_t end, NonNegativeInt(off[1], "tensor '" + name + "' data_offsets"));
    if (end < begin || uint64_t(end) > data_size)
      return Errorf("tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                    "] do not lie inside the %" PRIu64 "-byte data section",
                    name.c_str(), begin, end, data_size);
    const uint64_t expect = numel * dt->size;
    if (uint64_t(end - begin) != expect)
      return Errorf("tensor '%s': shape %s of %s needs %" PRIu64 " bytes, data_offsets give %" PRId64,
                    name.c_str(), t.ShapeString().c_str(), dt->name, expect, end - begin);
    t.data = data_start + begin;
    t.nbytes = expect;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const StTensor& a, const StTensor& b) { return a.data < b.data; });
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i - 1].data + out[i - 1].nbytes > out[i].data)
      return Errorf("tensors '%s' and '%s' overlap in the data section", out[i - 1].name.c_str(),
                    out[i].name.c_str());
  std::sort(out.begin(), out.end(), [](const StTensor& a, const StTensor& b) { return a.name < b.name; });
  return out;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path, int shard_index) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  MLA_ASSIGN_OR_RETURN(f->map_, MappedFile::Open(path));
  auto parsed = ParseImage(f->map_->data(), f->map_->size(), shard_index);
  if (!parsed.ok()) return parsed.status().Wrap("reading '" + path + "'");
  f->tensors_ = std::move(parsed).value();
  return f;
}

const StTensor* Checkpoint::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const StTensor* t : ordered_) n += t->nbytes;
  return n;
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Errorf("'%s' is not a folder", dir.c_str());
  std::unique_ptr<Checkpoint> ck(new Checkpoint());

  // index: tensor name -> shard file name
  std::map<std::string, std::string> index;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  std::vector<std::string> names;
  if (fs::exists(index_path, ec)) {
    Status st;
    const std::string text = ReadText(index_path.string(), &st);
    MLA_RETURN_IF_ERROR(st);
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      return Errorf("'%s' is not valid JSON: %s", index_path.c_str(), e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return Errorf("'%s': expected an object with a \"weight_map\" object", index_path.c_str());
    std::set<std::string> files;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        return Errorf("'%s': weight_map[\"%s\"] must be a file name, found %s", index_path.c_str(),
                      it.key().c_str(), it.value().dump().c_str());
      const std::string file = it.value().get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
        return Errorf("'%s': weight_map[\"%s\"] = \"%s\" is not a file name in the folder",
                      index_path.c_str(), it.key().c_str(), file.c_str());
      index[it.key()] = file;
      files.insert(file);
    }
    for (const std::string& f : files) {
      if (!fs::exists(fs::path(dir) / f, ec))
        return Errorf("missing shard '%s' (listed in model.safetensors.index.json) in '%s'",
                      f.c_str(), dir.c_str());
      names.push_back(f);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string n = entry.path().filename().string();
      if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) names.push_back(n);
    }
    if (ec) return Errorf("cannot list '%s': %s", dir.c_str(), ec.message().c_str());
  }
  if (names.empty()) return Errorf("no .safetensors files in '%s'", dir.c_str());
  std::sort(names.begin(), names.end());

  for (size_t s = 0; s < names.size(); ++s) {
    const std::string path = (fs::path(dir) / names[s]).string();
    MLA_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path, int(s)));
    ck->shard_paths_.push_back(path);
    ck->files_.push_back(std::move(file));
  }
  for (size_t s = 0; s < ck->files_.size(); ++s) {
    for (const StTensor& t : ck->files_[s]->tensors()) {
      if (!index.empty()) {
        auto it = index.find(t.name);
        if (it == index.end() || it->second != names[s])
          return Errorf("tensor '%s' is in shard '%s' but model.safetensors.index.json %s",
                        t.name.c_str(), names[s].c_str(),
                        it == index.end() ? "does not list it" : ("places it in '" + it->second + "'").c_str());
      }
      if (!ck->by_name_.emplace(t.name, &t).second)
        return Errorf("tensor '%s' appears in more than one shard (second: '%s')", t.name.c_str(),
                      names[s].c_str());
      ck->ordered_.push_back(&t);
    }
  }
  for (const auto& [name, file] : index)
    if (!ck->by_name_.count(name))
      return Errorf("tensor '%s' is listed in model.safetensors.index.json for shard '%s' but the "
                    "shard does not contain it",
                    name.c_str(), file.c_str());
  return ck;
}

}  // namespace mla::convert
