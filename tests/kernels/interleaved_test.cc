// The row-interleaved kernels (kernels.h InterleaveRows / GemmRowsInterleaved): every ISA column
// equals the scalar twin bit for bit, GEMM equals GEMV per token, any row split gives the same
// bits, the result is the true dot product of the dequantized rows within rounding, and the
// repacking keeps every byte's information (dequantizing an interleaved row gives the original).
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace mla::kernels::test {
namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q8_0, DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS};
const DType kKTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS};

bool IsK(DType type) { return Info(type).block_elems == 256; }
// The activation format of the interleaved kernels of `type`, and row widths that fit its blocks.
DType ActOf(DType type) { return IsK(type) ? DType::Q8_K : DType::Q8_0; }
std::vector<int64_t> WidthsOf(DType type) {
  if (IsK(type)) return {256, 768, 1024 + 256};
  return {32, 96, 1024 + 64};
}

std::vector<uint8_t> Interleaved(DType type, const std::vector<uint8_t>& w, int64_t rows, size_t rb) {
  std::vector<uint8_t> out(w.size(), 0xEE);
  InterleaveRows(type, w.data(), out.data(), rows, rb);
  return out;
}

TEST(KernelsInterleaved, EveryIsaMatchesScalarTwinBitForBit) {
  const std::vector<IsaTable> tables = AvailableTables();
  std::mt19937 rng(21);
  const int64_t rows = 48;
  for (DType type : kTypes) {
    ASSERT_NE(tables[0].table.For(type).gemm_interleaved, nullptr) << Name(type);  // the scalar twin
    for (int64_t n : WidthsOf(type)) {
      for (bool raw : {false, true}) {
        const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, raw);
        const size_t rb = RowBytes(type, n);
        const std::vector<uint8_t> wi = Interleaved(type, w, rows, rb);
        const Activations a = MakeActivations(ActOf(type), type, 11, n, rng);
        for (int64_t n_tokens : {1, 2, 5, 8, 9, 11}) {
          for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {16, 32}, {16, 48}}) {
            const std::vector<float> want =
                RunKernel(tables[0].table.For(type).gemm_interleaved, wi, rb, a, n_tokens, n, r0, r1);
            for (size_t ti = 1; ti < tables.size(); ++ti) {
              const TypeKernels& k = tables[ti].table.For(type);
              if (!k.gemm_interleaved) continue;  // this column keeps the row-major layout
              SCOPED_TRACE(std::string(k.name_interleaved) + " n=" + std::to_string(n) +
                           " tokens=" + std::to_string(n_tokens) + (raw ? " raw" : ""));
              const std::vector<float> got = RunKernel(k.gemm_interleaved, wi, rb, a, n_tokens, n, r0, r1);
              for (size_t i = 0; i < got.size(); ++i)
                ASSERT_TRUE(SameBits(got[i], want[i])) << "out " << i << ": " << got[i] << " vs " << want[i];
            }
          }
        }
      }
    }
  }
}

TEST(KernelsInterleaved, GemmEqualsGemvAndAnySplit) {
  std::mt19937 rng(22);
  const int64_t rows = 64, n = 512, n_tokens = 13;
  for (const IsaTable& it : AvailableTables()) {
    for (DType type : kTypes) {
      const TypeKernels& k = it.table.For(type);
      if (!k.gemm_interleaved) continue;
      SCOPED_TRACE(it.name + " " + k.name_interleaved);
      const size_t rb = RowBytes(type, n);
      const std::vector<uint8_t> wi = Interleaved(type, RandomWeights(type, rows, n, rng, false), rows, rb);
      const Activations a = MakeActivations(ActOf(type), type, n_tokens, n, rng);
      const std::vector<float> all = RunKernel(k.gemm_interleaved, wi, rb, a, n_tokens, n, 0, rows);
      const int64_t ldy = rows + 3;  // RunKernel's guard columns
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r0 = 0; r0 < rows; r0 += 16) {
          std::vector<float> y(16);
          k.gemm_interleaved(wi.data(), rb, a.data.data() + size_t(t) * a.stride, 0, 1, n, r0, r0 + 16,
                             y.data(), 0);
          for (int64_t i = 0; i < 16; ++i)
            ASSERT_TRUE(SameBits(y[size_t(i)], all[size_t(t * ldy + r0 + i)])) << "t=" << t << " r=" << r0 + i;
        }
      }
    }
  }
}

