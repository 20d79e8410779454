#include "base/cpu.h"

#include <cstdlib>
#include <cstring>

namespace lmc::base {

CpuLevel HardwareCpuLevel() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2")) {
    return CpuLevel::kAvx512;
  }
  // Every CPU with AVX2 and BMI2 (Haswell and later) also has F16C, LZCNT and
  // FMA; clang's __builtin_cpu_supports cannot name F16C, so it is implied.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2")) {
    return CpuLevel::kAvx2;
  }
  return CpuLevel::kSse2;
#else
  return CpuLevel::kPortable;
#endif
}

CpuLevel DetectedCpuLevel() {
  static const CpuLevel level = [] {
    CpuLevel hw = HardwareCpuLevel();
    const char* cap = std::getenv("LMC_CPU_LEVEL");
    if (cap == nullptr) return hw;
    for (CpuLevel l : {CpuLevel::kPortable, CpuLevel::kSse2, CpuLevel::kAvx2, CpuLevel::kAvx512}) {
      if (CpuLevelName(l) == cap && l < hw) return l;
    }
    return hw;
  }();
  return level;
}

std::string_view CpuLevelName(CpuLevel level) {
  switch (level) {
    case CpuLevel::kPortable: return "portable";
    case CpuLevel::kSse2: return "sse2";
    case CpuLevel::kAvx2: return "avx2";
    case CpuLevel::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace lmc::base
