#include "convert/fp8.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace mla::convert {

namespace {

float DecodeE4M3(uint8_t b) {
  const int sign = b >> 7, exp = (b >> 3) & 15, man = b & 7;
  float v;
  if (exp == 15 && man == 7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(float(man) / 8.0f, -6);
  } else {
    v = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
  }
  return sign ? -v : v;
}

const std::array<float, 256>& Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) t[b] = DecodeE4M3(uint8_t(b));
    return t;
  }();
  return table;
}

}  // namespace

float Fp8E4M3ToF32(uint8_t b) { return Table()[b]; }

void DequantizeFp8Row(const uint8_t* row, const float* scale_row, int64_t cols, int64_t block_cols,
                      float* dst) {
  const auto& table = Table();
  for (int64_t b0 = 0; b0 < cols; b0 += block_cols) {
    const float s = scale_row[b0 / block_cols];
    const int64_t end = std::min(cols, b0 + block_cols);
    for (int64_t n = b0; n < end; ++n) dst[n] = table[row[n]] * s;
  }
}

}  // namespace mla::convert
