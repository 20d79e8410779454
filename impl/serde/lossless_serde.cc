#include "serde/lossless_serde.h"

#include <lz4.h>
#include <lz4hc.h>
#include <xxhash.h>
#include <zstd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#include <xxh_x86dispatch.h>  // XXH3 at the CPU's widest vectors, chosen at run time
#endif

#include "base/cpu.h"

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
  if (codec == Codec::kZstd) {
    const std::size_t bound = ZSTD_compressBound(static_cast<std::size_t>(n));
    return ZSTD_isError(bound) || bound > UINT64_MAX - kLosslessHeaderBytes - (1u << 20) ? 0 : bound;
  }
  if (n > static_cast<std::uint64_t>(LZ4_MAX_INPUT_SIZE)) return 0;
  return static_cast<std::uint64_t>(LZ4_compressBound(static_cast<int>(n)));
}

}  // namespace

#if defined(__x86_64__)
namespace {

// 16 elements per step: each 128-bit half gathers its low bytes then its
// high bytes, and a qword permute puts all low bytes before all high ones.
__attribute__((target("avx2"))) std::size_t SplitAvx2(const std::byte* in, std::byte* lo, std::byte* hi, std::size_t n) {
  const __m256i gather = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                          0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i));
    const __m256i planes = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, gather), 0xD8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lo + i), _mm256_castsi256_si128(planes));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(hi + i), _mm256_extracti128_si256(planes, 1));
  }
  return i;
}

// SSE2 (every x86-64): interleave 16 low and 16 high bytes.
std::size_t JoinSse2(const std::byte* lo, const std::byte* hi, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + i));
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), _mm_unpacklo_epi8(l, h));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i + 16), _mm_unpackhi_epi8(l, h));
  }
  return i;
}

}  // namespace
#endif

void SplitBytePlanes(std::span<const std::byte> in, std::span<std::byte> out) {
  const std::size_t n = in.size() / 2;
  std::size_t i = 0;
#if defined(__x86_64__)
  if (base::DetectedCpuLevel() >= base::CpuLevel::kAvx2) i = SplitAvx2(in.data(), out.data(), out.data() + n, n);
#endif
  for (; i < n; ++i) {
    out[i] = in[2 * i];
    out[n + i] = in[2 * i + 1];
  }
}

void JoinBytePlanes(std::span<const std::byte> in, std::span<std::byte> out) {
  const std::size_t n = in.size() / 2;
  std::size_t i = 0;
#if defined(__x86_64__)
  if (base::DetectedCpuLevel() >= base::CpuLevel::kSse2) i = JoinSse2(in.data(), in.data() + n, out.data(), n);
#endif
  for (; i < n; ++i) {
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
  if (layout.groups.empty() || !bytes || (options_.byte_planes && !PlanesFit(layout))) return SerdeError::kBadLayout;
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
