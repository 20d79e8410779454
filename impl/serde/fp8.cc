#include "serde/fp8.h"

#include <cmath>

namespace lmc::serde {
namespace {

std::uint32_t Bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float FromBits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Parameters of one fp8 format as seen from float32's bit pattern.
struct Format {
  int mantissa_bits;           // 3 or 2
  int bias;                    // 7 or 15
  std::uint32_t overflow_at;   // |x| bits at or above this: the overflow code
  std::uint8_t overflow_code;  // NaN (e4m3fn) or inf (e5m2), before the sign
  float subnormal_scale;       // 1 / smallest subnormal
};

constexpr Format kE4M3{3, 7, 0x43E80001u /* just above 464 */, 0x7F, 512.0f};
constexpr Format kE5M2{2, 15, 0x47700000u /* 61440 */, 0x7C, 65536.0f};

}  // namespace

std::uint8_t FloatToFp8(float x, Fp8Format fmt) {
  const Format& f = fmt == Fp8Format::kE4M3FN ? kE4M3 : kE5M2;
  const std::uint32_t u = Bits(x);
  const auto sign = static_cast<std::uint8_t>((u >> 24) & 0x80);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<std::uint8_t>(0x7F | sign);  // NaN keeps its sign
  if (a >= f.overflow_at) return static_cast<std::uint8_t>(f.overflow_code | sign);
  // Smallest normal of the format: exponent field 1.
  const std::uint32_t min_normal = static_cast<std::uint32_t>(127 - f.bias + 1) << 23;
  if (a >= min_normal) {
    // Round to nearest even on the float's bits: add half an ulp of the
    // result minus one, plus the bit that will be kept last, then truncate.
    const int drop = 23 - f.mantissa_bits;
    const std::uint32_t rounded = a + ((1u << (drop - 1)) - 1) + ((a >> drop) & 1u);
    const std::uint32_t rebias = static_cast<std::uint32_t>(127 - f.bias) << f.mantissa_bits;
    return static_cast<std::uint8_t>(((rounded >> drop) - rebias) | sign);
  }
  // Subnormal (or zero): the count of smallest subnormals, rounded to nearest
  // even by the FPU (the scaling by a power of two is exact).
  const float scaled = FromBits(a) * f.subnormal_scale;
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(std::nearbyint(scaled)) | sign);
}

float Fp8ToFloat(std::uint8_t code, Fp8Format fmt) {
  const bool negative = (code & 0x80) != 0;
  const unsigned body = code & 0x7Fu;
  float v;
  if (fmt == Fp8Format::kE4M3FN) {
    if (body == 0x7F) return negative ? -std::nanf("") : std::nanf("");
    const unsigned e = body >> 3, m = body & 7u;
    v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
               : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, static_cast<int>(e) - 7);
  } else {
    const unsigned e = body >> 2, m = body & 3u;
    if (e == 31) {
      if (m == 0) return negative ? -INFINITY : INFINITY;
      return negative ? -std::nanf("") : std::nanf("");
    }
    v = e == 0 ? std::ldexp(static_cast<float>(m), -16)
               : std::ldexp(1.0f + static_cast<float>(m) / 4.0f, static_cast<int>(e) - 15);
  }
  return negative ? -v : v;
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const unsigned e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  if (e == 0x1F) return FromBits(sign | 0x7F800000u | (static_cast<std::uint32_t>(m) << 13));  // inf/NaN, payload kept
  if (e != 0) return FromBits(sign | ((e + 127 - 15) << 23) | (static_cast<std::uint32_t>(m) << 13));
  // Zero or subnormal: m * 2^-24, exact in float.
  const float v = std::ldexp(static_cast<float>(m), -24);
  return sign != 0 ? -v : v;
}

std::uint16_t FloatToBFloat16Exact(float x) {
  const std::uint32_t u = Bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>(((u >> 16) & 0x8000u) | 0x7FC0u);
  return static_cast<std::uint16_t>(u >> 16);  // exact: the value fits bf16
}

std::uint16_t FloatToHalfExact(float x) {
  const std::uint32_t u = Bits(x);
  const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);
  if (a == 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00u);
  const int e = static_cast<int>(a >> 23) - 127;
  if (a == 0) return sign;
  if (e >= -14) {
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>((e + 15) << 10) | ((a & 0x7FFFFFu) >> 13));
  }
  // Subnormal half: the value is a multiple of 2^-24 (fp8 values are).
  const float v = FromBits(a);
  return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::ldexp(v, 24)));
}

}  // namespace lmc::serde
