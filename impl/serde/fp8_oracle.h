// Test oracle: CUDA's host fp8 conversions from cuda_fp8.h (no GPU, no CUDA
// library; only the header), with __NV_NOSAT and torch's NaN sign restored
// (serde.md §3.9). Built only when the header is found; tests only.
#pragma once

#include <cstdint>

#include "serde/fp8.h"

namespace lmc::serde::oracle {

std::uint8_t FloatToFp8(float x, Fp8Format f);
std::uint8_t BFloat16ToFp8(std::uint16_t bits, Fp8Format f);
std::uint8_t HalfToFp8(std::uint16_t bits, Fp8Format f);
// CUDA's decoding to fp16 bits (every NaN becomes 0x7FFF).
std::uint16_t Fp8ToHalf(std::uint8_t code, Fp8Format f);

}  // namespace lmc::serde::oracle
