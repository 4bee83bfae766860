// Metadata values: constructors and the human-readable rendering used by `mla-gguf info`.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>

#include "gguf/gguf.h"

namespace mla::gguf {

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

namespace {

// Unsigned scalars also fill `i` when the value fits, signed ones fill `u` when non-negative, so a
// reader that only wants "some integer" can look at either field.
Value Unsigned(ValueType t, uint64_t v) {
  Value out;
  out.type = t;
  out.u = v;
  out.i = v <= uint64_t(std::numeric_limits<int64_t>::max()) ? int64_t(v) : 0;
  return out;
}

Value Signed(ValueType t, int64_t v) {
  Value out;
  out.type = t;
  out.i = v;
  out.u = v >= 0 ? uint64_t(v) : 0;
  return out;
}

Value Float(ValueType t, double v) {
  Value out;
  out.type = t;
  out.f = v;
  return out;
}

bool IsIntegerType(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

bool IsUnsignedType(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}

// JSON-like quoting so control bytes and quotes in token strings stay readable on one line.
std::string Quote(const std::string& s, size_t max_len = 200) {
  std::string out = "\"";
  size_t n = 0;
  for (char c : s) {
    if (n++ >= max_len) {
      out += "...";
      break;
    }
    const uint8_t b = uint8_t(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (b < 0x20 || b == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FloatString(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

Value Value::U8(uint8_t v) { return Unsigned(ValueType::U8, v); }
Value Value::I8(int8_t v) { return Signed(ValueType::I8, v); }
Value Value::U16(uint16_t v) { return Unsigned(ValueType::U16, v); }
Value Value::I16(int16_t v) { return Signed(ValueType::I16, v); }
Value Value::U32(uint32_t v) { return Unsigned(ValueType::U32, v); }
Value Value::I32(int32_t v) { return Signed(ValueType::I32, v); }
Value Value::U64(uint64_t v) { return Unsigned(ValueType::U64, v); }
Value Value::I64(int64_t v) { return Signed(ValueType::I64, v); }
Value Value::F32(float v) { return Float(ValueType::F32, v); }
Value Value::F64(double v) { return Float(ValueType::F64, v); }

Value Value::Bool(bool v) {
  Value out;
  out.type = ValueType::BOOL;
  out.u = v ? 1 : 0;
  out.i = out.u;
  return out;
}

Value Value::String(std::string v) {
  Value out;
  out.type = ValueType::STRING;
  out.s = std::move(v);
  return out;
}

Value Value::StringArray(std::vector<std::string> v) {
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = ValueType::STRING;
  out.array_size = v.size();
  out.strings = std::move(v);
  return out;
}

Value Value::IntArray(ValueType elem, std::vector<int64_t> v) {
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = elem;
  out.array_size = v.size();
  out.ints = std::move(v);
  return out;
}

Value Value::FloatArray(ValueType elem, std::vector<double> v) {
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = elem;
  out.array_size = v.size();
  out.floats = std::move(v);
  return out;
}

bool Value::is_integer() const { return IsIntegerType(type); }

std::string Value::ToString(size_t max_items) const {
  switch (type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
      return std::to_string(u);
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
      return std::to_string(i);
    case ValueType::F32: case ValueType::F64:
      return FloatString(f);
    case ValueType::BOOL:
      return u ? "true" : "false";
    case ValueType::STRING:
      return Quote(s);
    case ValueType::ARRAY:
      break;
  }
  // Arrays: the first `max_items` items, then a count such as "... 102400 strings".
  std::string out = "[";
  const size_t shown = array_size > max_items ? max_items : size_t(array_size);
  for (size_t k = 0; k < shown; ++k) {
    if (k) out += ", ";
    if (elem_type == ValueType::STRING) {
      out += Quote(strings[k], 40);
    } else if (elem_type == ValueType::F32 || elem_type == ValueType::F64) {
      out += FloatString(floats[k]);
    } else if (elem_type == ValueType::BOOL) {
      out += ints[k] ? "true" : "false";
    } else if (IsUnsignedType(elem_type) && elem_type == ValueType::U64) {
      out += std::to_string(uint64_t(ints[k]));
    } else {
      out += std::to_string(ints[k]);
    }
  }
  if (shown < array_size) {
    if (shown) out += ", ";
    out += "... " + std::to_string(array_size) + " " +
           (elem_type == ValueType::STRING ? std::string("strings") : ValueTypeName(elem_type));
  }
  return out + "]";
}

std::string TensorInfo::ShapeString() const {
  std::string out = "{";
  for (int d = 0; d < n_dims; ++d) {
    if (d) out += ", ";
    out += std::to_string(ne[d]);
  }
  return out + "}";
}

}  // namespace mla::gguf
