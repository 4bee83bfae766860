// Every SIMD kernel against its scalar twin, bit for bit: weight types x shapes x row sub-ranges x
// token counts x every ISA column this machine has. Also GEMM == GEMV per token and the public
// entry points (dispatch through ActiveTable()).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "kernel_test_util.h"

namespace mla::kernels::test {
namespace {

std::vector<int64_t> Widths(DType type) {
  if (IsFloatType(type)) return {1, 7, 16, 33, 100, 1024 + 5};
  if (Info(type).block_elems == 32) return {32, 96, 160, 1024 + 96};
  return {256, 768, 1280};
}

// The scalar twin of a table entry: the scalar column's kernel, or the BF16 x BF16 emulation.
GemmFn TwinOf(const KernelTable& scalar_table, DType type, const TypeKernels& k) {
  if (type == DType::BF16 && k.act == DType::BF16) return scalar::GemmBF16xBF16;
  return scalar_table.For(type).gemm;
}

TEST(KernelsIsa, SimdMatchesScalarTwinBitForBit) {
  const std::vector<IsaTable> tables = AvailableTables();
  const KernelTable& scalar_table = tables[0].table;
  std::mt19937 rng(7);
  const int64_t rows = 11;
  const std::pair<int64_t, int64_t> ranges[] = {{0, rows}, {1, 10}, {3, 4}};
  for (DType type : KernelTypes()) {
    for (int64_t n : Widths(type)) {
      for (bool raw : {false, true}) {
        const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, raw);
        const size_t rb = RowBytes(type, n);
        // The twin's outputs per activation format, computed once for all columns.
        struct Want {
          DType act;
          Activations a;
          std::vector<std::vector<float>> y;
        };
        std::vector<Want> wants;
        for (size_t ti = 1; ti < tables.size(); ++ti) {
          const TypeKernels& k = tables[ti].table.For(type);
          SCOPED_TRACE(tables[ti].name + " " + k.name + " n=" + std::to_string(n) +
                       (raw ? " raw bits" : " quantized"));
          auto it = std::find_if(wants.begin(), wants.end(), [&](const Want& x) { return x.act == k.act; });
          if (it == wants.end()) {
            Want want{k.act, MakeActivations(k.act, type, 9, n, rng), {}};
            const GemmFn twin = TwinOf(scalar_table, type, k);
            for (int64_t n_tokens : {1, 2, 3, 5, 9})
              for (auto [r0, r1] : ranges) want.y.push_back(RunKernel(twin, w, rb, want.a, n_tokens, n, r0, r1));
            wants.push_back(std::move(want));
            it = wants.end() - 1;
          }
          size_t case_index = 0;
          for (int64_t n_tokens : {1, 2, 3, 5, 9}) {
            for (auto [r0, r1] : ranges) {
              const std::vector<float> got = RunKernel(k.gemm, w, rb, it->a, n_tokens, n, r0, r1);
              const std::vector<float>& want = it->y[case_index++];
              for (size_t i = 0; i < got.size(); ++i)
                ASSERT_TRUE(SameBits(got[i], want[i]))
                    << "tokens=" << n_tokens << " rows [" << r0 << "," << r1 << ") out " << i
                    << ": " << got[i] << " vs twin " << want[i];
            }
          }
        }
      }
    }
  }
}

TEST(KernelsIsa, GemmEqualsGemvPerToken) {
  std::mt19937 rng(8);
  const int64_t rows = 9, n_tokens = 7;
  for (const IsaTable& it : AvailableTables()) {
    for (DType type : KernelTypes()) {
      const TypeKernels& k = it.table.For(type);
      const int64_t n = Widths(type)[2];
      SCOPED_TRACE(it.name + " " + k.name);
      const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, false);
      const size_t rb = RowBytes(type, n);
      const Activations a = MakeActivations(k.act, type, n_tokens, n, rng);
      const std::vector<float> gemm = RunKernel(k.gemm, w, rb, a, n_tokens, n, 0, rows);
      for (int64_t t = 0; t < n_tokens; ++t) {
        std::vector<float> y(rows);
        k.gemm(w.data(), rb, a.data.data() + size_t(t) * a.stride, 0, 1, n, 0, rows, y.data(), 0);
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_TRUE(SameBits(y[size_t(r)], gemm[size_t(t * (rows + 3) + r)])) << "t=" << t << " r=" << r;
      }
    }
  }
}

