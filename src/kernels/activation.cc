// Activation quantization into the layouts of kernels_internal.h: ActQ8x32 for the 32-element
// block types and Q8_K for the super-block types (and run-time Q8_0 weights, kernels.h
// QuantizeQ8_0), all with the one rule of Q8_K (quant.h):
// id = 127 / amax, q = round-to-even(x * id) clamped to [-127, 127], d = 1 / id. Scalar versions
// here; activation_avx2.cc has the same arithmetic on 8 lanes (bit-identical, tested).
#include <algorithm>
#include <cmath>

#include "base/cpu.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels {
namespace {

// Clamped before the conversion so NaN / inf never reach an int cast (NaN -> -127).
inline int8_t Level(float v) {
  return int8_t(!(v >= -127.f) ? -127 : v > 127.f ? 127 : int(std::nearbyint(v)));
}

// Scale of a block: returns id (0 for an all-zero block) and sets *d.
inline float BlockScale(const float* x, int n, float* d) {
  float amax = 0.f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float id = amax > 0.f ? 127.f / amax : 0.f;
  *d = amax > 0.f ? 1.f / id : 0.f;
  return id;
}

}  // namespace

int ActQ8x32Offset(DType weight) {
  switch (weight) {
    case DType::Q4_0:
      return 8;
    case DType::Q5_0:
      return 16;
    case DType::Q4_1:
    case DType::Q5_1:
      return -1;
    default:
      return 128;
  }
}

namespace scalar {

void QuantizeActQ8x32(const float* x, ActQ8x32* dst, int64_t n, int offset) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    ActQ8x32& o = dst[b];
    const float id = BlockScale(x, 32, &o.d);
    for (int i = 0; i < 32; ++i) o.qs[i] = Level(x[i] * id);
    o.neg_sum = 0;
    for (int j = 0; j < 8; ++j) {
      o.neg_sums[j] = -offset * (o.qs[4 * j] + o.qs[4 * j + 1] + o.qs[4 * j + 2] + o.qs[4 * j + 3]);
      o.neg_sum += o.neg_sums[j];
    }
  }
}

void QuantizeQ8_0(const float* x, quant::BlockQ8_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float d;
    const float id = BlockScale(x, 32, &d);
    dst[b].d = F32ToF16(d);
    for (int i = 0; i < 32; ++i) dst[b].qs[i] = Level(x[i] * id);
  }
}

void QuantizeQ8K(const float* x, quant::BlockQ8_K* dst, int64_t n) {
  for (int64_t b = 0; b < n / quant::kQK_K; ++b, x += quant::kQK_K) {
    quant::BlockQ8_K& o = dst[b];
    const float id = BlockScale(x, quant::kQK_K, &o.d);
    for (int i = 0; i < quant::kQK_K; ++i) o.qs[i] = Level(x[i] * id);
    for (int g = 0; g < quant::kQK_K / 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += o.qs[16 * g + i];
      o.bsums[g] = int16_t(s);
    }
  }
}

void ConvertToBF16(const float* x, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = F32ToBF16(x[i]);
}

void ConvertF16ToF32(const uint16_t* x, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(x[i]);
}

void ResidualQ8x32(const float* x, const ActQ8x32* q, float* r, int64_t n) {
  for (int64_t i = 0; i < n; ++i) r[i] = x[i] - q[i / 32].d * float(q[i / 32].qs[i % 32]);
}

}  // namespace scalar

void ConvertToBF16(const float* x, uint16_t* dst, int64_t n) {
  if (Cpu().avx2)
    avx2::ConvertToBF16(x, dst, n);
  else
    scalar::ConvertToBF16(x, dst, n);
}

void ConvertF16ToF32(const uint16_t* x, float* dst, int64_t n) {
  if (Cpu().avx2)
    avx2::ConvertF16ToF32(x, dst, n);
  else
    scalar::ConvertF16ToF32(x, dst, n);
}

void ResidualQ8x32(const float* x, const ActQ8x32* q, float* r, int64_t n) {
  if (Cpu().avx2)
    avx2::ResidualQ8x32(x, q, r, n);
  else
    scalar::ResidualQ8x32(x, q, r, n);
}

void QuantizeActQ8x32(const float* x, ActQ8x32* dst, int64_t n, int offset) {
  if (Cpu().avx2)
    avx2::QuantizeActQ8x32(x, dst, n, offset);
  else
    scalar::QuantizeActQ8x32(x, dst, n, offset);
}

void QuantizeQ8_0(const float* x, void* dst, int64_t n) {
  if (Cpu().avx2)
    avx2::QuantizeQ8_0(x, static_cast<quant::BlockQ8_0*>(dst), n);
  else
    scalar::QuantizeQ8_0(x, static_cast<quant::BlockQ8_0*>(dst), n);
}

void QuantizeQ8K(const float* x, quant::BlockQ8_K* dst, int64_t n) {
  if (Cpu().avx2)
    avx2::QuantizeQ8K(x, dst, n);
  else
    scalar::QuantizeQ8K(x, dst, n);
}

}  // namespace mla::kernels
