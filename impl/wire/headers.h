// The three fixed-layout wire objects of LMCache V1 (spec §1.2, §1.3, §4):
// the 186-byte request header, the 36-byte reply header and RemoteMetadata.
//
// Decoders take untrusted bytes and never throw, assert or read out of
// bounds: they return a WireError and leave the output unspecified on error.
// Encoders write into caller-owned buffers and never allocate. All integer
// fields are kept as the int32 that travels, so any value round-trips; use
// the predicates of wire_format.h to check them against a peer's era.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wire/wire_format.h"

namespace lmc::wire {

enum class [[nodiscard]] WireError : std::uint8_t {
  kOk = 0,
  kShortInput,       // fewer bytes than the object's size
  kTrailingInput,    // more bytes than the object's size
  kKeyNotUtf8,       // the 150-byte key field is not valid UTF-8
  kKeyTooLong,       // a key longer than 150 bytes (never truncated)
  kMetadataSize,     // a byte count that is not 4*(2+5g) with g >= 1
  kTooManyGroups,    // more than kMetadataGroupsMax metadata groups
  kNoGroups,         // RemoteMetadata with zero groups
  kBufferTooSmall,   // the output span cannot hold the encoding
};

// A short, stable, human-readable reason ("short input", ...).
std::string_view WireErrorMessage(WireError e);

using Shape = std::array<std::int32_t, kShapeDims>;

// Key text of a request header: at most 150 bytes of UTF-8, stored inline so
// decoding a header never allocates. Holds the text without its padding.
class KeyField {
 public:
  KeyField() = default;

  // Validates (UTF-8, at most 150 bytes) and stores `text`.
  [[nodiscard]] WireError Assign(std::string_view text);

  [[nodiscard]] std::string_view view() const { return {bytes_.data(), size_}; }
  [[nodiscard]] std::size_t size() const { return size_; }

  friend bool operator==(const KeyField& a, const KeyField& b) { return a.view() == b.view(); }

 private:
  friend struct KeyFieldAccess;  // lets the header decoder fill it in place
  std::array<char, kKeyFieldBytes> bytes_{};
  std::uint8_t size_ = 0;
  static_assert(kKeyFieldBytes <= UINT8_MAX);
};

// §1.2. `location` is the 5th int here but the last in a reply.
struct RequestHeader {
  std::int32_t command = 0;
  std::int32_t length = 0;
  std::int32_t fmt = kDummyFmt;
  std::int32_t dtype = kDummyDtype;
  std::int32_t location = 0;
  Shape shape{};
  KeyField key;

  friend bool operator==(const RequestHeader&, const RequestHeader&) = default;
};

// §1.3
struct ReplyHeader {
  std::int32_t code = 0;
  std::int32_t length = 0;
  std::int32_t fmt = kDummyFmt;
  std::int32_t dtype = kDummyDtype;
  Shape shape{};
  std::int32_t location = 0;

  friend bool operator==(const ReplyHeader&, const ReplyHeader&) = default;
};

// §4: one group of RemoteMetadata.
struct MetadataGroup {
  std::int32_t dtype = 0;
  Shape shape{};

  friend bool operator==(const MetadataGroup&, const MetadataGroup&) = default;
};

// §4: the prefix LMCache's non-lm:// connectors store before a payload.
struct RemoteMetadata {
  std::int32_t length = 0;
  std::int32_t fmt = 0;
  std::vector<MetadataGroup> groups;

  friend bool operator==(const RemoteMetadata&, const RemoteMetadata&) = default;
};

// Writes the 186 bytes of `h`: nine int32, then the key padded with 0x20.
void EncodeRequest(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out);

// Reads exactly 186 bytes. The key field must be valid UTF-8 as a whole and is
// stripped of leading and trailing whitespace as Python's str.strip() does;
// NUL is not whitespace and is kept (spec §9.2). The key grammar is not
// checked here: see cache_key.h.
WireError DecodeRequest(std::span<const std::byte> in, RequestHeader* out);

// Writes the 36 bytes of `h`.
void EncodeReply(const ReplyHeader& h, std::span<std::byte, kReplyHeaderBytes> out);

// Reads exactly 36 bytes.
WireError DecodeReply(std::span<const std::byte> in, ReplyHeader* out);

// Writes MetadataBytes(m.groups.size()) bytes; fails on zero groups, on more
// than kMetadataGroupsMax or when `out` is too small.
WireError EncodeMetadata(const RemoteMetadata& m, std::span<std::byte> out);

// Reads RemoteMetadata whose group count is inferred from the byte count,
// which must be 4*(2+5g) with 1 <= g <= kMetadataGroupsMax.
WireError DecodeMetadata(std::span<const std::byte> in, RemoteMetadata* out);

// Reads RemoteMetadata with a known group count (as LMCache's connectors do)
// from the front of `in`; `*consumed` receives its size. Trailing bytes (the
// payload) are left alone.
WireError DecodeMetadataPrefix(std::span<const std::byte> in, std::size_t groups,
                               RemoteMetadata* out, std::size_t* consumed);

}  // namespace lmc::wire
