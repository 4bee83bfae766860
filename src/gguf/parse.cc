// GGUF parser over a memory image. Layout (little-endian, v2/v3):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count × { string key, u32 value_type, value },
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   padding to general.alignment, tensor data (offsets relative to here, each aligned).
// A string is u64 length + bytes; an array is u32 element type + u64 count + elements.
//
// Every length and count is checked against the bytes that remain before anything is reserved
// or read, so a corrupt header can neither read out of bounds nor allocate more memory than the
// file itself could describe.
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "gguf/gguf.h"

namespace mla::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;              // ggml tensors have at most 4 dimensions
constexpr uint64_t kMaxAlignment = 1u << 30;  // anything larger is certainly corrupt
// Smallest encodings, used to bound counts by the bytes left: a kv is a key length (8), at least
// one key byte, a type id (4) and at least one value byte; a tensor info is a name length (8),
// one name byte, n_dims (4), one dim (8), a type (4) and an offset (8).
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

size_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;  // STRING and ARRAY have variable size
  }
}

bool KnownValueType(uint32_t id) { return id <= uint32_t(ValueType::F64); }

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  // Reads `n` raw bytes; `what` names the field for the error message.
  Status Take(size_t n, const std::string& what, const uint8_t** out) {
    if (n > left())
      return Errorf("truncated file: expected %zu bytes for %s at offset %zu, found %zu", n,
                    what.c_str(), pos_, left());
    *out = data_ + pos_;
    pos_ += n;
    return Status::Ok();
  }

  template <typename T>
  Status Read(const std::string& what, T* out) {
    const uint8_t* p = nullptr;
    MLA_RETURN_IF_ERROR(Take(sizeof(T), what, &p));
    std::memcpy(out, p, sizeof(T));  // x86-64 and the format are both little-endian
    return Status::Ok();
  }

  Status ReadString(const std::string& what, std::string* out) {
    uint64_t len = 0;
    MLA_RETURN_IF_ERROR(Read(what + " length", &len));
    if (len > left())
      return Errorf("%s length %" PRIu64 " at offset %zu exceeds the %zu bytes left in the file",
                    what.c_str(), len, pos_ - 8, left());
    const uint8_t* p = nullptr;
    MLA_RETURN_IF_ERROR(Take(size_t(len), what, &p));
    out->assign(reinterpret_cast<const char*>(p), size_t(len));
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

Status ReadScalar(Cursor& c, ValueType t, const std::string& what, Value* v) {
  switch (t) {
    case ValueType::U8: { uint8_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::U8(x); break; }
    case ValueType::I8: { int8_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::I8(x); break; }
    case ValueType::U16: { uint16_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::U16(x); break; }
    case ValueType::I16: { int16_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::I16(x); break; }
    case ValueType::U32: { uint32_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::U32(x); break; }
    case ValueType::I32: { int32_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::I32(x); break; }
    case ValueType::U64: { uint64_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::U64(x); break; }
    case ValueType::I64: { int64_t x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::I64(x); break; }
    case ValueType::F32: { float x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::F32(x); break; }
    case ValueType::F64: { double x; MLA_RETURN_IF_ERROR(c.Read(what, &x)); *v = Value::F64(x); break; }
    case ValueType::BOOL: {
      uint8_t x;
      MLA_RETURN_IF_ERROR(c.Read(what, &x));
      if (x > 1) return Errorf("%s: expected a bool (0 or 1), found %u", what.c_str(), unsigned(x));
      *v = Value::Bool(x != 0);
      break;
    }
    case ValueType::STRING: {
      std::string s;
      MLA_RETURN_IF_ERROR(c.ReadString(what, &s));
      *v = Value::String(std::move(s));
      break;
    }
    case ValueType::ARRAY:
      return Errorf("%s: nested arrays are not supported", what.c_str());
  }
  return Status::Ok();
}

Status ReadArray(Cursor& c, const std::string& what, Value* v) {
  uint32_t elem_id = 0;
  uint64_t count = 0;
  MLA_RETURN_IF_ERROR(c.Read(what + " element type", &elem_id));
  if (!KnownValueType(elem_id))
    return Errorf("%s: unknown array element type %u (expected 0..12)", what.c_str(), elem_id);
  const ValueType elem = ValueType(elem_id);
  if (elem == ValueType::ARRAY)
    return Errorf("%s: arrays of arrays are not supported", what.c_str());
  MLA_RETURN_IF_ERROR(c.Read(what + " element count", &count));
  // Bound the count by the bytes left before reserving anything (a string takes >= 8 bytes).
  const uint64_t min_elem = elem == ValueType::STRING ? 8 : ScalarSize(elem);
  if (count > c.left() / min_elem)
    return Errorf("%s: array of %" PRIu64 " %s needs at least %" PRIu64
                  " bytes, only %zu bytes left in the file",
                  what.c_str(), count, ValueTypeName(elem),
                  count > std::numeric_limits<uint64_t>::max() / min_elem ? UINT64_MAX
                                                                           : count * min_elem,
                  c.left());
  v->type = ValueType::ARRAY;
  v->elem_type = elem;
  v->array_size = count;
  const bool is_float = elem == ValueType::F32 || elem == ValueType::F64;
  if (elem == ValueType::STRING) {
    // Strings are not reserved up front: each one consumes >= 8 bytes of the file as it is read.
    for (uint64_t k = 0; k < count; ++k) {
      std::string s;
      MLA_RETURN_IF_ERROR(c.ReadString(what + " item " + std::to_string(k), &s));
      v->strings.push_back(std::move(s));
    }
    return Status::Ok();
  }
  // Fixed-size elements: the count was checked against the bytes left, so reserving is bounded.
  if (is_float) v->floats.reserve(size_t(count)); else v->ints.reserve(size_t(count));
  for (uint64_t k = 0; k < count; ++k) {
    Value item;
    MLA_RETURN_IF_ERROR(ReadScalar(c, elem, what, &item));
    if (is_float) {
      v->floats.push_back(item.f);
    } else if (elem == ValueType::U64) {
      v->ints.push_back(int64_t(item.u));  // bit pattern kept; ToString prints it unsigned
    } else if (elem == ValueType::BOOL || elem == ValueType::U8 || elem == ValueType::U16 ||
               elem == ValueType::U32) {
      v->ints.push_back(int64_t(item.u));
    } else {
      v->ints.push_back(item.i);
    }
  }
  return Status::Ok();
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

Status ReadTensorInfo(Cursor& c, uint64_t index, TensorInfo* t) {
  const std::string what = "tensor info #" + std::to_string(index);
  MLA_RETURN_IF_ERROR(c.ReadString(what + " name", &t->name));
  if (t->name.empty()) return Errorf("%s: empty tensor name", what.c_str());
  const std::string tname = "tensor '" + t->name + "'";
  uint32_t n_dims = 0;
  MLA_RETURN_IF_ERROR(c.Read(tname + " n_dims", &n_dims));
  if (n_dims < 1 || n_dims > kMaxDims)
    return Errorf("%s: expected 1 to %u dimensions, found %u", tname.c_str(), kMaxDims, n_dims);
  t->n_dims = int(n_dims);
  int64_t elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    MLA_RETURN_IF_ERROR(c.Read(tname + " dimension", &ne));
    // Dims are stored as u64 but ggml uses int64: anything above INT64_MAX is a negative dim.
    if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()))
      return Errorf("%s: dimension %u is %" PRId64 ", expected >= 1", tname.c_str(), d,
                    int64_t(ne));
    t->ne[d] = int64_t(ne);
    if (__builtin_mul_overflow(elements, t->ne[d], &elements))
      return Errorf("%s: element count of shape overflows 64 bits (dimension %u is %" PRId64 ")",
                    tname.c_str(), d, t->ne[d]);
  }
  uint32_t type_id = 0;
  MLA_RETURN_IF_ERROR(c.Read(tname + " type", &type_id));
  const DTypeInfo* info = FindDType(type_id);
  if (!info)
    return Errorf("%s: unknown tensor type id %u (expected a ggml type id from spec §9)",
                  tname.c_str(), type_id);
  t->type = info->type;
  if (t->ne[0] % info->block_elems != 0)
    return Errorf("%s: ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                  tname.c_str(), t->ne[0], info->name, info->block_elems);
  // nbytes = blocks per row × block bytes × rows, each step checked for overflow.
  uint64_t row = 0, nbytes = 0;
  if (__builtin_mul_overflow(uint64_t(t->ne[0] / info->block_elems), uint64_t(info->block_bytes),
                             &row) ||
      __builtin_mul_overflow(row, uint64_t(t->nrows()), &nbytes))
    return Errorf("%s: byte size of shape %s overflows 64 bits", tname.c_str(),
                  t->ShapeString().c_str());
  t->nbytes = nbytes;
  MLA_RETURN_IF_ERROR(c.Read(tname + " offset", &t->offset));
  return Status::Ok();
}

}  // namespace

