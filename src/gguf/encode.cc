#include "gguf/encode.h"

#include <cstdint>

namespace mla::gguf {
namespace {

void AppendScalarInt(std::string* out, ValueType t, int64_t i, uint64_t u) {
  switch (t) {
    case ValueType::U8: AppendPod(out, uint8_t(u)); break;
    case ValueType::I8: AppendPod(out, int8_t(i)); break;
    case ValueType::U16: AppendPod(out, uint16_t(u)); break;
    case ValueType::I16: AppendPod(out, int16_t(i)); break;
    case ValueType::U32: AppendPod(out, uint32_t(u)); break;
    case ValueType::I32: AppendPod(out, int32_t(i)); break;
    case ValueType::U64: AppendPod(out, uint64_t(u)); break;
    case ValueType::I64: AppendPod(out, int64_t(i)); break;
    case ValueType::BOOL: AppendPod(out, uint8_t(u ? 1 : 0)); break;
    default: break;
  }
}

}  // namespace

void AppendString(std::string* out, const std::string& s) {
  AppendPod(out, uint64_t(s.size()));
  out->append(s);
}

void AppendValue(std::string* out, const Value& v) {
  switch (v.type) {
    case ValueType::F32: AppendPod(out, float(v.f)); return;
    case ValueType::F64: AppendPod(out, double(v.f)); return;
    case ValueType::STRING: AppendString(out, v.s); return;
    case ValueType::ARRAY: break;
    default: AppendScalarInt(out, v.type, v.i, v.u); return;
  }
  AppendPod(out, uint32_t(v.elem_type));
  if (v.elem_type == ValueType::STRING) {
    AppendPod(out, uint64_t(v.strings.size()));
    for (const auto& s : v.strings) AppendString(out, s);
  } else if (v.elem_type == ValueType::F32 || v.elem_type == ValueType::F64) {
    AppendPod(out, uint64_t(v.floats.size()));
    for (double f : v.floats) {
      if (v.elem_type == ValueType::F32) AppendPod(out, float(f)); else AppendPod(out, f);
    }
  } else {
    // Integer items are held widened in int64 (U64 as its bit pattern): narrow back.
    AppendPod(out, uint64_t(v.ints.size()));
    for (int64_t x : v.ints) AppendScalarInt(out, v.elem_type, x, uint64_t(x));
  }
}

void AppendKv(std::string* out, const std::string& key, const Value& v) {
  AppendString(out, key);
  AppendPod(out, uint32_t(v.type));
  AppendValue(out, v);
}

}  // namespace mla::gguf
