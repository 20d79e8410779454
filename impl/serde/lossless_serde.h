// Lossless serdes: zstd and lz4, optionally over byte planes of 16-bit data
// (all low bytes, then all high bytes: bf16/fp16 high bytes, sign and
// exponent, compress far better apart). LMCache has no such serde (serde.md
// §4.4), so the blob is framed by this kit's own header, which lets a wrong
// configuration or a corrupt blob be detected instead of returning wrong
// data. Little-endian, 32 bytes:
//
//   0  4  magic "LMKZ"
//   4  1  version 2
//   5  1  codec: 1 zstd, 2 lz4
//   6  1  transform: 0 none, 1 byte planes of 2-byte elements
//   7  1  log2 of the chunk size (20, 1 MiB, when written here; 10..30 read)
//   8  8  original size in bytes
//  16  8  body size in bytes (the rest of the blob)
//  24  8  XXH3-64 of the original bytes
//
// The body is the original cut into chunks of the chunk size (the last one
// shorter), each compressed on its own (byte planes within the chunk) and
// written as a 4-byte compressed size, then the compressed bytes. Chunks
// keep each step in the cache: a chunk is split, hashed and compressed, or
// decompressed, joined and hashed, while it is hot, instead of one pass over
// the whole object per step.
#pragma once

#include "serde/serde.h"

namespace lmc::serde {

enum class Codec : std::uint8_t { kZstd = 1, kLz4 = 2 };

inline constexpr std::size_t kLosslessHeaderBytes = 32;
inline constexpr unsigned kLosslessChunkLog2 = 20;  // 1 MiB

struct LosslessOptions {
  Codec codec = Codec::kZstd;
  // zstd: 1..19 (negative: zstd's fast levels). lz4: 0 = LZ4_compress_default,
  // 1..12 = LZ4 HC at that level.
  int level = 3;
  bool byte_planes = false;
};

class LosslessSerde final : public Serializer, public Deserializer {
 public:
  explicit LosslessSerde(LosslessOptions options) : options_(options) {}
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const override;
  [[nodiscard]] SerdeError Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                     const ObjectKey* key, std::size_t* written) const override;
  [[nodiscard]] SerdeError Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                       const ObjectKey* key) const override;
  const LosslessOptions& options() const { return options_; }

 private:
  LosslessOptions options_;
};

// Byte planes of 2-byte elements (n even): out = all bytes 0, then all bytes 1.
void SplitBytePlanes(std::span<const std::byte> in, std::span<std::byte> out);
void JoinBytePlanes(std::span<const std::byte> in, std::span<std::byte> out);

}  // namespace lmc::serde
