// Every fp8 kernel form this CPU can run, the portable one included, gives
// the bytes of an independent reference written here from the formats'
// definitions (each code's value from its exponent and mantissa fields, then
// round to nearest, ties to the even code, no saturation, as fp8.h states),
// not from the scalar casts of fp8.cc that the portable form is built on:
// all 65,536 bf16 and fp16 patterns, float32 edge and random patterns, all
// 256 codes back to each dtype, and lengths that end mid-vector. The vector
// forms must also match the portable form byte for byte (NaN payloads
// included). A form the CPU lacks reports skipped.
#include "serde/fp8_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace lmc::serde::detail {
namespace {

// ---- the reference ----------------------------------------------------------
//
// In double, where every bf16, fp16, float32 and fp8 value is exact, so each
// comparison below is exact too.

struct FormatDef {
  int mantissa_bits;
  int bias;
  unsigned max_finite;  // the largest finite code before the sign
};

FormatDef Def(Fp8Format f) { return f == Fp8Format::kE4M3FN ? FormatDef{3, 7, 0x7E} : FormatDef{2, 15, 0x7B}; }

// The magnitude a positive code stands for, by the IEEE-style definition;
// also for max_finite + 1, the first code past the top (e4m3fn's NaN, e5m2's
// infinity), whose value the rounding uses as the next step.
double CodeValue(unsigned code, const FormatDef& d) {
  const unsigned e = code >> d.mantissa_bits, m = code & ((1u << d.mantissa_bits) - 1);
  if (e == 0) return std::ldexp(static_cast<double>(m), 1 - d.bias - d.mantissa_bits);
  return std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -d.mantissa_bits), static_cast<int>(e) - d.bias);
}

// The values of codes 0 .. max_finite + 1, ascending.
std::vector<double> CodeValues(const FormatDef& d) {
  std::vector<double> v;
  for (unsigned c = 0; c <= d.max_finite + 1; ++c) v.push_back(CodeValue(c, d));
  return v;
}

// The code of `x` (NaN handled by the caller's flag): the nearest value,
// ties to the even code; at or past the first code over the top, the
// overflow code (which that first code is in both formats), so a value is
// never saturated to the largest finite one.
std::uint8_t RefEncode(double x, bool is_nan, Fp8Format f) {
  const FormatDef d = Def(f);
  static const std::array<std::vector<double>, 2> kValues = {CodeValues(Def(Fp8Format::kE4M3FN)),
                                                             CodeValues(Def(Fp8Format::kE5M2))};
  const std::vector<double>& v = kValues[f == Fp8Format::kE4M3FN ? 0 : 1];
  const auto sign = static_cast<std::uint8_t>(std::signbit(x) ? 0x80 : 0);
  if (is_nan) return static_cast<std::uint8_t>(0x7F | sign);
  const double a = std::fabs(x);
  unsigned code = d.max_finite + 1;
  if (a < v.back()) {
    // v[lo] <= a < v[lo + 1].
    const auto lo = static_cast<unsigned>(std::upper_bound(v.begin(), v.end(), a) - v.begin() - 1);
    const double below = a - v[lo], above = v[lo + 1] - a;
    code = below < above ? lo : above < below ? lo + 1 : (lo % 2 == 0 ? lo : lo + 1);
  }
  return static_cast<std::uint8_t>(code | sign);
}

// The 16-bit formats and float32, widened by their definitions.
double RefBFloat16(std::uint16_t b, bool* is_nan) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  *is_nan = std::isnan(x);
  return static_cast<double>(x);
}

double RefHalf(std::uint16_t h, bool* is_nan) {
  const bool negative = (h & 0x8000u) != 0;
  const unsigned e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  *is_nan = e == 0x1F && m != 0;
  double v;
  if (e == 0x1F) {
    v = std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -24);
  } else {
    v = std::ldexp(1.0 + static_cast<double>(m) / 1024.0, static_cast<int>(e) - 15);
  }
  return negative ? -v : v;
}

// What the reference says element `i` of `src` (in `from`) encodes to.
std::uint8_t RefEncodeElement(DType from, const std::byte* src, std::size_t i, Fp8Format f) {
  bool is_nan = false;
  double x;
  if (from == DType::kFloat32) {
    float v;
    std::memcpy(&v, src + 4 * i, 4);
    is_nan = std::isnan(v);
    x = static_cast<double>(v);
  } else {
    std::uint16_t b;
    std::memcpy(&b, src + 2 * i, 2);
    x = from == DType::kBFloat16 ? RefBFloat16(b, &is_nan) : RefHalf(b, &is_nan);
  }
  return RefEncode(x, is_nan, f);
}

