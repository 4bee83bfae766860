// What the CPU can do, read once (CPUID). Kernels are chosen from this at run time.
#pragma once

#include <string>

namespace mla {

struct CpuFeatures {
  bool avx2 = false;      // with FMA and F16C
  bool avx512 = false;    // F, BW, DQ, VL
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  std::string Describe() const;
};

// The real features, masked by the environment variable MLA_ISA=scalar|avx2|avx512 (for tests
// and benchmarks that compare kernels).
const CpuFeatures& Cpu();
// Features actually present, ignoring MLA_ISA.
CpuFeatures DetectCpu();

}  // namespace mla
