// kernels::AccumulateRows, the value side of latent attention, against its scalar twin.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace mla::kernels::test {
namespace {

// AccumulateRows: every ISA equals the scalar twin bit for bit (f32 and f16 rows, column counts
// with and without a tail, any number of output rows), and the sums are right.
TEST(KernelsAccumulateRows, EveryIsaMatchesScalarTwin) {
  std::mt19937 rng(31);
  const CpuFeatures cpu = DetectCpu();
  for (DType type : {DType::F32, DType::F16}) {
    ASSERT_TRUE(CanAccumulateRows(type));
    for (int64_t n_cols : {8, 40, 512 + 7}) {
      const int64_t n_rows = 37, n_out = 11, elem = type == DType::F16 ? 2 : 4;
      const size_t row_bytes = size_t(n_cols * elem) + 6;
      std::vector<uint8_t> rows(row_bytes * n_rows);
      std::vector<float> xs = RandomValues(n_rows * n_cols, rng);
      for (int64_t i = 0; i < n_rows; ++i)
        for (int64_t j = 0; j < n_cols; ++j) {
          const float v = xs[size_t(i * n_cols + j)];
          if (type == DType::F16) {
            const uint16_t h = F32ToF16(v);
            std::memcpy(&rows[size_t(i) * row_bytes + 2 * j], &h, 2);
            xs[size_t(i * n_cols + j)] = F16ToF32(h);
          } else {
            std::memcpy(&rows[size_t(i) * row_bytes + 4 * j], &v, 4);
          }
        }
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

}  // namespace
}  // namespace mla::kernels::test