// The bytes `code` decodes to in `to`: the exact value in that format, and
// for the NaN codes the canonical quiet NaN with the code's sign (fp8.h).
std::vector<std::byte> RefDecode(std::uint8_t code, DType to, Fp8Format f) {
  const FormatDef d = Def(f);
  const bool negative = (code & 0x80) != 0;
  const unsigned body = code & 0x7Fu;
  const bool is_nan = body > d.max_finite + (f == Fp8Format::kE5M2 ? 1u : 0u);
  const bool is_inf = f == Fp8Format::kE5M2 && body == d.max_finite + 1;
  const double a = CodeValue(body, d);
  std::vector<std::byte> out(DTypeBytes(to));
  const auto put = [&out](auto bits) { std::memcpy(out.data(), &bits, sizeof bits); };
  if (to == DType::kFloat32) {
    std::uint32_t bits;
    if (is_nan) {
      bits = 0x7FC00000u;
    } else if (is_inf) {
      bits = 0x7F800000u;
    } else {
      const auto x = static_cast<float>(a);  // exact
      std::memcpy(&bits, &x, 4);
    }
    put(static_cast<std::uint32_t>(bits | (negative ? 0x80000000u : 0u)));
  } else if (to == DType::kBFloat16) {
    std::uint32_t bits;
    if (is_nan) {
      bits = 0x7FC00000u;
    } else if (is_inf) {
      bits = 0x7F800000u;
    } else {
      const auto x = static_cast<float>(a);
      std::memcpy(&bits, &x, 4);
    }
    put(static_cast<std::uint16_t>((bits >> 16) | (negative ? 0x8000u : 0u)));
  } else {
    // float16: every fp8 value is a normal or a subnormal half exactly.
    unsigned bits;
    if (is_nan) {
      bits = 0x7E00u;
    } else if (is_inf) {
      bits = 0x7C00u;
    } else if (a < std::ldexp(1.0, -14)) {
      bits = static_cast<unsigned>(std::ldexp(a, 24));
    } else {
      int e = 0;
      const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
      bits = (static_cast<unsigned>(e - 1 + 15) << 10) | static_cast<unsigned>(std::ldexp(m, 11) - 1024.0);
    }
    put(static_cast<std::uint16_t>(bits | (negative ? 0x8000u : 0u)));
  }
  return out;
}

// The reference's own table checks: if it were wrong, every comparison with
// it would be too. These are values serde.md §3.6 and fp8.h state.
TEST(Fp8Reference, AgreesWithTheStatedEdges) {
  constexpr auto kE4 = Fp8Format::kE4M3FN;
  constexpr auto kE5 = Fp8Format::kE5M2;
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(CodeValue(0x7E, Def(kE4)), 448.0);
  EXPECT_EQ(CodeValue(0x7B, Def(kE5)), 57344.0);
  EXPECT_EQ(CodeValue(0x01, Def(kE4)), std::ldexp(1.0, -9));
  EXPECT_EQ(CodeValue(0x01, Def(kE5)), std::ldexp(1.0, -16));
  EXPECT_EQ(RefEncode(464.0, false, kE4), 0x7E);  // the tie goes to the even code
  EXPECT_EQ(RefEncode(464.5, false, kE4), 0x7F);  // past it: NaN, not 448
  EXPECT_EQ(RefEncode(-inf, false, kE4), 0xFF);
  EXPECT_EQ(RefEncode(61440.0, false, kE5), 0x7C);  // the tie goes to infinity (even)
  EXPECT_EQ(RefEncode(57345.0, false, kE5), 0x7B);
  EXPECT_EQ(RefEncode(1.0625, false, kE4), 0x38);  // tie between 1 and 1.125: even
  EXPECT_EQ(RefEncode(1.1875, false, kE4), 0x3A);
  EXPECT_EQ(RefEncode(-std::ldexp(1.0, -11), false, kE4), 0x80);
  EXPECT_EQ(RefEncode(std::ldexp(1.5, -10), false, kE4), 0x01);
  bool nan = false;
  EXPECT_EQ(RefHalf(0x3C00, &nan), 1.0);
  EXPECT_EQ(RefHalf(0x0001, &nan), std::ldexp(1.0, -24));
  EXPECT_EQ(RefHalf(0xFBFF, &nan), -65504.0);
}

// ---- the kernels against it -------------------------------------------------