// The public API dispatches to the ISA of Cpu(); integer types give the scalar twin's bits.
TEST(KernelsIsa, PublicEntryPointsUseActiveTable) {
  std::mt19937 rng(9);
  const KernelTable scalar_table = BuildTable(CpuFeatures{});
  const int64_t rows = 6, n = 512, n_tokens = 3;
  for (DType type : KernelTypes()) {
    SCOPED_TRACE(Name(type));
    EXPECT_EQ(ActivationType(type), ActiveTable().For(type).act);
    const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, false);
    const size_t rb = RowBytes(type, n);
    const std::vector<float> x = RandomValues(n * n_tokens, rng);
    const size_t stride = ActivationRowBytes(type, n);
    std::vector<uint8_t> act(stride * n_tokens);
    for (int64_t t = 0; t < n_tokens; ++t) PrepareActivation(type, &x[size_t(t * n)], &act[t * stride], n);
    std::vector<float> y_gemm(size_t(rows * n_tokens)), y_gemv(rows);
    GemmRows(type, w.data(), rb, act.data(), stride, n_tokens, n, 0, rows, y_gemm.data(), rows);
    GemvRows(type, w.data(), rb, act.data(), n, 0, rows, y_gemv.data());
    for (int64_t r = 0; r < rows; ++r) EXPECT_TRUE(SameBits(y_gemv[r], y_gemm[r]));
    if (ActivationType(type) == scalar_table.For(type).act) {
      std::vector<float> want(size_t(rows * n_tokens));
      scalar_table.For(type).gemm(w.data(), rb, act.data(), stride, n_tokens, n, 0, rows,
                                  want.data(), rows);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(SameBits(y_gemm[i], want[i])) << i;
    }
  }
}

// The model calls the kernels from every thread of its pool at once: no shared mutable state.
TEST(KernelsIsa, ConcurrentCallsAgree) {
  std::mt19937 rng(10);
  const int64_t rows = 64, n = 1024;
  for (DType type : {DType::Q4_K, DType::Q4_0, DType::Q8_1, DType::BF16}) {
    const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, false);
    const size_t rb = RowBytes(type, n);
    const std::vector<float> x = RandomValues(n, rng);
    std::vector<uint8_t> act(ActivationRowBytes(type, n));
    PrepareActivation(type, x.data(), act.data(), n);
    std::vector<float> want(rows);
    GemvRows(type, w.data(), rb, act.data(), n, 0, rows, want.data());
    std::vector<std::vector<float>> got(4, std::vector<float>(rows));
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&, i] {
        for (int rep = 0; rep < 20; ++rep)
          GemvRows(type, w.data(), rb, act.data(), n, 0, rows, got[i].data());
      });
    for (std::thread& th : threads) th.join();
    for (int i = 0; i < 4; ++i)
      for (int64_t r = 0; r < rows; ++r) EXPECT_TRUE(SameBits(got[i][r], want[r])) << Name(type);
  }
}

// ConvertF16ToF32 (AVX2, F16C) equals F16ToF32 for all 65536 inputs; signalling NaNs come back as
// (quiet) NaNs of the same sign.
TEST(KernelsIsa, ConvertF16ToF32MatchesScalar) {
  if (!DetectCpu().avx2) GTEST_SKIP() << "no AVX2";
  std::vector<uint16_t> h(65536 + 5);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint16_t(i);
  std::vector<float> got(h.size() + 1, 7.0f);
  avx2::ConvertF16ToF32(h.data(), got.data(), int64_t(h.size()));
  for (size_t i = 0; i < h.size(); ++i) {
    const float want = F16ToF32(h[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got[i])) << std::hex << h[i];
      ASSERT_EQ(std::signbit(got[i]), std::signbit(want)) << std::hex << h[i];
    } else {
      ASSERT_EQ(F32Bits(got[i]), F32Bits(want)) << std::hex << h[i];
    }
  }
  EXPECT_EQ(got[h.size()], 7.0f);  // nothing written past n
}

}  // namespace
}  // namespace mla::kernels::test

namespace mla::kernels::test {
namespace {

// ConvertToBF16 (AVX2) equals F32ToBF16 for every class of input: rounding ties both ways,
// carries into the exponent, subnormals, infinities, NaNs, and a tail shorter than a register.
TEST(KernelsIsa, ConvertToBF16MatchesScalar) {
  std::vector<uint32_t> bits = {0x00000000, 0x80000000, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x3fffffff,
                                0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
                                0xffff0001, 0x00000001, 0x807fffff, 0x00018000};
  std::mt19937 rng(43);
  for (int i = 0; i < 1000; ++i) bits.push_back(rng());
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  std::vector<uint16_t> want(x.size()), got(x.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) want[i] = F32ToBF16(x[i]);
  const int64_t n = int64_t(x.size()) - 3;  // a tail
  if (!DetectCpu().avx2) GTEST_SKIP() << "no AVX2";
  avx2::ConvertToBF16(x.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[size_t(i)], want[size_t(i)]) << std::hex << bits[size_t(i)];
  EXPECT_EQ(got[size_t(n)], 0);  // nothing written past n
}

}  // namespace
}  // namespace mla::kernels::test
