// Internal to lmc_wire: what the request kernels share. Not installed.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "wire/headers.h"

namespace lmc::wire {

// Friend of KeyField: lets the codec fill the key in place.
struct KeyFieldAccess {
  static constexpr std::size_t kBytesOffset = offsetof(KeyField, bytes_);
  static char* Raw(KeyField* k) { return k->bytes_.data(); }
  static void SetSize(KeyField* k, std::size_t n) {
    assert(n <= kKeyFieldBytes);
    k->size_ = static_cast<std::uint8_t>(n);
  }
  // Stores `text` (which may alias the field) and restores the padding.
  static void Set(KeyField* k, std::string_view text) {
    assert(text.size() <= kKeyFieldBytes);
    std::memmove(k->bytes_.data(), text.data(), text.size());
    std::memset(k->bytes_.data() + text.size(), static_cast<int>(kKeyPadByte), kKeyFieldBytes - text.size());
    SetSize(k, text.size());
  }
};

namespace detail {

inline constexpr std::size_t kKeyOffset = request_offset::kKey;

// key.decode().strip() of the key field of the 186 bytes at `wire`, as a
// view into them (spec §3.1, §9.2): the general path for any content.
WireError StripKeyField(const std::byte* wire, std::string_view* key);

// The fast path takes keys of printable ASCII (0x20..0x7F) that do not start
// with a space: their text is everything before the trailing spaces. Any
// other byte (a control character, which may be whitespace to Python, or part
// of a multi-byte character) or a leading space sends the key to the general
// UTF-8 strip. As signed bytes, "not printable ASCII" is one compare: c < 0x20.
inline KeyScan MakeScan(bool any_unprintable, bool starts_with_space, std::size_t end) {
  return {static_cast<std::uint8_t>(end), !any_unprintable && (!starts_with_space || end == 0)};
}

// What every kernel set does around its scan and encode (generic C++, so it
// inlines into the vector-targeted entry points of request_kernels.cc).
inline WireError FinishDecode(KeyScan scan, const std::byte* wire, RequestHeader* out) {
  if (scan.simple) {
    KeyFieldAccess::SetSize(&out->key, scan.end);
    return WireError::kOk;
  }
  std::string_view text;
  if (WireError e = StripKeyField(wire, &text); e != WireError::kOk) return e;
  KeyFieldAccess::Set(&out->key, text);
  return WireError::kOk;
}

inline WireError FinishDecodeView(KeyScan scan, const std::byte* wire, RequestView* out) {
  std::memcpy(static_cast<void*>(out), wire, kKeyOffset);  // the nine ints
  if (scan.simple) {
    out->key = std::string_view(reinterpret_cast<const char*>(wire) + kKeyOffset, scan.end);
    return WireError::kOk;
  }
  return StripKeyField(wire, &out->key);
}

}  // namespace detail
}  // namespace lmc::wire
