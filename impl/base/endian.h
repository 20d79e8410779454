// Little-endian loads and stores of unsigned integers at any alignment,
// whatever the host's byte order: every fixed-width field the kit reads or
// writes (the wire's int32s, the serde frames' sizes and hashes) goes
// through these.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstring>

namespace lmc::base {

template <std::unsigned_integral T>
constexpr T ByteSwap(T v) {
  T r = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    r = static_cast<T>((r << 8) | (v & 0xFF));
    v = static_cast<T>(v >> 8);
  }
  return r;
}

template <std::unsigned_integral T>
inline T LoadLe(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap(v);
  return v;
}

template <std::unsigned_integral T>
inline void StoreLe(std::byte* p, T v) {
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace lmc::base
