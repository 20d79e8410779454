// The fp8 casts against serde.md §3.6's table of edge values (torch's CPU
// bytes) and basic round trips. The exhaustive comparison with CUDA's host
// conversion is fp8_oracle_test.cc.
#include "serde/fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lmc::serde {
namespace {

constexpr auto kE4 = Fp8Format::kE4M3FN;
constexpr auto kE5 = Fp8Format::kE5M2;

TEST(Fp8, EdgeValuesMatchTorch) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    Fp8Format f;
    float x;
    int want;
  };
  const Case cases[] = {
      {kE4, 448.0f, 0x7e},
      {kE4, 449.0f, 0x7e},
      {kE4, 464.0f, 0x7e},
      {kE4, 464.5f, 0x7f},
      {kE4, 479.9f, 0x7f},
      {kE4, 480.0f, 0x7f},
      {kE4, 1e6f, 0x7f},
      {kE4, inf, 0x7f},
      {kE4, -inf, 0xff},
      {kE4, -nan, 0xff},
      {kE4, nan, 0x7f},
      {kE4, -0.0f, 0x80},
      {kE4, std::ldexp(1.0f, -10), 0x00},
      {kE4, 1.5f * std::ldexp(1.0f, -10), 0x01},
      {kE4, 1.0625f, 0x38},
      {kE4, 1.1875f, 0x3a},
      {kE5, 57345.0f, 0x7b},
      {kE5, 61440.0f, 0x7c},
      {kE5, inf, 0x7c},
      {kE5, -inf, 0xfc},
      {kE5, -nan, 0xff},
      {kE5, std::ldexp(1.0f, -17), 0x00},
      {kE4, -std::ldexp(1.0f, -11), 0x80},  // a negative value that rounds to zero keeps its sign
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FloatToFp8(c.x, c.f), c.want) << "x=" << c.x << " format=" << static_cast<int>(c.f);
  }
}

TEST(Fp8, EveryFiniteCodeRoundTripsExactly) {
  for (const Fp8Format f : {kE4, kE5}) {
    for (int code = 0; code < 256; ++code) {
      const float v = Fp8ToFloat(static_cast<std::uint8_t>(code), f);
      if (std::isnan(v)) continue;
      if (std::isinf(v)) {
        EXPECT_EQ(f, kE5);
        EXPECT_EQ(FloatToFp8(v, f), code);
        continue;
      }
      EXPECT_EQ(FloatToFp8(v, f), code) << code;
      // Every fp8 value is exact in bf16 and fp16.
      EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16Exact(v)), v);
      EXPECT_EQ(HalfToFloat(FloatToHalfExact(v)), v);
    }
  }
}

TEST(Fp8, NaNCodesDecodeToNaNWithTheirSign) {
  EXPECT_TRUE(std::isnan(Fp8ToFloat(0x7f, kE4)));
  EXPECT_TRUE(std::signbit(Fp8ToFloat(0xff, kE4)));
  for (int code : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff})
    EXPECT_TRUE(std::isnan(Fp8ToFloat(static_cast<std::uint8_t>(code), kE5)));
  EXPECT_EQ(FloatToBFloat16Exact(Fp8ToFloat(0xff, kE4)), 0xFFC0);
  EXPECT_EQ(FloatToHalfExact(Fp8ToFloat(0x7f, kE4)), 0x7E00);
}

TEST(Fp8, HalfWideningIsExactForEveryPattern) {
  // fp16 -> float -> fp16 is the identity on every non-NaN pattern.
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToHalfExact(f), h);
  }
}

}  // namespace
}  // namespace lmc::serde
