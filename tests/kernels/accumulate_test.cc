// kernels::AccumulateRows, the value side of latent attention, against its scalar twin.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace mla::kernels::test {
namespace {

// Rows of `type` holding random values; xs becomes what the rows hold, as f32.
std::vector<uint8_t> MakeRows(DType type, int64_t n_rows, int64_t n_cols, size_t row_bytes,
                              std::vector<float>& xs, std::mt19937& rng) {
  std::vector<uint8_t> rows(row_bytes * n_rows);
  xs = RandomValues(n_rows * n_cols, rng);
  for (int64_t i = 0; i < n_rows; ++i)
    for (int64_t j = 0; j < n_cols; ++j) {
      float& v = xs[size_t(i * n_cols + j)];
      uint8_t* dst = &rows[size_t(i) * row_bytes + size_t(j) * (type == DType::F32 ? 4 : 2)];
      if (type == DType::F32) {
        std::memcpy(dst, &v, 4);
        continue;
      }
      const uint16_t h = type == DType::F16 ? F32ToF16(v) : F32ToBF16(v);
      std::memcpy(dst, &h, 2);
      v = type == DType::F16 ? F16ToF32(h) : BF16ToF32(h);
    }
  return rows;
}

// AccumulateRows: every ISA equals the scalar twin bit for bit (f32, f16 and bf16 rows, column
// counts with and without a tail, any number of output rows), and the sums are right.
TEST(KernelsAccumulateRows, EveryIsaMatchesScalarTwin) {
  std::mt19937 rng(31);
  const CpuFeatures cpu = DetectCpu();
  for (DType type : {DType::F32, DType::F16, DType::BF16}) {
    ASSERT_TRUE(CanAccumulateRows(type));
    for (int64_t n_cols : {8, 40, 512 + 7}) {
      const int64_t n_rows = 37, n_out = 11, elem = type == DType::F32 ? 4 : 2;
      const size_t row_bytes = size_t(n_cols * elem) + 6;
      std::vector<float> xs;
      const std::vector<uint8_t> rows = MakeRows(type, n_rows, n_cols, row_bytes, xs, rng);
      const std::vector<float> p = RandomValues(n_out * n_rows, rng);
      const std::vector<float> o0 = RandomValues(n_out * n_cols, rng);
      std::vector<float> want = o0;
      scalar::AccumulateRowsF(type, rows.data(), row_bytes, n_rows, p.data(), n_rows, n_out, want.data(),
                              n_cols, 0, n_cols);
      for (int64_t h = 0; h < n_out; ++h)
        for (int64_t j = 0; j < n_cols; ++j) {
          double ref = o0[size_t(h * n_cols + j)], mag = std::fabs(ref);
          for (int64_t i = 0; i < n_rows; ++i) {
            ref += double(p[size_t(h * n_rows + i)]) * xs[size_t(i * n_cols + j)];
            mag += std::fabs(double(p[size_t(h * n_rows + i)]) * xs[size_t(i * n_cols + j)]);
          }
          ASSERT_NEAR(want[size_t(h * n_cols + j)], ref, 1e-5 * mag + 1e-6);
        }
      std::vector<std::pair<std::string, decltype(&scalar::AccumulateRowsF)>> isas;
      if (cpu.avx2) isas.push_back({"avx2", avx2::AccumulateRowsF});
      if (cpu.avx512) isas.push_back({"avx512", avx512::AccumulateRowsF});
      for (auto& [name, fn] : isas) {
        std::vector<float> got = o0;
        fn(type, rows.data(), row_bytes, n_rows, p.data(), n_rows, n_out, got.data(), n_cols, 0, n_cols);
        for (size_t k = 0; k < got.size(); ++k)
          ASSERT_TRUE(SameBits(got[k], want[k])) << name << " " << Name(type) << " n_cols=" << n_cols << " at " << k;
      }
    }
  }
}

// The VDPBF16PS form for bf16 rows (AVX512_BF16 CPUs): the AVX-512 kernel equals its scalar twin
// bit for bit (odd and even row counts, more rows than one pass, column tails, head counts not a
// multiple of 8), and the sums are right to bf16 rounding of the weights.
TEST(KernelsAccumulateRows, Bf16PairsMatchScalarTwin) {
  std::mt19937 rng(37);
  const CpuFeatures cpu = DetectCpu();
  for (int64_t n_rows : {1, 2, 37, 64, 150})
    for (int64_t n_cols : {8, 40, 512 + 7}) {
      const int64_t n_out = 11;
      const size_t row_bytes = size_t(n_cols * 2) + 6;
      std::vector<float> xs;
      const std::vector<uint8_t> rows = MakeRows(DType::BF16, n_rows, n_cols, row_bytes, xs, rng);
      const std::vector<float> p = RandomValues(n_out * n_rows, rng);
      const std::vector<float> o0 = RandomValues(n_out * n_cols, rng);
      std::vector<float> want = o0;
      scalar::AccumulateRowsBF16Pairs(rows.data(), row_bytes, n_rows, p.data(), n_rows, n_out, want.data(),
                                      n_cols, 0, n_cols);
      for (int64_t h = 0; h < n_out; ++h)
        for (int64_t j = 0; j < n_cols; ++j) {
          double ref = o0[size_t(h * n_cols + j)], mag = std::fabs(ref);
          for (int64_t i = 0; i < n_rows; ++i) {
            const double term = double(p[size_t(h * n_rows + i)]) * xs[size_t(i * n_cols + j)];
            ref += term;
            mag += std::fabs(term);
          }
          ASSERT_NEAR(want[size_t(h * n_cols + j)], ref, 8e-3 * mag + 1e-6);
        }
      if (!(cpu.avx512 && cpu.avx512_vnni && cpu.avx512_bf16)) continue;
      std::vector<float> got = o0;
      avx512::AccumulateRowsBF16Pairs(rows.data(), row_bytes, n_rows, p.data(), n_rows, n_out, got.data(),
                                      n_cols, 0, n_cols);
      for (size_t k = 0; k < got.size(); ++k)
        ASSERT_TRUE(SameBits(got[k], want[k])) << "n_rows=" << n_rows << " n_cols=" << n_cols << " at " << k;
    }
}

}  // namespace
}  // namespace mla::kernels::test
