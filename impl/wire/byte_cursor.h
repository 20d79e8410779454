// A bounds-checked cursor over untrusted bytes, after BoringSSL's CBS/CBB.
// Every decoder in the kit reads through ByteReader and every encoder writes
// through ByteWriter; nothing casts a receive buffer to a struct. Integers are
// little-endian on the wire (spec §7) whatever the host's byte order.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace lmc::wire {

namespace detail {
constexpr std::uint32_t ByteSwap32(std::uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
inline std::uint32_t LoadLe32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap32(v);
  return v;
}
inline void StoreLe32(std::byte* p, std::uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap32(v);
  std::memcpy(p, &v, 4);
}
}  // namespace detail

// Reads from the front of a byte span. A failed read consumes nothing and
// returns false; the caller turns that into its own error code.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : rest_(bytes) {}

  [[nodiscard]] std::size_t remaining() const { return rest_.size(); }
  [[nodiscard]] bool empty() const { return rest_.empty(); }

  [[nodiscard]] bool ReadI32(std::int32_t* out) {
    if (rest_.size() < 4) return false;
    *out = static_cast<std::int32_t>(detail::LoadLe32(rest_.data()));
    rest_ = rest_.subspan(4);
    return true;
  }

  // Hands out a view of the next n bytes (no copy).
  [[nodiscard]] bool ReadBytes(std::size_t n, std::span<const std::byte>* out) {
    if (rest_.size() < n) return false;
    *out = rest_.first(n);
    rest_ = rest_.subspan(n);
    return true;
  }

 private:
  std::span<const std::byte> rest_;
};

// Writes to the front of a caller-owned span; never allocates.
class ByteWriter {
 public:
  explicit ByteWriter(std::span<std::byte> out) : out_(out) {}

  [[nodiscard]] std::size_t written() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return out_.size() - pos_; }

  [[nodiscard]] bool WriteI32(std::int32_t v) {
    if (remaining() < 4) return false;
    detail::StoreLe32(out_.data() + pos_, static_cast<std::uint32_t>(v));
    pos_ += 4;
    return true;
  }

  [[nodiscard]] bool WriteBytes(std::span<const std::byte> bytes) {
    if (remaining() < bytes.size()) return false;
    if (!bytes.empty()) std::memcpy(out_.data() + pos_, bytes.data(), bytes.size());
    pos_ += bytes.size();
    return true;
  }

  [[nodiscard]] bool Fill(std::byte value, std::size_t n) {
    if (remaining() < n) return false;
    if (n != 0) std::memset(out_.data() + pos_, static_cast<int>(value), n);
    pos_ += n;
    return true;
  }

 private:
  std::span<std::byte> out_;
  std::size_t pos_ = 0;
};

}  // namespace lmc::wire
