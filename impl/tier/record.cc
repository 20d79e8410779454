#include "tier/record.h"

#include <algorithm>

#include <cstring>

#include <xxhash.h>

namespace lmc::tier {

namespace {

constexpr std::string_view kMagic = "LMCTIER1";
constexpr std::uint32_t kVersion = 1;

void PutU32(std::string* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads from the front of `in`; every read checks the bytes are there.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(std::uint32_t* v) { return Bytes(4, v); }
  bool U64(std::uint64_t* v) { return Bytes(8, v); }
  bool I32(std::int32_t* v) {
    std::uint32_t u = 0;
    if (!U32(&u)) return false;
    *v = static_cast<std::int32_t>(u);
    return true;
  }
  bool Text(std::size_t n, std::string* out) {
    if (in_.size() - at_ < n) return false;
    out->assign(in_.substr(at_, n));
    at_ += n;
    return true;
  }
  std::size_t at() const { return at_; }

 private:
  template <typename T>
  bool Bytes(std::size_t n, T* v) {
    if (in_.size() - at_ < n) return false;
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i) x |= std::uint64_t{static_cast<unsigned char>(in_[at_ + i])} << (8 * i);
    *v = static_cast<T>(x);
    at_ += n;
    return true;
  }
  std::string_view in_;
  std::size_t at_ = 0;
};

}  // namespace

std::string_view RecordErrorName(RecordError e) {
  switch (e) {
    case RecordError::kOk: return "ok";
    case RecordError::kShort: return "short record";
    case RecordError::kMagic: return "not a tier record";
    case RecordError::kVersion: return "unknown record version";
    case RecordError::kLimit: return "a field over its limit";
    case RecordError::kCheck: return "check (XXH3-64) mismatch";
    case RecordError::kTrailing: return "bytes after the record";
  }
  return "?";
}

std::string EncodeRecord(const Record& r) {
  if (r.key.size() > kRecordKeyMax || r.writer.size() > kRecordWriterMax || r.meta.length < 0) return {};
  std::string out(kMagic);
  PutU32(&out, kVersion);
  PutU32(&out, static_cast<std::uint32_t>(r.key.size()));
  out += r.key;
  PutU32(&out, static_cast<std::uint32_t>(r.meta.length));
  PutU32(&out, static_cast<std::uint32_t>(r.meta.fmt));
  PutU32(&out, static_cast<std::uint32_t>(r.meta.dtype));
  for (const std::int32_t s : r.meta.shape) PutU32(&out, static_cast<std::uint32_t>(s));
  PutU64(&out, r.written_ns);
  PutU32(&out, static_cast<std::uint32_t>(r.writer.size()));
  out += r.writer;
  PutU64(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

RecordError DecodeRecord(std::string_view bytes, Record* out) {
  if (bytes.size() < kMagic.size()) return RecordError::kShort;
  if (bytes.substr(0, kMagic.size()) != kMagic) return RecordError::kMagic;
  Reader in(bytes.substr(kMagic.size()));
  Record r;
  std::uint32_t version = 0, key_len = 0, writer_len = 0;
  if (!in.U32(&version)) return RecordError::kShort;
  if (version != kVersion) return RecordError::kVersion;
  if (!in.U32(&key_len)) return RecordError::kShort;
  if (key_len > kRecordKeyMax) return RecordError::kLimit;
  if (!in.Text(key_len, &r.key)) return RecordError::kShort;
  if (!in.I32(&r.meta.length) || !in.I32(&r.meta.fmt) || !in.I32(&r.meta.dtype)) return RecordError::kShort;
  for (std::int32_t& s : r.meta.shape) {
    if (!in.I32(&s)) return RecordError::kShort;
  }
  if (r.meta.length < 0) return RecordError::kLimit;
  if (!in.U64(&r.written_ns) || !in.U32(&writer_len)) return RecordError::kShort;
  if (writer_len > kRecordWriterMax) return RecordError::kLimit;
  if (!in.Text(writer_len, &r.writer)) return RecordError::kShort;
  const std::size_t body = kMagic.size() + in.at();
  std::uint64_t check = 0;
  if (!in.U64(&check)) return RecordError::kShort;
  if (check != XXH3_64bits(bytes.data(), body)) return RecordError::kCheck;
  if (kMagic.size() + in.at() != bytes.size()) return RecordError::kTrailing;
  *out = std::move(r);
  return RecordError::kOk;
}

l2::ObjectKey ObjectKeyFor(std::string_view cache_key, std::string salt) {
  l2::ObjectKey okey;
  const XXH128_hash_t h = XXH3_128bits(cache_key.data(), cache_key.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, h);
  okey.chunk_hash.assign(reinterpret_cast<const std::byte*>(canonical.digest),
                         reinterpret_cast<const std::byte*>(canonical.digest) + sizeof canonical.digest);
  okey.model_name = std::string(kObjectModel);
  okey.cache_salt = std::move(salt);
  return okey;
}

l2::ObjectKey PointerKeyOf(std::string_view cache_key) { return ObjectKeyFor(cache_key, std::string(kPointerSalt)); }

bool ValidPointer(std::string_view salt) {
  if (salt.empty() || salt.size() > kPointerMaxBytes || salt == kPointerSalt) return false;
  if (salt.size() >= kRecordSaltSuffix.size() &&
      salt.substr(salt.size() - kRecordSaltSuffix.size()) == kRecordSaltSuffix)
    return false;
  return std::all_of(salt.begin(), salt.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-'; });
}

l2::ObjectKey RecordKeyOf(const l2::ObjectKey& object) {
  l2::ObjectKey k = object;
  k.cache_salt += kRecordSaltSuffix;
  return k;
}

std::optional<l2::ObjectKey> ObjectKeyOfRecord(const l2::ObjectKey& record) {
  const std::string& salt = record.cache_salt;
  if (salt.size() < kRecordSaltSuffix.size() ||
      salt.compare(salt.size() - kRecordSaltSuffix.size(), kRecordSaltSuffix.size(), kRecordSaltSuffix) != 0) {
    return std::nullopt;
  }
  l2::ObjectKey k = record;
  k.cache_salt.resize(salt.size() - kRecordSaltSuffix.size());
  return k;
}

}  // namespace lmc::tier
