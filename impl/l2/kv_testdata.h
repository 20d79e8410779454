// Test helpers shared by the L2 and tier tests: KV-like bf16 data (a seeded
// normal distribution, as LMCache's tests use torch.randn) and the Pearson
// correlation LMCache's fp8 tests assert on.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

namespace lmc::l2::testing {

inline std::uint16_t ToBf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even (randn has no NaN)
  return static_cast<std::uint16_t>(u >> 16);
}

inline float FromBf16(std::uint16_t h) {
  const std::uint32_t u = std::uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline std::vector<std::uint16_t> RandnBf16(std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> randn;
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = ToBf16(randn(rng));
  return v;
}

// Correlation of `x` with the bf16 values in `y_bytes` (same count).
inline double Bf16Correlation(std::span<const std::uint16_t> x, std::span<const std::byte> y_bytes) {
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::uint16_t h;
    std::memcpy(&h, y_bytes.data() + 2 * i, 2);
    const double a = FromBf16(x[i]), b = FromBf16(h);
    sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
  }
  return (n * sxy - sx * sy) / std::sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}

}  // namespace lmc::l2::testing
