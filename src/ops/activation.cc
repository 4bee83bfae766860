#include "ops/activation.h"

#include "kernels/kernels.h"

namespace mla::ops {

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  kernels::SiluMul(gate, up, out, n);
}

}  // namespace mla::ops