Result<ParsedShard> Parse(const uint8_t* data, size_t size) {
  static const uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
  if (size < 4 || data == nullptr)
    return Errorf("not a GGUF file: expected the 4-byte magic 'GGUF', found a file of %zu bytes",
                  size);
  if (std::memcmp(data, kMagic, 4) != 0)
    return Errorf("not a GGUF file: expected magic 'GGUF' (47 47 55 46), found %02x %02x %02x %02x",
                  data[0], data[1], data[2], data[3]);
  Cursor c(data, size);
  const uint8_t* magic = nullptr;
  MLA_RETURN_IF_ERROR(c.Take(4, "magic", &magic));

  ParsedShard out;
  MLA_RETURN_IF_ERROR(c.Read("version", &out.version));
  if (out.version == 1)
    return Status::Error(
        "GGUF version 1 is not supported: expected version 2 or 3, found 1 (re-convert the model "
        "with a current converter)");
  if (out.version == 0x02000000u || out.version == 0x03000000u)
    return Errorf("big-endian GGUF files are not supported: expected version 2 or 3 in "
                  "little-endian order, found 0x%08x",
                  out.version);
  if (out.version != 2 && out.version != 3)
    return Errorf("unknown GGUF version %u: expected 2 or 3", out.version);

  uint64_t tensor_count = 0, kv_count = 0;
  MLA_RETURN_IF_ERROR(c.Read("tensor count", &tensor_count));
  MLA_RETURN_IF_ERROR(c.Read("metadata count", &kv_count));
  if (kv_count > c.left() / kMinKvBytes)
    return Errorf("metadata count %" PRIu64 " is impossible: the %zu bytes left hold at most %zu",
                  kv_count, c.left(), size_t(c.left() / kMinKvBytes));
  if (tensor_count > c.left() / kMinTensorInfoBytes)
    return Errorf("tensor count %" PRIu64 " is impossible: the %zu bytes left hold at most %zu",
                  tensor_count, c.left(), size_t(c.left() / kMinTensorInfoBytes));

  std::unordered_set<std::string> keys;
  // Not reserved from the header's counts: entries grow only as their bytes are actually read.
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key;
    MLA_RETURN_IF_ERROR(c.ReadString("metadata key #" + std::to_string(k), &key));
    if (key.empty()) return Errorf("metadata key #%" PRIu64 " is empty", k);
    if (!keys.insert(key).second) return Errorf("duplicate metadata key '%s'", key.c_str());
    const std::string what = "metadata '" + key + "'";
    uint32_t type_id = 0;
    MLA_RETURN_IF_ERROR(c.Read(what + " type", &type_id));
    if (!KnownValueType(type_id))
      return Errorf("%s: unknown value type %u (expected 0..12)", what.c_str(), type_id);
    const uint64_t begin = c.pos();
    Value v;
    if (ValueType(type_id) == ValueType::ARRAY) {
      MLA_RETURN_IF_ERROR(ReadArray(c, what, &v));
    } else {
      MLA_RETURN_IF_ERROR(ReadScalar(c, ValueType(type_id), what, &v));
    }
    out.kv_spans.emplace_back(begin, c.pos());
    out.kv.emplace_back(std::move(key), std::move(v));
  }

  // general.alignment: any unsigned integer width, a power of two (GGUF spec: u32).
  for (const auto& [key, v] : out.kv) {
    if (key != "general.alignment") continue;
    if (!v.is_integer())
      return Errorf("general.alignment: expected an unsigned integer, found %s",
                    ValueTypeName(v.type));
    if (!IsPowerOfTwo(v.u) || v.u > kMaxAlignment)
      return Errorf("general.alignment: expected a power of two up to %" PRIu64 ", found %s",
                    kMaxAlignment, v.ToString().c_str());
    out.alignment = v.u;
  }

  std::unordered_set<std::string> names;
  for (uint64_t k = 0; k < tensor_count; ++k) {
    TensorInfo t;
    MLA_RETURN_IF_ERROR(ReadTensorInfo(c, k, &t));
    if (!names.insert(t.name).second) return Errorf("duplicate tensor name '%s'", t.name.c_str());
    if (t.offset % out.alignment != 0)
      return Errorf("tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                    t.name.c_str(), t.offset, out.alignment);
    out.tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment after the tensor infos.
  // (c.pos() <= size <= SIZE_MAX and alignment <= 2^30, so this cannot overflow 64 bits.)
  out.data_offset = (uint64_t(c.pos()) + out.alignment - 1) / out.alignment * out.alignment;
  if (out.tensors.empty()) return out;  // vocab-only files may end without padding
  if (out.data_offset > size)
    return Errorf("truncated file: the tensor data section starts at offset %" PRIu64
                  " but the file has %zu bytes",
                  out.data_offset, size);
  const uint64_t avail = size - out.data_offset;
  for (auto& t : out.tensors) {
    if (t.offset > avail || t.nbytes > avail - t.offset)
      return Errorf("tensor '%s': data [%" PRIu64 ", +%" PRIu64 ") lies beyond the end of the data "
                    "section (%" PRIu64 " bytes; file truncated?)",
                    t.name.c_str(), t.offset, t.nbytes, avail);
    t.data = data + out.data_offset + t.offset;
  }
  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(out.tensors.size());
  for (const auto& t : out.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const TensorInfo* a = by_offset[k - 1];
    const TensorInfo* b = by_offset[k];
    if (a->offset + a->nbytes > b->offset)
      return Errorf("tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64
                    ") overlap",
                    a->name.c_str(), a->offset, a->offset + a->nbytes, b->name.c_str(), b->offset,
                    b->offset + b->nbytes);
  }
  return out;
}

}  // namespace mla::gguf
