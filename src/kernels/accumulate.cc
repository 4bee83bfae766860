// AccumulateRows (kernels.h): o[h][j] += sum_i p[h][i] * x_i[j], the value half of latent
// attention. Every output element is one chain of fused multiply-adds in row order, so the SIMD
// versions (accumulate_avx2.cc, accumulate_avx512.cc) equal this scalar twin bit for bit; bf16
// rows on AVX512_BF16 CPUs use VDPBF16PS instead (bf16 weights, pairs of rows), as BF16 weight
// matrices do (kernels.h), with its own scalar twin.
#include <cmath>
#include <cstring>

#include "base/cpu.h"
#include "base/fp16.h"
#include "kernels/kernels_internal.h"

namespace mla::kernels {

namespace scalar {
void AccumulateRowsF(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                     int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  for (int64_t h = 0; h < n_out; ++h)
    for (int64_t j = j0; j < j1; ++j) {
      float acc = o[h * ldo + j];
      for (int64_t i = 0; i < n_rows; ++i) {
        const uint8_t* row = rows + size_t(i) * row_bytes;
        float x;
        if (type == DType::F16 || type == DType::BF16) {
          uint16_t v;
          std::memcpy(&v, row + 2 * j, 2);
          x = type == DType::F16 ? F16ToF32(v) : BF16ToF32(v);
        } else {
          std::memcpy(&x, row + 4 * j, 4);
        }
        acc = std::fma(p[h * ldp + i], x, acc);
      }
      o[h * ldo + j] = acc;
    }
}

// The VDPBF16PS form for bf16 rows: weights rounded to bf16, rows taken in pairs (i, i+1) from
// the first, each pair adding the odd row's product and then the even row's (see DotBF16Pairs);
// a missing last odd row counts as zeros.
void AccumulateRowsBF16Pairs(const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                             int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t j0, int64_t j1) {
  auto x = [&](int64_t i, int64_t j) {
    uint16_t v;
    std::memcpy(&v, rows + size_t(i) * row_bytes + 2 * j, 2);
    return Bf16In(v);
  };
  for (int64_t h = 0; h < n_out; ++h)
    for (int64_t j = j0; j < j1; ++j) {
      float acc = o[h * ldo + j];
      for (int64_t i = 0; i < n_rows; i += 2) {
        const bool odd = i + 1 < n_rows;
        const float p1 = odd ? Bf16In(F32ToBF16(p[h * ldp + i + 1])) : 0.f;
        const float p0 = Bf16In(F32ToBF16(p[h * ldp + i]));
        acc = FlushSubnormal(acc + FlushSubnormal((odd ? x(i + 1, j) : 0.f) * p1));
        acc = FlushSubnormal(acc + FlushSubnormal(x(i, j) * p0));
      }
      o[h * ldo + j] = acc;
    }
}
}  // namespace scalar

bool CanAccumulateRows(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16;
}

void AccumulateRows(DType type, const uint8_t* rows, size_t row_bytes, int64_t n_rows, const float* p,
                    int64_t ldp, int64_t n_out, float* o, int64_t ldo, int64_t n_cols) {
  const CpuFeatures& cpu = Cpu();
  if (type == DType::BF16 && cpu.avx512 && cpu.avx512_bf16)
    avx512::AccumulateRowsBF16Pairs(rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, 0, n_cols);
  else if (cpu.avx512)
    avx512::AccumulateRowsF(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, 0, n_cols);
  else if (cpu.avx2)
    avx2::AccumulateRowsF(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, 0, n_cols);
  else
    scalar::AccumulateRowsF(type, rows, row_bytes, n_rows, p, ldp, n_out, o, ldo, 0, n_cols);
}

}  // namespace mla::kernels
