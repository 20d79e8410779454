// LMCache's aesgcm serde and its earlier form, encrypt (serde.md §4.2):
// version 0x01, a random 12-byte IV, the AES-GCM ciphertext and its 16-byte
// tag; no additional data. The key for each object is HKDF-SHA256 of the
// master key with no salt and info = the serde's prefix + the key's UTF-8
// cache_salt, 16 or 32 bytes (AES-128 or AES-256). The two serdes differ
// only in that prefix ("lmcache-l2-aesgcm-v1" and "lmcache-l2-encrypt-v1"),
// so neither reads the other's blobs. A tampered blob or a wrong key fails
// the tag check (kAuth).
//
// The IV comes from the cryptographic source given (the Env's
// CryptoRandom), never from the kit's seeded generator: a repeated IV under
// one key breaks GCM. So this serde is the one not deterministic (as in
// LMCache), except in a simulated world that chooses to make it so.
//
// The master key is the whole content of `master_key_path`, raw bytes (at
// least 16). LMCache's own file format for it is not established (§9).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serde/serde.h"

namespace lmc::serde {

inline constexpr std::size_t kAesGcmOverheadBytes = 1 + 12 + 16;

// The HKDF info prefixes (key_provider.py @292843f; encrypt.py @bf6d4cc).
inline constexpr std::string_view kAesGcmInfoPrefix = "lmcache-l2-aesgcm-v1";
inline constexpr std::string_view kEncryptInfoPrefix = "lmcache-l2-encrypt-v1";

// The info prefix of a serde type: "aesgcm" or "encrypt"; nullopt for any
// other name. The registry builds both serdes through it.
[[nodiscard]] std::optional<std::string_view> AesGcmInfoPrefix(std::string_view serde_type);

class AesGcmSerde final : public Serializer, public Deserializer {
 public:
  // Fills its span with secret random bytes; false if it cannot.
  using RandomSource = std::function<bool(std::span<std::byte>)>;
  // `iv_source` gives each blob's IV; production passes the Env's
  // CryptoRandom, and only tests pass anything else (a known IV).
  AesGcmSerde(std::vector<std::byte> master_key, int aes_bits, std::string_view info_prefix, RandomSource iv_source);
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const override;
  [[nodiscard]] SerdeError Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                     const ObjectKey* key, std::size_t* written) const override;
  [[nodiscard]] SerdeError Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                       const ObjectKey* key) const override;
  // The object key's AES key (HKDF), exposed for tests.
  [[nodiscard]] bool DeriveKey(const std::string& cache_salt, std::vector<unsigned char>* out) const;

 private:
  std::vector<std::byte> master_key_;
  int aes_bits_;
  std::string info_prefix_;
  RandomSource iv_source_;
};

}  // namespace lmc::serde
