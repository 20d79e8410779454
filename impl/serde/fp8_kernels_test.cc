// Every fp8 kernel form this CPU can run gives the scalar reference's bytes:
// all 65,536 bf16 and fp16 patterns, float32 edge and random patterns, all
// 256 codes back to each dtype, and lengths that end mid-vector. A form the
// CPU lacks reports skipped.
#include "serde/fp8_kernels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace lmc::serde::detail {
namespace {

class Fp8KernelsTest : public testing::TestWithParam<base::CpuLevel> {
 protected:
  void SetUp() override {
    if (base::HardwareCpuLevel() < GetParam()) GTEST_SKIP() << "this CPU lacks " << base::CpuLevelName(GetParam());
    kernels_ = KernelsFor(GetParam());
    ASSERT_EQ(kernels_.level, GetParam());
  }
  // Encodes `src` (n elements of `from`) with the form under test and the
  // portable form, in pieces of `piece` elements (so tails are exercised).
  void ExpectSameEncoding(DType from, const std::vector<std::byte>& src, std::size_t piece) {
    const std::size_t width = DTypeBytes(from), n = src.size() / width;
    const Fp8Kernels ref = KernelsFor(base::CpuLevel::kPortable);
    for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
      std::vector<std::uint8_t> got(n), want(n);
      for (std::size_t i = 0; i < n; i += piece) {
        const std::size_t k = std::min(piece, n - i);
        kernels_.encode(from, src.data() + i * width, got.data() + i, k, f);
        ref.encode(from, src.data() + i * width, want.data() + i, k, f);
      }
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (got[i] != want[i] && ++bad <= 5) {
          ADD_FAILURE() << DTypeName(from) << " element " << i << ": " << int(got[i]) << " want " << int(want[i]);
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
    ExpectSameEncoding(DType::kBFloat16, All16BitPatterns(), piece);
    ExpectSameEncoding(DType::kFloat16, All16BitPatterns(), piece);
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
  ExpectSameEncoding(DType::kFloat32, src, 1000003);
  ExpectSameEncoding(DType::kFloat32, src, 13);
}

TEST_P(Fp8KernelsTest, DecodesEveryCodeToEveryDtype) {
  std::vector<std::uint8_t> codes(256 * 3 + 5);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const Fp8Kernels ref = KernelsFor(base::CpuLevel::kPortable);
  for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
    for (const DType to : {DType::kBFloat16, DType::kFloat16, DType::kFloat32}) {
      for (const std::size_t piece : {codes.size(), std::size_t{1}, std::size_t{9}, std::size_t{17}}) {
        const std::size_t width = DTypeBytes(to);
        std::vector<std::byte> got(codes.size() * width), want(codes.size() * width);
        for (std::size_t i = 0; i < codes.size(); i += piece) {
          const std::size_t k = std::min(piece, codes.size() - i);
          kernels_.decode(codes.data() + i, to, got.data() + i * width, k, f);
          ref.decode(codes.data() + i, to, want.data() + i * width, k, f);
        }
        EXPECT_EQ(got, want) << DTypeName(to) << " piece " << piece;
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
