// FP8 E4M3 (float8_e4m3fn) decoding and the block-scaled dequantization of DeepSeek-V3 style
// checkpoints (spec §6.4).
#pragma once

#include <cstdint>

namespace mla::convert {

// sign = b >> 7, exp = (b >> 3) & 15, man = b & 7; exp 0: subnormal man/8 * 2^-6;
// exp 15 with man 7: NaN; otherwise (1 + man/8) * 2^(exp-7). No infinities; max finite 448.
float Fp8E4M3ToF32(uint8_t b);

// Dequantizes one row of an FP8 weight with block scales (spec §6.4):
// dst[n] = fp8(row[n]) * scale_row[n / block_cols], where `scale_row` is the row of the scale
// tensor [ceil(rows / block_rows), ceil(cols / block_cols)] that this weight row falls in.
// Partial edge blocks use the scale of the block they fall in.
void DequantizeFp8Row(const uint8_t* row, const float* scale_row, int64_t cols, int64_t block_cols,
                      float* dst);

}  // namespace mla::convert
