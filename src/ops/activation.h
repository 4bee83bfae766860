// SwiGLU's gate (spec §4.1): out = SiLU(gate) ⊙ up, SiLU(z) = z / (1 + e^(−z)).
#pragma once

#include <cstdint>

namespace mla::ops {

// `out` may equal `gate` or `up`.
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

}  // namespace mla::ops
