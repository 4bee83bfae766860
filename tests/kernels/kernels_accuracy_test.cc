// The integer paths against float64 references. Two bounds per kernel (scalar twin, so every SIMD
// column, equal to it bit for bit, is covered too):
//  - against the exact dot product of the dequantized weights and the dequantized activations:
//    only float rounding of the per-block scale steps, (blocks + 16) * 2^-23 relative to the sum
//    of |terms| (the scale and min parts of Q4_1/Q5_1/Q2_K/Q4_K/Q5_K add up apart, so their magnitudes count);
//  - against the f32 activations: that plus the activation rounding, at most half an activation
//    step per element: sum_i |w_i| * d_a(i) / 2.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernel_test_util.h"

namespace mla::kernels::test {
namespace {

struct Case {
  DType type;
  int64_t n;
};

// The min terms of a Q4_1 / Q5_1 / Q2_K / Q4_K / Q5_K row: the row dequantized with every level zeroed.
std::vector<float> MinTerms(DType type, const uint8_t* row, int64_t n) {
  std::vector<float> m(static_cast<size_t>(n), 0.f);
  const size_t bb = Info(type).block_bytes;
  size_t levels_from, levels_to = bb;  // the bytes of qh / qs in a block
  switch (type) {
    case DType::Q4_1:
    case DType::Q5_1:
      levels_from = 4;
      break;
    case DType::Q4_K:
    case DType::Q5_K:
      levels_from = 16;
      break;
    case DType::Q2_K:
      levels_from = 16;
      levels_to = 80;
      break;
    default:
      return m;
  }
  std::vector<uint8_t> copy(row, row + RowBytes(type, n));
  for (size_t b = 0; b < copy.size() / bb; ++b)
    std::fill(copy.begin() + b * bb + levels_from, copy.begin() + b * bb + levels_to, 0);
  quant::DequantizeRow(type, copy.data(), m.data(), n);
  return m;
}

TEST(KernelsAccuracy, IntegerAndFloatPathsWithinBounds) {
  std::mt19937 rng(11);
  const int64_t rows = 8, n_tokens = 3;
  for (const IsaTable& it : AvailableTables())
  for (DType type : KernelTypes()) {
    const TypeKernels& k = it.table.For(type);
    for (int64_t n : {256, 1024}) {
      for (bool raw : {false, true}) {
        SCOPED_TRACE(it.name + " " + k.name + " n=" + std::to_string(n) + (raw ? " raw" : ""));
        const std::vector<uint8_t> w = RandomWeights(type, rows, n, rng, raw);
        const size_t rb = RowBytes(type, n);
        const Activations a = MakeActivations(k.act, type, n_tokens, n, rng);
        std::vector<float> y(size_t(rows * n_tokens));
        k.gemm(w.data(), rb, a.data.data(), a.stride, n_tokens, n, 0, rows, y.data(), rows);
        const int64_t blocks = n / std::max<int64_t>(Info(type).block_elems, 16);
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> wd(static_cast<size_t>(n));
          quant::DequantizeRow(type, &w[size_t(r) * rb], wd.data(), n);
          const std::vector<float> mins = MinTerms(type, &w[size_t(r) * rb], n);
          for (int64_t t = 0; t < n_tokens; ++t) {
            const uint8_t* arow = &a.data[size_t(t) * a.stride];
            const std::vector<float> ad = DequantizeActivation(k.act, arow, n);
            const float* x = &a.x[size_t(t * n)];
            double exact = 0, mag = 0, vs_x = 0, act_err = 0;
            for (int64_t i = 0; i < n; ++i) {
              exact += double(wd[i]) * ad[i];
              vs_x += double(wd[i]) * x[i];
              mag += (std::fabs(double(wd[i])) + 2 * std::fabs(double(mins[i]))) * std::fabs(ad[i]);
              // Half a step of the activation format at element i.
              double step;
              if (k.act == DType::Q8_0) {
                step = reinterpret_cast<const ActQ8x32*>(arow)[i / 32].d;
              } else if (k.act == DType::Q8_K) {
                step = reinterpret_cast<const quant::BlockQ8_K*>(arow)[i / 256].d;
              } else if (k.act == DType::BF16) {
                step = std::fabs(x[i]) * std::ldexp(1.0, -7);
              } else {
                step = 0;
              }
              act_err += std::fabs(double(wd[i])) * step / 2;
            }
            const double got = y[size_t(t * rows + r)];
            const double tol = double(blocks + 16) * std::ldexp(1.0, -23) * mag + 1e-30;
            EXPECT_NEAR(got, exact, tol) << "row " << r << " token " << t;
            EXPECT_NEAR(got, vs_x, tol + act_err * 1.0001) << "row " << r << " token " << t;
          }
        }
      }
    }
  }
}

// The activation layouts themselves.
TEST(KernelsAccuracy, ActQ8x32Layout) {
  std::mt19937 rng(12);
  const int64_t n = 256;
  std::vector<float> x = RandomValues(n, rng, 3.f);
  std::fill(x.begin() + 64, x.begin() + 96, 0.f);  // one all-zero block
  for (DType weight : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::IQ4_NL}) {
    std::vector<ActQ8x32> a(n / 32);
    QuantizeActQ8x32(x.data(), a.data(), n, ActQ8x32Offset(weight));
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
      EXPECT_FLOAT_EQ(a[b].d, amax / 127.f);
      for (int j = 0; j < 8; ++j) {
        int s = 0;
        for (int i = 0; i < 4; ++i) s += a[b].qs[4 * j + i];
        EXPECT_EQ(a[b].neg_sums[j], -ActQ8x32Offset(weight) * s);
      }
      int total = 0;
      for (int i = 0; i < 32; ++i) total += a[b].qs[i];
      EXPECT_EQ(a[b].neg_sum, -ActQ8x32Offset(weight) * total);
      for (int i = 0; i < 32; ++i) {
        EXPECT_GE(a[b].qs[i], -127);
        EXPECT_NEAR(a[b].d * a[b].qs[i], x[b * 32 + i], a[b].d * 0.5f + 1e-7f);
      }
    }
    EXPECT_EQ(a[2].d, 0.f);
  }
  // Non-finite input must not reach an undefined int conversion.
  std::vector<float> bad(32, 1.f);
  bad[3] = std::nanf("");
  bad[5] = INFINITY;
  ActQ8x32 o;
  QuantizeActQ8x32(bad.data(), &o, 32, 8);
  for (int i = 0; i < 32; ++i) EXPECT_LE(std::abs(int(o.qs[i])), 127);
}

