// The fp8 batch casts in three forms: portable (the scalar reference of
// fp8.h in a loop), AVX2 and AVX-512, chosen once at start-up from the CPU
// (base::DetectedCpuLevel, capped by LMC_CPU_LEVEL). Every form gives the
// same bytes as the scalar reference; tests check each form this CPU can run
// on every 16-bit input pattern and every fp8 code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/cpu.h"
#include "serde/dtype.h"
#include "serde/fp8.h"

namespace lmc::serde::detail {

struct Fp8Kernels {
  // `n` elements of `from` (bfloat16, float16 or float32) at `src` to fp8.
  void (*encode)(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n, Fp8Format f);
  // `n` fp8 codes to `to` (bfloat16, float16 or float32).
  void (*decode)(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n, Fp8Format f);
  base::CpuLevel level;
};

// The form for `level` (a level without its own form gets the next lower).
Fp8Kernels KernelsFor(base::CpuLevel level);
// The form in use: KernelsFor(base::DetectedCpuLevel()), chosen once.
const Fp8Kernels& ActiveKernels();

}  // namespace lmc::serde::detail
