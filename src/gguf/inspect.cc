#include "gguf/inspect.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace mla::gguf {
namespace {

struct Total {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

std::map<std::string, Total> Totals(const File& file) {
  std::map<std::string, Total> out;
  for (const auto& t : file.tensors()) {
    Total& x = out[Name(t.type)];
    x.count++;
    x.bytes += t.nbytes;
  }
  return out;
}

std::string Line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Line(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf) + "\n";
}

std::string TypeString(const Value& v) {
  if (v.type != ValueType::ARRAY) return ValueTypeName(v.type);
  return std::string(ValueTypeName(v.elem_type)) + "[]";
}

nlohmann::ordered_json JsonValue(const Value& v, size_t max_items) {
  switch (v.type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
      return v.u;
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
      return v.i;
    case ValueType::F32: case ValueType::F64:
      return v.f;  // NaN/inf become null in the output
    case ValueType::BOOL:
      return v.u != 0;
    case ValueType::STRING:
      return v.s;
    case ValueType::ARRAY:
      break;
  }
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  const size_t n = std::min<size_t>(max_items, size_t(v.array_size));
  for (size_t k = 0; k < n; ++k) {
    if (v.elem_type == ValueType::STRING) items.push_back(v.strings[k]);
    else if (v.elem_type == ValueType::F32 || v.elem_type == ValueType::F64) items.push_back(v.floats[k]);
    else if (v.elem_type == ValueType::BOOL) items.push_back(v.ints[k] != 0);
    else if (v.elem_type == ValueType::U64) items.push_back(uint64_t(v.ints[k]));
    else items.push_back(v.ints[k]);
  }
  return items;
}

}  // namespace

std::string InfoText(const File& file, const LayoutLine& layout, size_t max_items) {
  std::string out;
  out += Line("file: %s", file.path().c_str());
  out += Line("GGUF v%u, alignment %" PRIu64 ", %d shard%s, %" PRIu64 " bytes", file.version(),
              file.alignment(), file.shard_count(), file.shard_count() == 1 ? "" : "s",
              file.file_bytes());
  out += Line("metadata: %zu keys", file.metadata().size());
  size_t width = 0;
  for (const auto& [key, v] : file.metadata()) width = std::max(width, key.size());
  for (const auto& [key, v] : file.metadata()) {
    const std::string text = v.ToString(max_items);
    // Long strings (chat templates) are cut on one line; the JSON form carries the whole value.
    const std::string shown = text.size() > 160 ? text.substr(0, 157) + "..." : text;
    out += Line("  %-*s %-9s %s", int(width), key.c_str(), TypeString(v).c_str(), shown.c_str());
  }
  out += Line("tensors: %zu", file.tensors().size());
  if (!file.tensors().empty()) {
    size_t name_width = 4;
    for (const auto& t : file.tensors()) name_width = std::max(name_width, t.name.size());
    const bool split = file.shard_count() > 1;
    out += Line("  %-*s %-7s %-22s %12s %12s%s", int(name_width), "name", "type", "shape (ggml)",
                "bytes", "offset", split ? "  shard" : "");
    for (const auto& t : file.tensors()) {
      std::string line = Line("  %-*s %-7s %-22s %12" PRIu64 " %12" PRIu64, int(name_width),
                              t.name.c_str(), Name(t.type), t.ShapeString().c_str(), t.nbytes,
                              t.offset);
      if (split) line.insert(line.size() - 1, "  " + std::to_string(t.shard + 1));
      out += line;
    }
  }
  out += "totals per type:\n";
  uint64_t all_count = 0, all_bytes = 0;
  for (const auto& [name, total] : Totals(file)) {
    out += Line("  %-7s %6" PRIu64 " tensors %14" PRIu64 " bytes", name.c_str(), total.count,
                total.bytes);
    all_count += total.count;
    all_bytes += total.bytes;
  }
  out += Line("  %-7s %6" PRIu64 " tensors %14" PRIu64 " bytes", "all", all_count, all_bytes);
  if (layout.known) out += "layout: " + layout.name + "\n";
  else out += "layout: n/a (" + layout.reason + ")\n";
  return out;
}

std::string InfoJson(const File& file, const LayoutLine& layout, size_t max_items) {
  using json = nlohmann::ordered_json;  // keys in the order written
  json j;
  j["path"] = file.path();
  j["version"] = file.version();
  j["alignment"] = file.alignment();
  j["shards"] = file.shard_count();
  j["file_bytes"] = file.file_bytes();
  json meta = json::array();
  for (const auto& [key, v] : file.metadata()) {
    json m = {{"key", key}, {"type", ValueTypeName(v.type)}};
    if (v.type == ValueType::ARRAY) {
      m["elem_type"] = ValueTypeName(v.elem_type);
      m["count"] = v.array_size;
      m["items"] = JsonValue(v, max_items);  // the first max_items items
    } else {
      m["value"] = JsonValue(v, max_items);
    }
    meta.push_back(std::move(m));
  }
  j["metadata"] = std::move(meta);
  json tensors = json::array();
  for (const auto& t : file.tensors()) {
    json shape = json::array();
    for (int d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
    tensors.push_back({{"name", t.name}, {"type", Name(t.type)}, {"shape", std::move(shape)},
                       {"bytes", t.nbytes}, {"offset", t.offset}, {"shard", t.shard}});
  }
  j["tensors"] = std::move(tensors);
  json totals = json::object();
  for (const auto& [name, total] : Totals(file))
    totals[name] = {{"count", total.count}, {"bytes", total.bytes}};
  j["totals"] = std::move(totals);
  if (layout.known) {
    j["layout"] = layout.name;
  } else {
    j["layout"] = nullptr;
    j["layout_reason"] = layout.reason;
  }
  // Metadata strings are not guaranteed to be UTF-8: replace bad bytes instead of throwing.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace mla::gguf
