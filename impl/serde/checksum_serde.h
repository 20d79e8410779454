// LMCache's checksum serde (serde.md §4.1): the plaintext behind a 17-byte
// frame: version 0x01, an 8-byte fingerprint (the first 8 bytes of the key's
// chunk hash, zero-padded), and the XXH3-64 of the payload, big-endian.
// Deserialising takes the payload length from the destination and refuses a
// short frame, another version, another key's fingerprint, or a bad hash.
// Without a key (none given), the fingerprint is eight zero bytes.
#pragma once

#include "serde/serde.h"

namespace lmc::serde {

inline constexpr std::size_t kChecksumHeaderBytes = 17;

class ChecksumSerde final : public Serializer, public Deserializer {
 public:
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const override;
  [[nodiscard]] SerdeError Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                     const ObjectKey* key, std::size_t* written) const override;
  [[nodiscard]] SerdeError Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                       const ObjectKey* key) const override;
};

}  // namespace lmc::serde
