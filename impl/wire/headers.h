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
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wire/wire_format.h"

namespace lmc::wire {

enum class [[nodiscard]] WireError : std::uint8_t{
    kOk = 0,
    kShortInput,      // fewer bytes than the object's size
    kTrailingInput,   // more bytes than the object's size
    kKeyNotUtf8,      // the 150-byte key field is not valid UTF-8
    kKeyTooLong,      // a key longer than 150 bytes (never truncated)
    kMetadataSize,    // a byte count that is not 4*(2+5g) with g >= 1
    kTooManyGroups,   // more than kMetadataGroupsMax metadata groups
    kNoGroups,        // RemoteMetadata with zero groups
    kBufferTooSmall,  // the output span cannot hold the encoding
};

// A short, stable, human-readable reason ("short input", ...).
std::string_view WireErrorMessage(WireError e);

using Shape = std::array<std::int32_t, kShapeDims>;

// Key text of a request header: at most 150 bytes of UTF-8, stored inline so
// decoding a header never allocates. It holds the wire field itself (the
// text followed by 0x20 padding), so encoding is one fixed-size copy.
class KeyField {
 public:
  KeyField() { bytes_.fill(static_cast<char>(kKeyPadByte)); }

  // Validates (UTF-8, at most 150 bytes) and stores `text`.
  [[nodiscard]] WireError Assign(std::string_view text);

  // The key text, without its padding.
  [[nodiscard]] std::string_view view() const { return {bytes_.data(), size_}; }
  [[nodiscard]] std::size_t size() const { return size_; }
  // The 150 bytes as they travel: the text, then spaces.
  [[nodiscard]] std::span<const char, kKeyFieldBytes> wire_field() const { return bytes_; }

  friend bool operator==(const KeyField& a, const KeyField& b) { return a.view() == b.view(); }

