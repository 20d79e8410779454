// A bounded reader over a fuzz input, for the targets that read fields from
// it in turn: a read past the end gets what is left (bytes), or zeros
// (integers), so every input is a valid sequence of fields.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace lmc::fuzzing {

class InputReader {
 public:
  explicit InputReader(std::span<const std::uint8_t> in) : in_(in) {}
  bool empty() const { return at_ == in_.size(); }
  std::uint8_t U8() { return at_ < in_.size() ? in_[at_++] : 0; }
  // Little-endian; bytes past the end read as zero.
  std::int64_t I64() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && at_ < in_.size(); shift += 8) v |= std::uint64_t{in_[at_++]} << shift;
    return static_cast<std::int64_t>(v);
  }
  // The next n bytes, or what is left; a view into the input.
  std::string_view Bytes(std::size_t n) {
    n = std::min(n, in_.size() - at_);
    const std::string_view s(reinterpret_cast<const char*>(in_.data() + at_), n);
    at_ += n;
    return s;
  }
  std::string_view Rest() { return Bytes(in_.size() - at_); }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
};

}  // namespace lmc::fuzzing