// Against float64 dot products of the original (row-major) rows and the prepared activations.
TEST(KernelsInterleaved, ComputesTheDotProductsOfTheOriginalRows) {
  std::mt19937 rng(23);
  const int64_t rows = 32, n = 256, n_tokens = 3;
  for (DType type : kTypes) {
    if (!CanInterleave(type)) continue;
    const size_t rb = RowBytes(type, n);
    const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, false);
    const std::vector<uint8_t> wi = Interleaved(type, w, rows, rb);
    const Activations a = MakeActivations(ActOf(type), type, n_tokens, n, rng);
    std::vector<float> y(size_t(rows * n_tokens));
    GemmRowsInterleaved(type, wi.data(), rb, a.data.data(), a.stride, n_tokens, n, 0, rows, y.data(), rows);
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t t = 0; t < n_tokens; ++t) {
      const std::vector<float> x = DequantizeActivation(ActOf(type), a.data.data() + size_t(t) * a.stride, n);
      for (int64_t r = 0; r < rows; ++r) {
        quant::DequantizeRow(type, w.data() + size_t(r) * rb, row.data(), n);
        double want = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) {
          want += double(row[size_t(i)]) * x[size_t(i)];
          mag += std::fabs(double(row[size_t(i)]) * x[size_t(i)]);
        }
        EXPECT_NEAR(y[size_t(t * rows + r)], want, 1e-5 * mag + 1e-9) << Name(type) << " t=" << t << " r=" << r;
      }
    }
  }
}

TEST(KernelsInterleaved, RowsReadBackExactly) {
  std::mt19937 rng(24);
  const int64_t rows = 32;
  for (DType type : kTypes) {
    const int64_t n = IsK(type) ? 512 : 160;
    const size_t rb = RowBytes(type, n);
    const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, true);
    const std::vector<uint8_t> wi = Interleaved(type, w, rows, rb);
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      quant::DequantizeRow(type, w.data() + size_t(r) * rb, want.data(), n);
      DequantizeInterleavedRow(type, wi.data(), rb, n, r, got.data());
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(SameBits(got[size_t(i)], want[size_t(i)])) << Name(type) << " r=" << r << " i=" << i;
    }
  }
}

// The K-quants' interleaved kernels keep the row-major kernels' order of operations: the same
// bits, for every column that has them, from raw random bytes (any scale, min and high bits).
TEST(KernelsInterleaved, KQuantsEqualRowMajor) {
  std::mt19937 rng(25);
  const int64_t rows = 32, n = 1024, n_tokens = 6;
  for (const IsaTable& it : AvailableTables()) {
    for (DType type : kKTypes) {
      const TypeKernels& k = it.table.For(type);
      if (!k.gemm_interleaved) continue;
      SCOPED_TRACE(it.name + " " + Name(type));
      const size_t rb = RowBytes(type, n);
      const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, true);
      const std::vector<uint8_t> wi = Interleaved(type, w, rows, rb);
      const Activations a = MakeActivations(DType::Q8_K, type, n_tokens, n, rng);
      const std::vector<float> want = RunKernel(k.gemm, w, rb, a, n_tokens, n, 0, rows);
      const std::vector<float> got = RunKernel(k.gemm_interleaved, wi, rb, a, n_tokens, n, 0, rows);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(SameBits(got[i], want[i])) << "out " << i << ": " << got[i] << " vs " << want[i];
    }
  }
}

}  // namespace
}  // namespace mla::kernels::test
