// The generic path (dequantize a chunk, then the canonical 16-lane f32 dot product), used by types
// without an integer kernel: against a float64 reference on the scalar column, and bit for bit
// between the ISA columns (their f32 accumulation follows the same canonical order).
#include <gtest/gtest.h>

#include "kernel_test_util.h"

namespace mla::kernels::test {
namespace {

TEST(KernelsGeneric, EveryTypeMatchesDequantizedDot) {
  std::mt19937 rng(1);
  const std::vector<IsaTable> tables = AvailableTables();
  const int64_t rows = 5, tokens = 3;
  size_t count = 0;
  const DTypeInfo* types = AllDTypes(&count);
  for (int64_t n : {256, 4096 + 256}) {  // 4352 spans several dequantization chunks
    for (size_t k = 0; k < count; ++k) {
      const DType type = types[k].type;
      if (type == DType::Q8_K) continue;  // activation format without a quantizer for weights
      SCOPED_TRACE(std::string(Name(type)) + " n=" + std::to_string(n));
      std::vector<float> x = RandomValues(n * tokens, rng);
      const size_t rb = RowBytes(type, n);
      const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, false);
      std::vector<float> deq(size_t(n * rows));
      for (int64_t r = 0; r < rows; ++r) quant::DequantizeRow(type, &w[r * rb], &deq[r * n], n);
      std::vector<float> want;
      for (const IsaTable& it : tables) {
        // The generic kernel of every column takes f32 activations.
        const GemmFn generic = it.table.generic[uint32_t(type)];
        std::vector<float> y(size_t(tokens * rows));
        generic(w.data(), rb, x.data(), n * sizeof(float), tokens, n, 1, rows, y.data(), rows);
        if (want.empty()) {
          want = y;
          for (int64_t t = 0; t < tokens; ++t)
            for (int64_t r = 1; r < rows; ++r) {
              double ref = 0, mag = 0;
              for (int64_t i = 0; i < n; ++i) {
                ref += double(deq[r * n + i]) * x[t * n + i];
                mag += std::fabs(double(deq[r * n + i]) * x[t * n + i]);
              }
              EXPECT_NEAR(y[t * rows + (r - 1)], ref, (n / 16 + 8) * std::ldexp(1.0, -23) * mag)
                  << "t=" << t << " r=" << r;
            }
        } else {
          for (size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(SameBits(y[i], want[i])) << it.name;
        }
      }
    }
  }
}

}  // namespace
}  // namespace mla::kernels::test
