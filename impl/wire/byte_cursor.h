// A bounds-checked cursor over untrusted bytes, after BoringSSL's CBS/CBB.
// Every decoder in the kit reads through ByteReader and every encoder writes
// through ByteWriter; nothing casts a receive buffer to a struct. Integers are
// little-endian on the wire (spec §7) whatever the host's byte order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "base/endian.h"

namespace lmc::wire {

// Reads from the front of a byte span. A failed read consumes nothing and
// returns false; the caller turns that into its own error code.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : rest_(bytes) {}

  [[nodiscard]] std::size_t remaining() const { return rest_.size(); }
  [[nodiscard]] bool empty() const { return rest_.empty(); }

  [[nodiscard]] bool ReadI32(std::int32_t* out) {
    if (rest_.size() < 4) return false;
    *out = static_cast<std::int32_t>(base::LoadLe<std::uint32_t>(rest_.data()));
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
    base::StoreLe(out_.data() + pos_, static_cast<std::uint32_t>(v));
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