class Fp8KernelsTest : public testing::TestWithParam<base::CpuLevel> {
 protected:
  void SetUp() override {
    if (base::HardwareCpuLevel() < GetParam()) GTEST_SKIP() << "this CPU lacks " << base::CpuLevelName(GetParam());
    kernels_ = KernelsFor(GetParam());
    ASSERT_EQ(kernels_.level, GetParam());
  }
  // Encodes `src` (n elements of `from`) with the form under test, in pieces
  // of `piece` elements (so tails are exercised), and compares each code with
  // the reference's and, for a vector form, with the portable form's.
  void ExpectEncodingMatches(DType from, const std::vector<std::byte>& src, std::size_t piece) {
    const std::size_t width = DTypeBytes(from), n = src.size() / width;
    const Fp8Kernels portable = KernelsFor(base::CpuLevel::kPortable);
    const bool vector_form = GetParam() != base::CpuLevel::kPortable;
    for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
      std::vector<std::uint8_t> got(n), same(n);
      for (std::size_t i = 0; i < n; i += piece) {
        const std::size_t k = std::min(piece, n - i);
        kernels_.encode(from, src.data() + i * width, got.data() + i, k, f);
        if (vector_form) portable.encode(from, src.data() + i * width, same.data() + i, k, f);
      }
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t want = RefEncodeElement(from, src.data(), i, f);
        if ((got[i] != want || (vector_form && got[i] != same[i])) && ++bad <= 5) {
          ADD_FAILURE() << DTypeName(from) << " format " << static_cast<int>(f) << " element " << i << ": "
                        << int(got[i]) << " want " << int(want) << " (portable form: " << int(same[i]) << ")";
        }
      }
      EXPECT_EQ(bad, 0u);
    }
  }
  Fp8Kernels kernels_{};
};

std::vector<std::byte> All16BitPatterns() {
  std::vector<std::byte> v(65536 * 2);
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto b = static_cast<std::uint16_t>(i);
    std::memcpy(v.data() + 2 * i, &b, 2);
  }
  return v;
}

TEST_P(Fp8KernelsTest, EncodesEveryBFloat16AndFloat16Pattern) {
  for (const std::size_t piece : {std::size_t{65536}, std::size_t{1}, std::size_t{7}, std::size_t{23}}) {
    ExpectEncodingMatches(DType::kBFloat16, All16BitPatterns(), piece);
    ExpectEncodingMatches(DType::kFloat16, All16BitPatterns(), piece);
  }
}

TEST_P(Fp8KernelsTest, EncodesFloat32EdgesAndRandomPatterns) {
  std::vector<std::uint32_t> bits;
  // Around every threshold: each bit pattern near the powers of two, the
  // overflow points and the subnormal ties, both signs.
  for (std::uint32_t e = 0; e < 256; ++e) {
    for (std::uint32_t d = 0; d < 64; ++d) {
      bits.push_back((e << 23) + d);
      bits.push_back((e << 23) - d);
      bits.push_back((e << 23) + (1u << 19) + d - 32);  // e4m3 tie region
      bits.push_back((e << 23) + (1u << 20) + d - 32);  // e5m2 tie region
    }
  }
  for (std::uint32_t x : {0x43E80000u, 0x43E80001u, 0x47700000u, 0x476FFFFFu, 0x7F800000u, 0x7FC00000u, 0x7F800001u}) {
    bits.push_back(x);
  }
  std::mt19937 g(42);
  for (int i = 0; i < 1 << 20; ++i) bits.push_back(static_cast<std::uint32_t>(g()));
  const std::size_t n = bits.size();
  for (std::size_t i = 0; i < n; ++i) bits.push_back(bits[i] | 0x80000000u);
  std::vector<std::byte> src(bits.size() * 4);
  std::memcpy(src.data(), bits.data(), src.size());
  ExpectEncodingMatches(DType::kFloat32, src, 1000003);
  ExpectEncodingMatches(DType::kFloat32, src, 13);
}

TEST_P(Fp8KernelsTest, DecodesEveryCodeToEveryDtype) {
  std::vector<std::uint8_t> codes(256 * 3 + 5);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const Fp8Kernels portable = KernelsFor(base::CpuLevel::kPortable);
  const bool vector_form = GetParam() != base::CpuLevel::kPortable;
  for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
    for (const DType to : {DType::kBFloat16, DType::kFloat16, DType::kFloat32}) {
      const std::size_t width = DTypeBytes(to);
      std::vector<std::byte> want;
      for (const std::uint8_t c : codes) {
        const std::vector<std::byte> one = RefDecode(c, to, f);
        want.insert(want.end(), one.begin(), one.end());
      }
      for (const std::size_t piece : {codes.size(), std::size_t{1}, std::size_t{9}, std::size_t{17}}) {
        std::vector<std::byte> got(codes.size() * width), same(codes.size() * width);
        for (std::size_t i = 0; i < codes.size(); i += piece) {
          const std::size_t k = std::min(piece, codes.size() - i);
          kernels_.decode(codes.data() + i, to, got.data() + i * width, k, f);
          portable.decode(codes.data() + i, to, same.data() + i * width, k, f);
        }
        EXPECT_EQ(got, want) << DTypeName(to) << " format " << static_cast<int>(f) << " piece " << piece;
        if (vector_form) {
          EXPECT_EQ(got, same) << DTypeName(to) << " piece " << piece;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Fp8KernelsTest,
                         testing::Values(base::CpuLevel::kPortable, base::CpuLevel::kAvx2, base::CpuLevel::kAvx512),
                         [](const testing::TestParamInfo<base::CpuLevel>& level) {
                           return std::string(base::CpuLevelName(level.param));
                         });

}  // namespace
}  // namespace lmc::serde::detail
