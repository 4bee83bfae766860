#include "base/cpu.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>

namespace mla {

CpuFeatures DetectCpu() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), f16c = c & (1u << 29), osxsave = c & (1u << 27);
  if (!osxsave) return f;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm = (xlo & 6) == 6, zmm = (xlo & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm && fma && f16c && (b & (1u << 5));
  f.avx512 = f.avx2 && zmm && (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) &&
             (b & (1u << 31));
  f.avx512_vnni = f.avx512 && (c & (1u << 11));
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = f.avx512 && (a1 & (1u << 5));
  return f;
}

const CpuFeatures& Cpu() {
  static const CpuFeatures features = [] {
    CpuFeatures f = DetectCpu();
    const char* isa = std::getenv("MLA_ISA");
    if (isa && std::strcmp(isa, "scalar") == 0) f = CpuFeatures{};
    if (isa && std::strcmp(isa, "avx2") == 0) {
      f.avx512 = f.avx512_vnni = f.avx512_bf16 = false;
    }
    return f;
  }();
  return features;
}

std::string CpuFeatures::Describe() const {
  std::string s = avx2 ? "AVX2" : "scalar";
  if (avx512) s += " AVX512";
  if (avx512_vnni) s += " VNNI";
  if (avx512_bf16) s += " BF16";
  return s;
}

}  // namespace mla
