// The fp8 casts against CUDA's host conversion from cuda_fp8.h, the oracle
// the issue names: __nv_cvt_*_to_fp8 with __NV_NOSAT, corrected for the one
// known difference from torch's CPU cast, the sign of NaN (serde.md §3.9).
// bf16 and fp16 go through CUDA's own 16-bit entry points, so our widening
// is checked too. Exhaustive over all 65,536 patterns of each, both formats.
// The same comparison over all 2^32 float32 inputs is fp8_fp32_exhaustive
// (label "exhaustive", ci/exhaustive.sh).
#include <gtest/gtest.h>

#include <cmath>

#include <cstring>
#include <vector>

#include "serde/fp8.h"
#include "serde/fp8_kernels.h"
#include "serde/fp8_oracle.h"

namespace lmc::serde {
namespace {

// Every 16-bit pattern, both formats: our widening then our cast, against
// CUDA's own entry point for that 16-bit type.
void CheckAll16BitPatterns(const char* name, float (*widen)(std::uint16_t),
                           std::uint8_t (*oracle_cast)(std::uint16_t, Fp8Format)) {
  for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
    int mismatches = 0;
    for (std::uint32_t b = 0; b < 65536; ++b) {
      const auto bits = static_cast<std::uint16_t>(b);
      const std::uint8_t want = oracle_cast(bits, f);
      const std::uint8_t got = FloatToFp8(widen(bits), f);
      if (got != want && ++mismatches <= 5) {
        ADD_FAILURE() << name << " " << std::hex << b << ": " << int(got) << " want " << int(want);
      }
    }
    EXPECT_EQ(mismatches, 0) << name;
  }
}

TEST(Fp8Oracle, AllBFloat16Inputs) { CheckAll16BitPatterns("bf16", BFloat16ToFloat, oracle::BFloat16ToFp8); }

TEST(Fp8Oracle, AllFloat16Inputs) { CheckAll16BitPatterns("fp16", HalfToFloat, oracle::HalfToFp8); }

// The batch kernels against CUDA directly, every form this CPU runs (the
// portable one included, which the kernel tests otherwise check against a
// reference of their own), on every 16-bit pattern in one batch.
TEST(Fp8Oracle, EveryKernelFormMatchesCudaOnEvery16BitPattern) {
  std::vector<std::byte> src(65536 * 2);
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    std::memcpy(src.data() + 2 * b, &bits, 2);
  }
  for (const base::CpuLevel level : {base::CpuLevel::kPortable, base::CpuLevel::kAvx2, base::CpuLevel::kAvx512}) {
    if (base::HardwareCpuLevel() < level) continue;
    const detail::Fp8Kernels k = detail::KernelsFor(level);
    for (const DType from : {DType::kBFloat16, DType::kFloat16}) {
      for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
        std::vector<std::uint8_t> got(65536);
        k.encode(from, src.data(), got.data(), got.size(), f);
        int mismatches = 0;
        for (std::uint32_t b = 0; b < 65536; ++b) {
          const auto bits = static_cast<std::uint16_t>(b);
          const std::uint8_t want =
              from == DType::kBFloat16 ? oracle::BFloat16ToFp8(bits, f) : oracle::HalfToFp8(bits, f);
          if (got[b] != want && ++mismatches <= 5) {
            ADD_FAILURE() << base::CpuLevelName(level) << " " << DTypeName(from) << " " << std::hex << b << ": "
                          << int(got[b]) << " want " << int(want);
          }
        }
        EXPECT_EQ(mismatches, 0) << base::CpuLevelName(level);
      }
    }
  }
}

TEST(Fp8Oracle, DecodingMatchesCudaForEveryNonNaNCode) {
  for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
    for (int code = 0; code < 256; ++code) {
      const float v = Fp8ToFloat(static_cast<std::uint8_t>(code), f);
      const std::uint16_t want = oracle::Fp8ToHalf(static_cast<std::uint8_t>(code), f);
      if (std::isnan(v)) {
        EXPECT_EQ(want & 0x7FFF, 0x7FFF) << code;  // CUDA: canonical NaN
        continue;
      }
      EXPECT_EQ(FloatToHalfExact(v), want) << code;
    }
  }
}

}  // namespace
}  // namespace lmc::serde
