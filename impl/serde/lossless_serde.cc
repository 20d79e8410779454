#include "serde/lossless_serde.h"

#include <lz4.h>
#include <lz4hc.h>
#include <xxhash.h>
#include <zstd.h>

#include <cstring>
#include <vector>

namespace lmc::serde {
namespace {

constexpr std::byte kMagic[4] = {std::byte{'L'}, std::byte{'M'}, std::byte{'K'}, std::byte{'Z'}};
constexpr std::uint8_t kVersion = 1;

void PutU64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint64_t GetU64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

// Byte planes need every group to hold 2-byte elements.
bool PlanesFit(const Layout& layout) {
  for (const Group& g : layout.groups) {
    if (DTypeBytes(g.dtype) != 2) return false;
  }
  return true;
}

// One scratch buffer per thread for the byte planes, reused across calls
// (a fresh allocation per object would fault in new pages every time).
std::vector<std::byte>& Scratch(std::size_t bytes) {
  thread_local std::vector<std::byte> scratch;
  if (scratch.size() < bytes) scratch.resize(bytes);
  return scratch;
}

std::uint64_t Bound(Codec codec, std::uint64_t n) {
  if (codec == Codec::kZstd) return ZSTD_compressBound(static_cast<std::size_t>(n));
  if (n > static_cast<std::uint64_t>(LZ4_MAX_INPUT_SIZE)) return 0;
  return static_cast<std::uint64_t>(LZ4_compressBound(static_cast<int>(n)));
}

}  // namespace

void SplitBytePlanes(std::span<const std::byte> in, std::span<std::byte> out) {
  const std::size_t n = in.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = in[2 * i];
    out[n + i] = in[2 * i + 1];
  }
}

void JoinBytePlanes(std::span<const std::byte> in, std::span<std::byte> out) {
  const std::size_t n = in.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = in[i];
    out[2 * i + 1] = in[n + i];
  }
}

std::uint64_t LosslessSerde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  const auto bytes = LayoutBytes(layout);
  *error = SerdeError::kBadLayout;
  if (layout.groups.empty() || !bytes || (options_.byte_planes && !PlanesFit(layout))) return 0;
  const std::uint64_t bound = Bound(options_.codec, *bytes);
  if (bound == 0 && *bytes != 0) return 0;
  *error = SerdeError::kOk;
  return kLosslessHeaderBytes + bound;
}

SerdeError LosslessSerde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                    const ObjectKey*, std::size_t* written) const {
  *written = 0;
  SerdeError e;
  const std::uint64_t estimate = EstimateSerializedSize(layout, &e);
  if (e != SerdeError::kOk) return e;
  if (src.size() != *LayoutBytes(layout)) return SerdeError::kSizeMismatch;
  if (dst.size() < kLosslessHeaderBytes) return SerdeError::kTooSmall;
  std::span<const std::byte> input = src;
  if (options_.byte_planes) {
    std::vector<std::byte>& planes = Scratch(src.size());
    SplitBytePlanes(src, std::span(planes).first(src.size()));
    input = std::span(planes).first(src.size());
  }
  std::byte* out = dst.data() + kLosslessHeaderBytes;
  const std::size_t room = std::min<std::size_t>(dst.size(), static_cast<std::size_t>(estimate)) - kLosslessHeaderBytes;
  std::size_t compressed = 0;
  if (options_.codec == Codec::kZstd) {
    compressed = ZSTD_compress(out, room, input.data(), input.size(), options_.level);
    if (ZSTD_isError(compressed)) return SerdeError::kTooSmall;
  } else {
    const int n = options_.level <= 0
                      ? LZ4_compress_default(reinterpret_cast<const char*>(input.data()), reinterpret_cast<char*>(out),
                                             static_cast<int>(input.size()), static_cast<int>(room))
                      : LZ4_compress_HC(reinterpret_cast<const char*>(input.data()), reinterpret_cast<char*>(out),
                                        static_cast<int>(input.size()), static_cast<int>(room), options_.level);
    if (n <= 0 && !input.empty()) return SerdeError::kTooSmall;
    compressed = static_cast<std::size_t>(std::max(n, 0));
  }
  std::byte* h = dst.data();
  std::memcpy(h, kMagic, 4);
  h[4] = std::byte{kVersion};
  h[5] = static_cast<std::byte>(options_.codec);
  h[6] = std::byte{options_.byte_planes ? std::uint8_t{1} : std::uint8_t{0}};
  h[7] = std::byte{0};
  PutU64(h + 8, src.size());
  PutU64(h + 16, compressed);
  PutU64(h + 24, XXH3_64bits(src.data(), src.size()));
  *written = kLosslessHeaderBytes + compressed;
  return SerdeError::kOk;
}

SerdeError LosslessSerde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                      const ObjectKey*) const {
  const auto bytes = LayoutBytes(layout);
  if (layout.groups.empty() || !bytes) return SerdeError::kBadLayout;
  if (dst.size() != *bytes) return SerdeError::kSizeMismatch;
  if (blob.size() < kLosslessHeaderBytes || std::memcmp(blob.data(), kMagic, 4) != 0 ||
      blob[4] != std::byte{kVersion}) {
    return SerdeError::kCorrupt;
  }
  // Written by another codec or transform: a configuration mismatch, never
  // decoded as if it were ours.
  if (blob[5] != static_cast<std::byte>(options_.codec) ||
      blob[6] != std::byte{options_.byte_planes ? std::uint8_t{1} : std::uint8_t{0}} || blob[7] != std::byte{0}) {
    return SerdeError::kWrongSerde;
  }
  const std::uint64_t original = GetU64(blob.data() + 8);
  const std::uint64_t compressed = GetU64(blob.data() + 16);
  if (original != dst.size() || compressed > blob.size() - kLosslessHeaderBytes) return SerdeError::kCorrupt;
  const std::byte* in = blob.data() + kLosslessHeaderBytes;
  std::span<std::byte> out = dst;
  if (options_.byte_planes) out = std::span(Scratch(dst.size())).first(dst.size());
  std::size_t got = 0;
  if (options_.codec == Codec::kZstd) {
    got = ZSTD_decompress(out.data(), out.size(), in, static_cast<std::size_t>(compressed));
    if (ZSTD_isError(got)) return SerdeError::kCorrupt;
  } else {
    if (compressed > static_cast<std::uint64_t>(INT32_MAX) || out.size() > static_cast<std::size_t>(INT32_MAX)) {
      return SerdeError::kCorrupt;
    }
    const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out.data()),
                                      static_cast<int>(compressed), static_cast<int>(out.size()));
    if (n < 0) return SerdeError::kCorrupt;
    got = static_cast<std::size_t>(n);
  }
  if (got != out.size()) return SerdeError::kCorrupt;
  if (options_.byte_planes) JoinBytePlanes(out, dst);
  if (XXH3_64bits(dst.data(), dst.size()) != GetU64(blob.data() + 24)) return SerdeError::kCorrupt;
  return SerdeError::kOk;
}

}  // namespace lmc::serde