// 2048 random values with NaN (5), ±inf (300, 301), a subnormal (700) and an all-zero
// super-block (512..767), for the quantizers' bit-for-bit checks.
std::vector<float> ValuesWithSpecials(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x = RandomValues(2048, rng, 3.f);
  x[5] = std::nanf("");
  x[300] = INFINITY;
  x[301] = -INFINITY;
  x[700] = 1e-40f;
  std::fill(x.begin() + 512, x.begin() + 768, 0.f);
  return x;
}

// The AVX2 activation quantizers give the scalar bytes, and Q8_K is quant.h's Q8_K exactly.
TEST(KernelsAccuracy, ActivationQuantizersAgree) {
  const std::vector<float> x = ValuesWithSpecials(13);
  const int64_t n = int64_t(x.size());
  std::vector<quant::BlockQ8_K> ref(n / 256), sc(n / 256), simd(n / 256);
  quant::QuantizeRow(DType::Q8_K, x.data(), ref.data(), n);
  scalar::QuantizeQ8K(x.data(), sc.data(), n);
  EXPECT_EQ(std::memcmp(ref.data(), sc.data(), sizeof(quant::BlockQ8_K) * ref.size()), 0);
  std::vector<ActQ8x32> a_sc(n / 32), a_simd(n / 32);
  scalar::QuantizeActQ8x32(x.data(), a_sc.data(), n, 8);
  if (DetectCpu().avx2) {
    avx2::QuantizeQ8K(x.data(), simd.data(), n);
    EXPECT_EQ(std::memcmp(ref.data(), simd.data(), sizeof(quant::BlockQ8_K) * ref.size()), 0);
    for (int offset : {8, 16, 128, -1}) {
      scalar::QuantizeActQ8x32(x.data(), a_sc.data(), n, offset);
      avx2::QuantizeActQ8x32(x.data(), a_simd.data(), n, offset);
      EXPECT_EQ(std::memcmp(a_sc.data(), a_simd.data(), sizeof(ActQ8x32) * a_sc.size()), 0) << offset;
    }
  }
}

// Run-time Q8_0 weights (kernels.h QuantizeQ8_0): the AVX2 version gives the scalar bits, NaN, inf,
// subnormals and zero blocks included, and every finite block dequantizes to within half a level
// (amax/254) plus the f16 rounding of its scale (127 levels × 2^-11 relative).
TEST(KernelsAccuracy, RunTimeQ8_0Weights) {
  const std::vector<float> x = ValuesWithSpecials(19);
  const int64_t n = int64_t(x.size());
  std::vector<quant::BlockQ8_0> sc(n / 32), simd(n / 32);
  scalar::QuantizeQ8_0(x.data(), sc.data(), n);
  if (DetectCpu().avx2) {
    avx2::QuantizeQ8_0(x.data(), simd.data(), n);
    EXPECT_EQ(std::memcmp(sc.data(), simd.data(), sizeof(quant::BlockQ8_0) * sc.size()), 0);
  }
  std::vector<float> back(n);
  quant::DequantizeRow(DType::Q8_0, sc.data(), back.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    if (b == 5 / 32 || b == 300 / 32) continue;  // the NaN and inf blocks
    float amax = 0;
    for (int64_t i = 32 * b; i < 32 * b + 32; ++i) amax = std::max(amax, std::fabs(x[size_t(i)]));
    for (int64_t i = 32 * b; i < 32 * b + 32; ++i)
      ASSERT_NEAR(back[size_t(i)], x[size_t(i)], amax * (1.f / 254.f + 1.f / 2048.f) + 1e-30f) << i;
  }
}