 private:
  friend struct KeyFieldAccess;             // lets the header decoder fill it in place
  std::array<char, kKeyFieldBytes> bytes_;  // invariant: bytes_[size_..] are all 0x20
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

// A decoded request header whose key is a view into the decoded bytes: the
// zero-copy form a server uses on its receive buffer. Valid while they are.
struct RequestView {
  std::int32_t command = 0;
  std::int32_t length = 0;
  std::int32_t fmt = 0;
  std::int32_t dtype = 0;
  std::int32_t location = 0;
  Shape shape{};
  std::string_view key;  // stripped key text inside the input span
};

// Writes the 186 bytes of `h`: nine int32, then the key padded with 0x20.
inline void EncodeRequest(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out);

// Reads exactly 186 bytes. The key field must be valid UTF-8 as a whole and is
// stripped of leading and trailing whitespace as Python's str.strip() does;
// NUL is not whitespace and is kept (spec §9.2). The key grammar is not
// checked here: see cache_key.h.
inline WireError DecodeRequest(std::span<const std::byte> in, RequestHeader* out);

// DecodeRequest without the copy: the same checks and the same key text,
// returned as a view into `in`. On kKeyNotUtf8 the nine ints are still
// filled in (a server needs `command` and `length` to stay in step).
inline WireError DecodeRequestView(std::span<const std::byte> in, RequestView* out);

// Encodes straight from key text, as a client does per request: the key must
// be valid UTF-8 of at most 150 bytes (else kKeyTooLong / kKeyNotUtf8, and
// `out` is unspecified).
inline WireError EncodeRequest(const RequestView& h, std::span<std::byte, kRequestHeaderBytes> out);

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
WireError DecodeMetadataPrefix(std::span<const std::byte> in, std::size_t groups, RemoteMetadata* out,
                               std::size_t* consumed);

namespace detail {
// The request codec's kernels. On little-endian hosts the first 186 bytes of
// a RequestHeader are the wire image (nine int32, then the padded key;
// static_asserts in headers.cc hold this), so encoding one is a fixed-size
// copy, and decoding is a copy plus a scan of the key field (ASCII? where do
// the spaces start? must Python's strip() run?). Each kernel set exists in a
// portable form and in vector forms chosen before main() from what the CPU
// runs (base/cpu.h); tests hold every form this CPU runs to the same results,
// and all of them to the field-by-field codec below.
struct KeyScan {
  std::uint8_t end = 0;  // one past the last key byte that is not 0x20
  bool simple = false;   // printable ASCII not starting with a space: the
                         // text is exactly the bytes before `end`
};
struct RequestKernels {
  std::string_view name;
  // Scans the key of the 186 bytes at `wire`; copies all 186 bytes to
  // `image_out` unless it is null.
  KeyScan (*scan)(const std::byte* wire, void* image_out);
  // The public operations below, on exactly 186 bytes at `wire`.
  void (*encode)(const RequestHeader& h, std::byte* wire);
  WireError (*encode_view)(const RequestView& h, std::byte* wire);
  WireError (*decode)(const std::byte* wire, RequestHeader* out);
  WireError (*decode_view)(const std::byte* wire, RequestView* out);
  // The batch forms below: `count` headers back to back at `wire`.
  WireError (*encode_batch)(const RequestView* h, std::size_t count, std::byte* wire, std::size_t* done);
  WireError (*decode_batch)(const std::byte* wire, std::size_t count, RequestHeader* out, std::size_t* done);
};
// Every form this CPU can run, narrowest first; the last one is in use.
std::span<const RequestKernels> AvailableRequestKernels();
// The set in use (portable until the selection runs before main()).
extern const RequestKernels* g_request_kernels;

WireError RequestSizeError(std::size_t size);

// The field-by-field codec through ByteReader/ByteWriter: what big-endian
// hosts use, and the reference the kernels are tested against.
void EncodeRequestFields(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out);
WireError EncodeRequestFields(const RequestView& h, std::span<std::byte, kRequestHeaderBytes> out);
WireError DecodeRequestFields(std::span<const std::byte> in, RequestHeader* out);
WireError DecodeRequestFields(std::span<const std::byte> in, RequestView* out);
inline constexpr bool kWireImage = std::endian::native == std::endian::little;
}  // namespace detail

// Pipelined forms: `h.size()` requests encoded back to back into
// `out` (which must hold h.size() * 186 bytes), and as many requests as `in`
// holds decoded into `out`. Both stop at the first error and report how many
// headers were done in `*done`. One dispatch serves the whole batch.
WireError EncodeRequests(std::span<const RequestView> h, std::span<std::byte> out, std::size_t* done);
WireError DecodeRequests(std::span<const std::byte> in, std::span<RequestHeader> out, std::size_t* done);

// The request functions are defined inline so a call costs one indirect call
// into the selected kernels.
inline void EncodeRequest(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out) {
  if constexpr (detail::kWireImage) {
    detail::g_request_kernels->encode(h, out.data());
  } else {
    detail::EncodeRequestFields(h, out);
  }
}

inline WireError EncodeRequest(const RequestView& h, std::span<std::byte, kRequestHeaderBytes> out) {
  if constexpr (detail::kWireImage) {
    return detail::g_request_kernels->encode_view(h, out.data());
  } else {
    return detail::EncodeRequestFields(h, out);
  }
}

inline WireError DecodeRequest(std::span<const std::byte> in, RequestHeader* out) {
  if (in.size() != kRequestHeaderBytes) [[unlikely]]
    return detail::RequestSizeError(in.size());
  if constexpr (detail::kWireImage) {
    return detail::g_request_kernels->decode(in.data(), out);
  } else {
    return detail::DecodeRequestFields(in, out);
  }
}

inline WireError DecodeRequestView(std::span<const std::byte> in, RequestView* out) {
  if (in.size() != kRequestHeaderBytes) [[unlikely]]
    return detail::RequestSizeError(in.size());
  if constexpr (detail::kWireImage) {
    return detail::g_request_kernels->decode_view(in.data(), out);
  } else {
    return detail::DecodeRequestFields(in, out);
  }
}

}  // namespace lmc::wire
