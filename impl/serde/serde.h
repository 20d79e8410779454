// The serde interfaces (serde.md §1): a Serializer turns a KV-shaped object
// (a Layout and its bytes) into a blob for L2, a Deserializer turns a blob
// back into the caller's KV-shaped buffer. Errors are returned, never
// thrown: the blob may come from a corrupt or hostile store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "serde/dtype.h"

namespace lmc::serde {

enum class [[nodiscard]] SerdeError : std::uint8_t{
    kOk = 0,
    kBadLayout,     // the layout is empty, overflows, or has a dtype the serde cannot take
    kSizeMismatch,  // the source bytes do not match the layout
    kTooSmall,      // the destination cannot hold the result
    kCorrupt,       // the blob is truncated, has a wrong header or fails its check
    kWrongSerde,    // the blob was written by another serde or configuration
    kWrongKey,      // the blob belongs to another key (checksum fingerprint)
    kAuth,          // authentication failed (AES-GCM tag): tampered or wrong key
};
[[nodiscard]] std::string_view SerdeErrorName(SerdeError e);

// LMCache's ObjectKey (serde.md §6.2): what Era G3 serdes are given with
// each object (the checksum serde binds a blob to its chunk hash).
struct ObjectKey {
  std::vector<std::byte> chunk_hash;
  std::string model_name;
  std::int64_t kv_rank = 0;
  std::int64_t object_group_id = 0;
  std::string cache_salt;
};

class Serializer {
 public:
  virtual ~Serializer() = default;
  // A true upper bound on Serialize's output for any object of `layout`,
  // depending on the layout only; 0 with *error set if the layout is refused.
  [[nodiscard]] virtual std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const = 0;
  // Writes the blob of `src` (the groups' bytes back to back, each in its
  // dtype) into `dst`; sets *written. `key` may be null for serdes that do
  // not use it.
  [[nodiscard]] virtual SerdeError Serialize(const Layout& layout, std::span<const std::byte> src,
                                             std::span<std::byte> dst, const ObjectKey* key,
                                             std::size_t* written) const = 0;
  // True when every blob of a layout is exactly EstimateSerializedSize
  // bytes (fp8): a reader then asks L2 for that exact size, and a shorter or
  // longer stored object is a per-key miss rather than a corrupt blob.
  virtual bool FixedSize() const { return false; }
};

class Deserializer {
 public:
  virtual ~Deserializer() = default;
  // Fills `dst` (laid out as `layout`, which says the destination dtypes)
  // from `blob`. On an error, `dst` may have been partly written.
  [[nodiscard]] virtual SerdeError Deserialize(std::span<const std::byte> blob, const Layout& layout,
                                               std::span<std::byte> dst, const ObjectKey* key) const = 0;
};

}  // namespace lmc::serde
