// Run-time CPU feature selection. Vector code paths are compiled for several
// instruction sets and picked once at start-up from what the CPU reports, so
// one binary runs on any x86-64 (CI machines may lack AVX-512) and uses the
// widest path available here.
//
// LMC_CPU_LEVEL=portable|sse2|avx2|avx512 in the environment caps the level
// (for benchmarks and for running every path's tests on one machine).
#pragma once

#include <cstdint>
#include <string_view>

namespace lmc::base {

enum class CpuLevel : std::uint8_t {
  kPortable = 0,  // plain C++
  kSse2 = 1,      // x86-64 baseline
  kAvx2 = 2,      // AVX2 + BMI2 (and so LZCNT, F16C, FMA)
  kAvx512 = 3,    // AVX-512 F/BW/VL/DQ on top of kAvx2
};

// What this CPU supports, capped by LMC_CPU_LEVEL. Computed once.
CpuLevel DetectedCpuLevel();

// What this CPU supports, ignoring the environment.
CpuLevel HardwareCpuLevel();

std::string_view CpuLevelName(CpuLevel level);

}  // namespace lmc::base