// The residual of an ActQ8x32 row: the AVX2 version gives the scalar bits, and a split activation
// (hi + lo) takes a Q8_0 dot product from the one-row error (~1/250) to ~1/30000 of exact.
TEST(KernelsAccuracy, SplitActivation) {
  std::mt19937 rng(17);
  const int64_t n = 512;
  std::vector<float> x = RandomValues(n, rng, 3.f);
  x[40] = 1e-40f;  // subnormal
  std::fill(x.begin() + 64, x.begin() + 96, 0.f);  // an all-zero block
  x[200] = 250.f;  // an outlier that coarsens its block
  std::vector<ActQ8x32> q(n / 32);
  scalar::QuantizeActQ8x32(x.data(), q.data(), n, 128);
  std::vector<float> r_sc(n), r_simd(n);
  scalar::ResidualQ8x32(x.data(), q.data(), r_sc.data(), n);
  if (DetectCpu().avx2) {
    avx2::ResidualQ8x32(x.data(), q.data(), r_simd.data(), n);
    EXPECT_EQ(std::memcmp(r_sc.data(), r_simd.data(), n * sizeof(float)), 0);
  }
  const int64_t rows = 8;
  std::vector<float> wf = RandomValues(rows * n, rng, 1.f);
  std::vector<uint8_t> w(RowBytes(DType::Q8_0, n) * rows);
  for (int64_t r = 0; r < rows; ++r)
    quant::QuantizeRow(DType::Q8_0, wf.data() + r * n, w.data() + size_t(r) * RowBytes(DType::Q8_0, n), n);
  std::vector<uint8_t> hi(ActivationRowBytes(DType::Q8_0, n)), lo(hi.size());
  std::vector<float> residual(n), y_hi(rows), y_lo(rows), y_one(rows);
  PrepareActivationSplit(DType::Q8_0, x.data(), hi.data(), lo.data(), residual.data(), n);
  GemvRows(DType::Q8_0, w.data(), RowBytes(DType::Q8_0, n), hi.data(), n, 0, rows, y_hi.data());
  GemvRows(DType::Q8_0, w.data(), RowBytes(DType::Q8_0, n), lo.data(), n, 0, rows, y_lo.data());
  std::vector<float> w_row(n);
  double err_one = 0, err_split = 0;
  for (int64_t r = 0; r < rows; ++r) {
    quant::DequantizeRow(DType::Q8_0, w.data() + size_t(r) * RowBytes(DType::Q8_0, n), w_row.data(), n);
    double exact = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += double(w_row[size_t(i)]) * x[size_t(i)];
      scale += std::abs(double(w_row[size_t(i)]) * x[size_t(i)]);
    }
    err_one = std::max(err_one, std::abs(y_hi[size_t(r)] - exact) / scale);
    err_split = std::max(err_split, std::abs(double(y_hi[size_t(r)]) + y_lo[size_t(r)] - exact) / scale);
  }
  // Measured: 4.2e-3 for one row, 3.0e-5 for the split (of the sum of |w·x| terms).
  EXPECT_GT(err_one, 1e-3);  // one 8-bit row is visibly rounded...
  EXPECT_LT(err_split, 1e-4);  // ...the split is not
  EXPECT_LT(err_split * 20, err_one) << err_split << " " << err_one;
}

TEST(KernelsAccuracy, ActivationFormats) {
  EXPECT_EQ(ActivationRowBytesAs(DType::Q8_0, 64), 2 * sizeof(ActQ8x32));
  EXPECT_EQ(ActivationRowBytesAs(DType::Q8_K, 512), 2 * sizeof(quant::BlockQ8_K));
  EXPECT_EQ(ActivationRowBytesAs(DType::BF16, 10), 20u);
  EXPECT_EQ(ActivationRowBytesAs(DType::F32, 10), 40u);
  const KernelTable scalar_table = BuildTable(CpuFeatures{});
  EXPECT_EQ(scalar_table.For(DType::Q4_0).act, DType::Q8_0);
  EXPECT_EQ(scalar_table.For(DType::Q4_K).act, DType::Q8_K);
  EXPECT_EQ(scalar_table.For(DType::Q8_1).act, DType::F32);  // generic path
  EXPECT_EQ(scalar_table.For(DType::BF16).act, DType::F32);
}

}  // namespace
}  // namespace mla::kernels::test
