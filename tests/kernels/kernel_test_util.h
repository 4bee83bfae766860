// Shared by the kernels tests: the kernel tables this CPU can run, random weights and activations,
// float64 reference dot products.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/cpu.h"
#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace mla::kernels::test {

struct IsaTable {
  std::string name;
  KernelTable table;
};

// Scalar always; then every SIMD column this machine can run (AVX-512 with and without BF16).
inline std::vector<IsaTable> AvailableTables() {
  const CpuFeatures real = DetectCpu();
  std::vector<IsaTable> v;
  v.push_back({"scalar", BuildTable(CpuFeatures{})});
  if (real.avx2) {
    CpuFeatures f{};
    f.avx2 = true;
    v.push_back({"avx2", BuildTable(f)});
  }
  if (real.avx512 && real.avx512_vnni) {
    CpuFeatures f = real;
    f.avx512_bf16 = false;
    v.push_back({"avx512", BuildTable(f)});
    if (real.avx512_bf16) v.push_back({"avx512bf16", BuildTable(real)});
  }
  return v;
}

// The weight types with their own kernels.
inline const std::vector<DType>& KernelTypes() {
  static const std::vector<DType> types = {
      DType::Q4_0, DType::Q4_1, DType::Q5_0,   DType::Q5_1, DType::Q8_0, DType::IQ4_NL, DType::Q2_K,
      DType::Q3_K, DType::Q4_K,
      DType::Q5_K, DType::Q6_K, DType::IQ4_XS, DType::F32,  DType::F16,  DType::BF16};
  return types;
}

inline bool IsFloatType(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Values with the shapes real tensors have: mostly normal, some outliers, some all-zero blocks.
inline std::vector<float> RandomValues(int64_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> nd(0.f, scale);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    x = nd(rng);
    if (u(rng) < 0.01f) x *= 30.f;
  }
  for (int64_t b = 0; b + 32 <= n; b += 32)
    if (u(rng) < 0.03f) std::fill(v.begin() + b, v.begin() + b + 32, 0.f);
  return v;
}

// Offsets of the f16 scale fields of one block (kept finite in raw-bit weights).
inline std::vector<size_t> ScaleOffsets(DType t) {
  switch (t) {
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};
    case DType::Q6_K:
      return {208};
    case DType::Q2_K:
      return {80, 82};
    case DType::Q3_K:
      return {108};
    case DType::Q4_1:
    case DType::Q5_1:
      return {0, 2};
    default:
      return {0};
  }
}

// `rows` rows of n elements. raw_bits: random bytes everywhere (every level and packed scale
// pattern, e.g. 6-bit scales of 63 and Q6_K scales of -128) with finite f16 scales; otherwise
// RandomValues quantized with quant::QuantizeRow.
inline std::vector<uint8_t> RandomWeights(DType type, int64_t rows, int64_t n, std::mt19937& rng,
                                          bool raw_bits) {
  const size_t rb = RowBytes(type, n);
  std::vector<uint8_t> w(rb * size_t(rows));
  if (raw_bits && !IsFloatType(type)) {
    for (uint8_t& b : w) b = uint8_t(rng());
    const DTypeInfo& info = Info(type);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (size_t b = 0; b < w.size() / info.block_bytes; ++b)
      for (size_t off : ScaleOffsets(type)) {
        const uint16_t h = F32ToF16(std::ldexp(u(rng), -int(rng() % 12)));
        std::memcpy(&w[b * info.block_bytes + off], &h, 2);
      }
    return w;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> x = RandomValues(n, rng, 0.05f);
    quant::QuantizeRow(type, x.data(), &w[size_t(r) * rb], n);
  }
  return w;
}

// Activation rows in the format `act` (for weights of `weight`), act_stride bytes apart.
struct Activations {
  std::vector<float> x;       // n_tokens x n, the f32 inputs
  std::vector<uint8_t> data;  // prepared rows
  size_t stride = 0;
};
inline Activations MakeActivations(DType act, DType weight, int64_t n_tokens, int64_t n,
                                   std::mt19937& rng) {
  Activations a;
  a.x = RandomValues(n * n_tokens, rng, 2.f);
  a.stride = ActivationRowBytesAs(act, n) + 64;  // padded: kernels must honour the stride
  a.data.assign(a.stride * size_t(n_tokens), 0xCD);
  for (int64_t t = 0; t < n_tokens; ++t)
    PrepareActivationAs(act, weight, &a.x[size_t(t * n)], &a.data[size_t(t) * a.stride], n);
  return a;
}

// The prepared activation row as floats (what the integer kernels multiply by).
inline std::vector<float> DequantizeActivation(DType act, const uint8_t* row, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  if (act == DType::Q8_0) {
    const ActQ8x32* b = reinterpret_cast<const ActQ8x32*>(row);
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = b[i / 32].d * float(b[i / 32].qs[i % 32]);
  } else {
    quant::DequantizeRow(act, row, v.data(), n);
  }
  return v;
}

// y[t * ldy + (r - r0)] of one kernel call, with a guard value around every output.
inline std::vector<float> RunKernel(GemmFn gemm, const std::vector<uint8_t>& w, size_t rb, const Activations& a,
                                    int64_t n_tokens, int64_t n, int64_t r0, int64_t r1) {
  const int64_t ldy = (r1 - r0) + 3;
  std::vector<float> y(size_t(ldy * n_tokens), -7.f);
  gemm(w.data(), rb, a.data.data(), a.stride, n_tokens, n, r0, r1, y.data(), ldy);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t k = r1 - r0; k < ldy; ++k) EXPECT_EQ(y[size_t(t * ldy + k)], -7.f) << "wrote past r1";
  return y;
}

inline bool SameBits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

}  // namespace mla::kernels::test
