#include "wire/headers.h"

#include <cassert>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "wire/byte_cursor.h"
#include "wire/request_kernels.h"
#include "wire/text.h"

namespace lmc::wire {

// On little-endian hosts the first 186 bytes of a RequestHeader are the wire
// image, and the first 36 of a RequestView its nine ints; the kernels rely on
// exactly these facts.
static_assert(std::is_standard_layout_v<RequestHeader> && std::is_trivially_copyable_v<RequestHeader>);
static_assert(offsetof(RequestHeader, command) == request_offset::kCommand &&
              offsetof(RequestHeader, length) == request_offset::kLength &&
              offsetof(RequestHeader, fmt) == request_offset::kFmt &&
              offsetof(RequestHeader, dtype) == request_offset::kDtype &&
              offsetof(RequestHeader, location) == request_offset::kLocation &&
              offsetof(RequestHeader, shape) == request_offset::kShape &&
              offsetof(RequestHeader, key) == request_offset::kKey && sizeof(Shape) == 4 * kShapeDims &&
              sizeof(RequestHeader) >= kRequestHeaderBytes);
static_assert(KeyFieldAccess::kBytesOffset == 0);
static_assert(std::is_standard_layout_v<RequestView> && offsetof(RequestView, command) == 0 &&
              offsetof(RequestView, location) == request_offset::kLocation &&
              offsetof(RequestView, shape) == request_offset::kShape &&
              offsetof(RequestView, key) >= request_offset::kKey);

namespace {

template <typename T>
bool ReadShape(ByteReader& r, T* shape) {
  for (auto& d : *shape) {
    if (!r.ReadI32(&d)) return false;
  }
  return true;
}

WireError CheckExactSize(std::size_t have, std::size_t want) {
  if (have < want) return WireError::kShortInput;
  if (have > want) return WireError::kTrailingInput;
  return WireError::kOk;
}

// Reads the nine ints of a request field by field; `in` is exactly 186 bytes.
template <typename Header>
void ReadRequestInts(std::span<const std::byte> in, Header* out) {
  ByteReader r(in);
  const bool ok = r.ReadI32(&out->command) && r.ReadI32(&out->length) && r.ReadI32(&out->fmt) &&
                  r.ReadI32(&out->dtype) && r.ReadI32(&out->location) && ReadShape(r, &out->shape);
  assert(ok && r.remaining() == kKeyFieldBytes);
  (void)ok;
}

template <typename Header>
void WriteRequestInts(const Header& h, ByteWriter& w) {
  bool ok = w.WriteI32(h.command) && w.WriteI32(h.length) && w.WriteI32(h.fmt) && w.WriteI32(h.dtype) &&
            w.WriteI32(h.location);
  for (std::int32_t d : h.shape) ok = ok && w.WriteI32(d);
  assert(ok && w.remaining() == kKeyFieldBytes);
  (void)ok;
}

}  // namespace

std::string_view WireErrorMessage(WireError e) {
  switch (e) {
    case WireError::kOk: return "ok";
    case WireError::kShortInput: return "short input";
    case WireError::kTrailingInput: return "trailing bytes after the object";
    case WireError::kKeyNotUtf8: return "key is not valid UTF-8";
    case WireError::kKeyTooLong: return "key longer than 150 bytes";
    case WireError::kMetadataSize: return "metadata size is not 4*(2+5g) with g >= 1";
    case WireError::kTooManyGroups: return "too many metadata groups";
    case WireError::kNoGroups: return "metadata needs at least one group";
    case WireError::kBufferTooSmall: return "output buffer too small";
  }
  return "unknown error";
}

WireError KeyField::Assign(std::string_view text) {
  if (text.size() > kKeyFieldBytes) return WireError::kKeyTooLong;
  if (!IsValidUtf8(text)) return WireError::kKeyNotUtf8;
  KeyFieldAccess::Set(this, text);
  return WireError::kOk;
}

namespace detail {

WireError RequestSizeError(std::size_t size) { return CheckExactSize(size, kRequestHeaderBytes); }

WireError StripKeyField(const std::byte* wire, std::string_view* key) {
  const std::string_view text(reinterpret_cast<const char*>(wire) + request_offset::kKey, kKeyFieldBytes);
  if (!IsValidUtf8(text)) return WireError::kKeyNotUtf8;
  *key = PythonStrip(text);
  return WireError::kOk;
}

void EncodeRequestFields(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out) {
  ByteWriter w(out);
  WriteRequestInts(h, w);
  // The key field already holds its padding: one fixed-size copy.
  const bool ok = w.WriteBytes(std::as_bytes(h.key.wire_field()));
  assert(ok && w.remaining() == 0);
  (void)ok;
}

WireError EncodeRequestFields(const RequestView& h, std::span<std::byte, kRequestHeaderBytes> out) {
  if (h.key.size() > kKeyFieldBytes) return WireError::kKeyTooLong;
  if (!IsValidUtf8(h.key)) return WireError::kKeyNotUtf8;
  ByteWriter w(out);
  WriteRequestInts(h, w);
  const bool ok =
      w.WriteBytes(std::as_bytes(std::span(h.key))) && w.Fill(std::byte{kKeyPadByte}, kKeyFieldBytes - h.key.size());
  assert(ok && w.remaining() == 0);
  (void)ok;
  return WireError::kOk;
}

WireError DecodeRequestFields(std::span<const std::byte> in, RequestHeader* out) {
  if (WireError e = CheckExactSize(in.size(), kRequestHeaderBytes); e != WireError::kOk) return e;
  ReadRequestInts(in, out);
  std::string_view text;
  if (WireError e = StripKeyField(in.data(), &text); e != WireError::kOk) return e;
  KeyFieldAccess::Set(&out->key, text);
  return WireError::kOk;
}

WireError DecodeRequestFields(std::span<const std::byte> in, RequestView* out) {
  if (WireError e = CheckExactSize(in.size(), kRequestHeaderBytes); e != WireError::kOk) return e;
  ReadRequestInts(in, out);
  return StripKeyField(in.data(), &out->key);
}

}  // namespace detail

WireError EncodeRequests(std::span<const RequestView> h, std::span<std::byte> out, std::size_t* done) {
  *done = 0;
  if (out.size() / kRequestHeaderBytes < h.size()) return WireError::kBufferTooSmall;
  if constexpr (detail::kWireImage) {
    return detail::g_request_kernels->encode_batch(h.data(), h.size(), out.data(), done);
  }
  for (; *done < h.size(); ++*done) {
    const auto at = out.subspan(*done * kRequestHeaderBytes).first<kRequestHeaderBytes>();
    if (WireError e = detail::EncodeRequestFields(h[*done], at); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}

WireError DecodeRequests(std::span<const std::byte> in, std::span<RequestHeader> out, std::size_t* done) {
  *done = 0;
  if (in.size() % kRequestHeaderBytes != 0) return WireError::kShortInput;
  const std::size_t count = in.size() / kRequestHeaderBytes;
  if (out.size() < count) return WireError::kBufferTooSmall;
  if constexpr (detail::kWireImage) {
    return detail::g_request_kernels->decode_batch(in.data(), count, out.data(), done);
  }
  for (; *done < count; ++*done) {
    const auto at = in.subspan(*done * kRequestHeaderBytes, kRequestHeaderBytes);
    if (WireError e = detail::DecodeRequestFields(at, &out[*done]); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}

void EncodeReply(const ReplyHeader& h, std::span<std::byte, kReplyHeaderBytes> out) {
  ByteWriter w(out);
  bool ok = w.WriteI32(h.code) && w.WriteI32(h.length) && w.WriteI32(h.fmt) && w.WriteI32(h.dtype);
  for (std::int32_t d : h.shape) ok = ok && w.WriteI32(d);
  ok = ok && w.WriteI32(h.location);
  assert(ok && w.remaining() == 0);
  (void)ok;
}

WireError DecodeReply(std::span<const std::byte> in, ReplyHeader* out) {
  if (WireError e = CheckExactSize(in.size(), kReplyHeaderBytes); e != WireError::kOk) return e;
  ByteReader r(in);
  const bool ok = r.ReadI32(&out->code) && r.ReadI32(&out->length) && r.ReadI32(&out->fmt) && r.ReadI32(&out->dtype) &&
                  ReadShape(r, &out->shape) && r.ReadI32(&out->location);
  assert(ok && r.empty());
  (void)ok;
  return WireError::kOk;
}

WireError EncodeMetadata(const RemoteMetadata& m, std::span<std::byte> out) {
  if (m.groups.empty()) return WireError::kNoGroups;
  if (m.groups.size() > kMetadataGroupsMax) return WireError::kTooManyGroups;
  if (out.size() < MetadataBytes(m.groups.size())) return WireError::kBufferTooSmall;
  ByteWriter w(out);
  bool ok = w.WriteI32(m.length) && w.WriteI32(m.fmt);
  for (const MetadataGroup& g : m.groups) {
    ok = ok && w.WriteI32(g.dtype);
    for (std::int32_t d : g.shape) ok = ok && w.WriteI32(d);
  }
  assert(ok && w.written() == MetadataBytes(m.groups.size()));
  (void)ok;
  return WireError::kOk;
}

WireError DecodeMetadataPrefix(std::span<const std::byte> in, std::size_t groups, RemoteMetadata* out,
                               std::size_t* consumed) {
  if (groups == 0) return WireError::kNoGroups;
  if (groups > kMetadataGroupsMax) return WireError::kTooManyGroups;
  const std::size_t size = MetadataBytes(groups);
  if (in.size() < size) return WireError::kShortInput;
  ByteReader r(in.first(size));
  bool ok = r.ReadI32(&out->length) && r.ReadI32(&out->fmt);
  out->groups.resize(groups);
  for (MetadataGroup& g : out->groups) ok = ok && r.ReadI32(&g.dtype) && ReadShape(r, &g.shape);
  assert(ok && r.empty());
  (void)ok;
  *consumed = size;
  return WireError::kOk;
}

WireError DecodeMetadata(std::span<const std::byte> in, RemoteMetadata* out) {
  const std::size_t fixed = MetadataBytes(0);
  const std::size_t per_group = 4 * kMetadataIntsPerGroup;
  if (in.size() < MetadataBytes(1) || (in.size() - fixed) % per_group != 0) {
    return WireError::kMetadataSize;
  }
  const std::size_t groups = (in.size() - fixed) / per_group;
  std::size_t consumed = 0;
  return DecodeMetadataPrefix(in, groups, out, &consumed);
}

}  // namespace lmc::wire
