// FP8 E4M3 decoding and the 128x128 block-scaled dequantization (spec §6.4).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "convert/fp8.h"

namespace mla::test {
namespace {

using convert::DequantizeFp8Row;
using convert::Fp8E4M3ToF32;

TEST(Fp8, DecodesE4M3) {
  EXPECT_EQ(Fp8E4M3ToF32(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(Fp8E4M3ToF32(0x80)));
  EXPECT_EQ(Fp8E4M3ToF32(0x38), 1.0f);          // exp 7, man 0
  EXPECT_EQ(Fp8E4M3ToF32(0x40), 2.0f);
  EXPECT_EQ(Fp8E4M3ToF32(0x39), 1.125f);
  EXPECT_EQ(Fp8E4M3ToF32(0xB8), -1.0f);
  EXPECT_EQ(Fp8E4M3ToF32(0x7E), 448.0f);        // max finite
  EXPECT_EQ(Fp8E4M3ToF32(0xFE), -448.0f);
  EXPECT_TRUE(std::isnan(Fp8E4M3ToF32(0x7F)));  // no infinities, one NaN pattern per sign
  EXPECT_TRUE(std::isnan(Fp8E4M3ToF32(0xFF)));
  EXPECT_EQ(Fp8E4M3ToF32(0x08), std::ldexp(1.0f, -6));   // smallest normal
  EXPECT_EQ(Fp8E4M3ToF32(0x01), std::ldexp(1.0f, -9));   // smallest subnormal
  EXPECT_EQ(Fp8E4M3ToF32(0x07), 7 * std::ldexp(1.0f, -9));
  // Monotonic over the positive finite codes.
  for (int b = 1; b < 0x7F; ++b) EXPECT_LT(Fp8E4M3ToF32(uint8_t(b - 1)), Fp8E4M3ToF32(uint8_t(b))) << b;
}

TEST(Fp8, BlockScalesIncludingPartialEdgeBlocks) {
  // A 130 x 200 weight has a 2 x 2 scale grid; row 129 and columns 128..199 fall in the partial blocks.
  const int64_t rows = 130, cols = 200;
  std::vector<uint8_t> w(size_t(rows * cols), 0x38);  // every weight 1.0
  const float scale[2][2] = {{2.0f, 3.0f}, {5.0f, 7.0f}};
  std::vector<float> out(static_cast<size_t>(cols));
  for (int64_t m : {0, 127, 128, 129}) {
    DequantizeFp8Row(w.data() + m * cols, scale[m / 128], cols, 128, out.data());
    for (int64_t n : {0, 127, 128, 199}) EXPECT_EQ(out[size_t(n)], scale[m / 128][n / 128]) << m << "," << n;
  }
  // Other block sizes (weight_block_size from the config).
  w[5] = 0x40;  // 2.0
  const float s2[4] = {1.0f, 10.0f, 100.0f, 1000.0f};
  DequantizeFp8Row(w.data(), s2, 8, 2, out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[2], 10.0f);
  EXPECT_EQ(out[5], 200.0f);
  EXPECT_EQ(out[7], 1000.0f);
}

}  // namespace
}  // namespace mla::test
