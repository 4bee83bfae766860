// The traits table (one entry per type of base/dtype.h) and the row-level entry points.
#include "quant/quant.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "quant/internal.h"

namespace mla::quant {
namespace {

using namespace internal;

#define MLA_TYPE(T, imp) {DType::T, Dequantize##T, Quantize##T, imp}
constexpr TypeTraits kTraits[] = {
    MLA_TYPE(F32, false),   MLA_TYPE(F16, false),   MLA_TYPE(Q4_0, true),   MLA_TYPE(Q4_1, true),
    MLA_TYPE(Q5_0, true),   MLA_TYPE(Q5_1, true),   MLA_TYPE(Q8_0, false),  MLA_TYPE(Q8_1, false),
    MLA_TYPE(Q2_K, true),   MLA_TYPE(Q3_K, true),   MLA_TYPE(Q4_K, true),   MLA_TYPE(Q5_K, true),
    MLA_TYPE(Q6_K, true),   MLA_TYPE(Q8_K, false),  MLA_TYPE(IQ4_NL, true), MLA_TYPE(IQ4_XS, true),
    MLA_TYPE(BF16, false),
};
#undef MLA_TYPE

}  // namespace

const TypeTraits& Traits(DType type) {
  for (const TypeTraits& t : kTraits)
    if (t.type == type) return t;
  std::abort();  // every DType has an entry (checked by quant_test's TraitsCoverEveryType)
}

bool CanDequantize(DType type) { return Traits(type).dequantize != nullptr; }
bool CanQuantize(DType type) { return Traits(type).quantize != nullptr; }

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) {
  Traits(type).dequantize(src, dst, n);
}

double WeightedSquaredError(const float* x, const float* y, int64_t n, const float* w) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - y[i];
    e += (w ? double(w[i]) : 1.0) * d * d;
  }
  return e;
}

size_t QuantizeRow(DType type, const float* src, void* dst, int64_t n, const float* importance) {
  const TypeTraits& t = Traits(type);
  const size_t bytes = RowBytes(type, n);
  if (!importance || !t.uses_importance) {
    t.quantize(src, dst, n, nullptr);
    return bytes;
  }
  // Quantize the row both ways and keep, block by block, whichever has the smaller
  // importance-weighted error (ties keep the plain one): importance can then only help.
  const DTypeInfo& info = Info(type);
  std::vector<uint8_t> plain(bytes);
  std::vector<float> y_weighted(static_cast<size_t>(n)), y_plain(static_cast<size_t>(n));
  t.quantize(src, dst, n, importance);
  t.quantize(src, plain.data(), n, nullptr);
  t.dequantize(dst, y_weighted.data(), n);
  t.dequantize(plain.data(), y_plain.data(), n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / info.block_elems; ++b) {
    const int64_t i0 = b * info.block_elems;
    const double ew = WeightedSquaredError(src + i0, y_weighted.data() + i0, info.block_elems,
                                           importance + i0);
    const double ep = WeightedSquaredError(src + i0, y_plain.data() + i0, info.block_elems,
                                           importance + i0);
    if (!(ew < ep))
      std::memcpy(out + size_t(b) * info.block_bytes, plain.data() + size_t(b) * info.block_bytes,
                  info.block_bytes);
  }
  return bytes;
}

}  // namespace mla::quant
