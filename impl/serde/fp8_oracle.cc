#include "serde/fp8_oracle.h"

#include <cuda_fp8.h>

#include <cmath>
#include <cstring>

namespace lmc::serde::oracle {
namespace {

__nv_fp8_interpretation_t Interp(Fp8Format f) { return f == Fp8Format::kE4M3FN ? __NV_E4M3 : __NV_E5M2; }

// CUDA's host path drops the sign of NaN; torch keeps it.
std::uint8_t WithNaNSign(std::uint8_t cuda, bool is_nan, bool negative) {
  if (!is_nan) return cuda;
  return static_cast<std::uint8_t>(0x7F | (negative ? 0x80 : 0));
}

}  // namespace

std::uint8_t FloatToFp8(float x, Fp8Format f) {
  const auto out = static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(x, __NV_NOSAT, Interp(f)));
  return WithNaNSign(out, std::isnan(x), std::signbit(x));
}

// The two 16-bit entry points differ only in their raw type and in where
// the exponent and mantissa bits of a NaN are.
std::uint8_t BFloat16ToFp8(std::uint16_t bits, Fp8Format f) {
  __nv_bfloat16_raw raw;
  raw.x = bits;
  const bool is_nan = (bits & 0x7F80u) == 0x7F80u && (bits & 0x7Fu) != 0;
  return WithNaNSign(static_cast<std::uint8_t>(__nv_cvt_bfloat16raw_to_fp8(raw, __NV_NOSAT, Interp(f))), is_nan,
                     (bits & 0x8000u) != 0);
}

std::uint8_t HalfToFp8(std::uint16_t bits, Fp8Format f) {
  __half_raw raw;
  raw.x = bits;
  const bool is_nan = (bits & 0x7C00u) == 0x7C00u && (bits & 0x3FFu) != 0;
  return WithNaNSign(static_cast<std::uint8_t>(__nv_cvt_halfraw_to_fp8(raw, __NV_NOSAT, Interp(f))), is_nan,
                     (bits & 0x8000u) != 0);
}

std::uint16_t Fp8ToHalf(std::uint8_t code, Fp8Format f) {
  const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), Interp(f));
  return h.x;
}

}  // namespace lmc::serde::oracle
