#include "serde/checksum_serde.h"

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>  // XXH3 at the CPU's widest vectors, chosen at run time
#endif

#include <cstring>

namespace lmc::serde {
namespace {

void Fingerprint(const ObjectKey* key, std::byte out[8]) {
  std::memset(out, 0, 8);
  if (key != nullptr && !key->chunk_hash.empty())
    std::memcpy(out, key->chunk_hash.data(), std::min<std::size_t>(8, key->chunk_hash.size()));
}

void PutBigEndian64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (56 - 8 * i));
}

std::uint64_t GetBigEndian64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

}  // namespace

std::uint64_t ChecksumSerde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  const auto bytes = LayoutBytes(layout);
  if (layout.groups.empty() || !bytes || *bytes > UINT64_MAX - kChecksumHeaderBytes) {
    *error = SerdeError::kBadLayout;
    return 0;
  }
  *error = SerdeError::kOk;
  return *bytes + kChecksumHeaderBytes;  // exact
}

SerdeError ChecksumSerde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                    const ObjectKey* key, std::size_t* written) const {
  *written = 0;
  SerdeError e;
  const std::uint64_t size = EstimateSerializedSize(layout, &e);
  if (e != SerdeError::kOk) return e;
  if (src.size() != size - kChecksumHeaderBytes) return SerdeError::kSizeMismatch;
  if (dst.size() < size) return SerdeError::kTooSmall;
  dst[0] = std::byte{0x01};
  Fingerprint(key, dst.data() + 1);
  PutBigEndian64(dst.data() + 9, XXH3_64bits(src.data(), src.size()));
  if (!src.empty()) std::memcpy(dst.data() + kChecksumHeaderBytes, src.data(), src.size());
  *written = static_cast<std::size_t>(size);
  return SerdeError::kOk;
}

SerdeError ChecksumSerde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                      const ObjectKey* key) const {
  const auto bytes = LayoutBytes(layout);
  if (layout.groups.empty() || !bytes) return SerdeError::kBadLayout;
  if (dst.size() != *bytes) return SerdeError::kSizeMismatch;
  if (blob.size() < kChecksumHeaderBytes + dst.size()) return SerdeError::kCorrupt;
  if (blob[0] != std::byte{0x01}) return SerdeError::kWrongSerde;
  std::byte want[8];
  Fingerprint(key, want);
  if (std::memcmp(blob.data() + 1, want, 8) != 0) return SerdeError::kWrongKey;
  const std::span<const std::byte> payload = blob.subspan(kChecksumHeaderBytes, dst.size());
  if (XXH3_64bits(payload.data(), payload.size()) != GetBigEndian64(blob.data() + 9)) return SerdeError::kCorrupt;
  if (!payload.empty()) std::memcpy(dst.data(), payload.data(), payload.size());
  return SerdeError::kOk;
}

}  // namespace lmc::serde
