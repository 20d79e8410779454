#include "wire/headers.h"

#include <cassert>
#include <cstring>

#include "wire/byte_cursor.h"
#include "wire/text.h"

namespace lmc::wire {

struct KeyFieldAccess {
  static void Set(KeyField* k, std::string_view text) {
    assert(text.size() <= kKeyFieldBytes);
    std::memcpy(k->bytes_.data(), text.data(), text.size());
    k->size_ = static_cast<std::uint8_t>(text.size());
  }
};

namespace {

bool IsAsciiStripByte(unsigned char c) {
  // str.isspace() within ASCII: \t \n \v \f \r, U+001C..U+001F and space.
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
}

bool AllAscii(std::span<const std::byte> b) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= b.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, b.data() + i, 8);
    acc |= w;
  }
  for (; i < b.size(); ++i) acc |= static_cast<std::uint64_t>(b[i]);
  return (acc & 0x8080808080808080ull) == 0;
}

// key.decode().strip() of the 150-byte field (spec §3.1, §9.2).
WireError DecodeKeyField(std::span<const std::byte> field, KeyField* out) {
  const std::string_view text(reinterpret_cast<const char*>(field.data()), field.size());
  std::string_view stripped;
  if (AllAscii(field)) {
    std::size_t end = text.size();
    while (end > 0 && IsAsciiStripByte(static_cast<unsigned char>(text[end - 1]))) --end;
    std::size_t begin = 0;
    while (begin < end && IsAsciiStripByte(static_cast<unsigned char>(text[begin]))) ++begin;
    stripped = text.substr(begin, end - begin);
  } else {
    if (!IsValidUtf8(text)) return WireError::kKeyNotUtf8;
    stripped = PythonStrip(text);
  }
  KeyFieldAccess::Set(out, stripped);
  return WireError::kOk;
}

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

void EncodeRequest(const RequestHeader& h, std::span<std::byte, kRequestHeaderBytes> out) {
  ByteWriter w(out);
  const std::string_view key = h.key.view();
  bool ok = w.WriteI32(h.command) && w.WriteI32(h.length) && w.WriteI32(h.fmt) &&
            w.WriteI32(h.dtype) && w.WriteI32(h.location);
  for (std::int32_t d : h.shape) ok = ok && w.WriteI32(d);
  ok = ok && w.WriteBytes(std::as_bytes(std::span(key.data(), key.size()))) &&
       w.Fill(std::byte{kKeyPadByte}, kKeyFieldBytes - key.size());
  assert(ok && w.remaining() == 0);
  (void)ok;
}

WireError DecodeRequest(std::span<const std::byte> in, RequestHeader* out) {
  if (WireError e = CheckExactSize(in.size(), kRequestHeaderBytes); e != WireError::kOk) return e;
  ByteReader r(in);
  std::span<const std::byte> key;
  const bool ok = r.ReadI32(&out->command) && r.ReadI32(&out->length) && r.ReadI32(&out->fmt) &&
                  r.ReadI32(&out->dtype) && r.ReadI32(&out->location) &&
                  ReadShape(r, &out->shape) && r.ReadBytes(kKeyFieldBytes, &key);
  assert(ok && r.empty());  // the size was checked above
  (void)ok;
  return DecodeKeyField(key, &out->key);
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
  const bool ok = r.ReadI32(&out->code) && r.ReadI32(&out->length) && r.ReadI32(&out->fmt) &&
                  r.ReadI32(&out->dtype) && ReadShape(r, &out->shape) && r.ReadI32(&out->location);
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

WireError DecodeMetadataPrefix(std::span<const std::byte> in, std::size_t groups,
                               RemoteMetadata* out, std::size_t* consumed) {
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
