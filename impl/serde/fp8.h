// fp8 casts exactly as PyTorch's CPU conversion does them (serde.md §3.5):
// bf16 and fp16 are widened to float32 exactly, then rounded once to the
// fp8 format, to nearest with ties to even, with no saturation:
//   e4m3fn: |x| > 464 (and inf) -> NaN 0x7F with the sign; 464 itself -> 448.
//   e5m2:   |x| >= 61440 (and inf) -> inf 0x7C with the sign.
//   NaN in -> 0x7F with the input's sign bit (CUDA's host cast drops it).
// Decoding is exact for every finite code; NaN codes decode to a quiet NaN
// with the code's sign (what torch does there is not established, §9).
//
// These are the scalar reference forms; the batch functions below choose a
// vectorised kernel at run time and are tested against these.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace lmc::serde {

enum class Fp8Format : std::uint8_t { kE4M3FN, kE5M2 };

std::uint8_t FloatToFp8(float x, Fp8Format f);
float Fp8ToFloat(std::uint8_t code, Fp8Format f);

// Exact widenings of the 16-bit formats (raw bits in, float out).
inline float BFloat16ToFloat(std::uint16_t bits) {
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float HalfToFloat(std::uint16_t bits);

// Exact narrowings for values that fit (every fp8 value does); NaN keeps its
// sign as a quiet NaN.
std::uint16_t FloatToBFloat16Exact(float x);
std::uint16_t FloatToHalfExact(float x);

}  // namespace lmc::serde
