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
#include "base/endian.h"

#include <cstring>
#include <vector>

namespace lmc::serde {
namespace {

constexpr std::byte kMagic[4] = {std::byte{'L'}, std::byte{'M'}, std::byte{'K'}, std::byte{'Z'}};
constexpr std::uint8_t kVersion = 2;
constexpr std::size_t kChunkBytes = std::size_t{1} << kLosslessChunkLog2;

// Byte planes need every group to hold 2-byte elements.
bool PlanesFit(const Layout& layout) {
  for (const Group& g : layout.groups) {
    if (DTypeBytes(g.dtype) != 2) return false;
  }
  return true;
}

// Per-thread state, reused across calls: a chunk of scratch for the byte
// planes, the codecs' contexts and the hash state (allocating them per
// object, or per chunk, would cost more than a chunk's work).
struct ThreadState {
  std::vector<std::byte> scratch = std::vector<std::byte>(kChunkBytes);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::vector<char> lz4_state = std::vector<char>(static_cast<std::size_t>(LZ4_sizeofState()));
  std::vector<char> lz4hc_state = std::vector<char>(static_cast<std::size_t>(LZ4_sizeofStateHC()));
  XXH3_state_t* hash = XXH3_createState();
  ThreadState() = default;
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  ~ThreadState() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    XXH3_freeState(hash);
  }
  bool ok() const { return cctx != nullptr && dctx != nullptr && hash != nullptr; }
};

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

// Upper bound of one compressed chunk of n bytes (n <= a chunk).
std::uint64_t ChunkBound(Codec codec, std::size_t n) {
  if (codec == Codec::kZstd) {
    const std::size_t bound = ZSTD_compressBound(n);
    return ZSTD_isError(bound) ? 0 : bound;
  }
  return static_cast<std::uint64_t>(LZ4_compressBound(static_cast<int>(n)));
}

// The whole body's bound: every chunk's bound plus its 4-byte size; 0 when
// it does not fit in 64 bits.
std::uint64_t Bound(Codec codec, std::uint64_t n) {
  const std::uint64_t full = n / kChunkBytes;
  const auto rest = static_cast<std::size_t>(n % kChunkBytes);
  const std::uint64_t per_full = 4 + ChunkBound(codec, kChunkBytes);
  const std::uint64_t last = rest == 0 ? 0 : 4 + ChunkBound(codec, rest);
  const std::uint64_t room = UINT64_MAX - kLosslessHeaderBytes - last;
  if (full > room / per_full) return 0;
  return full * per_full + last;
}

// Compresses one chunk into `out`; returns its size, or 0 on failure.
std::size_t CompressChunk(ThreadState& t, const LosslessOptions& o, std::span<const std::byte> in,
                          std::span<std::byte> out) {
  if (o.codec == Codec::kZstd) {
    const std::size_t n = ZSTD_compressCCtx(t.cctx, out.data(), out.size(), in.data(), in.size(), o.level);
    return ZSTD_isError(n) ? 0 : n;
  }
  const auto* src = reinterpret_cast<const char*>(in.data());
  auto* dst = reinterpret_cast<char*>(out.data());
  const int size = static_cast<int>(in.size());
  const int cap = static_cast<int>(std::min<std::size_t>(out.size(), INT32_MAX));
  const int n = o.level <= 0 ? LZ4_compress_fast_extState(t.lz4_state.data(), src, dst, size, cap, 1)
                             : LZ4_compress_HC_extStateHC(t.lz4hc_state.data(), src, dst, size, cap, o.level);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// Decompresses one chunk, which must give exactly out.size() bytes.
bool DecompressChunk(ThreadState& t, Codec codec, std::span<const std::byte> in, std::span<std::byte> out) {
  if (codec == Codec::kZstd) {
    const std::size_t n = ZSTD_decompressDCtx(t.dctx, out.data(), out.size(), in.data(), in.size());
    return !ZSTD_isError(n) && n == out.size();
  }
  const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
                                    static_cast<int>(in.size()), static_cast<int>(out.size()));
  return n >= 0 && static_cast<std::size_t>(n) == out.size();
}

}  // namespace

#if defined(__x86_64__)
namespace {

// 16 elements per step: each 128-bit half gathers its low bytes then its
// high bytes, and a qword permute puts all low bytes before all high ones.
__attribute__((target("avx2"))) std::size_t SplitAvx2(const std::byte* in, std::byte* lo, std::byte* hi,
                                                      std::size_t n) {
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

namespace {

// Interleaves n low bytes and n high bytes into 2n bytes of out.
void JoinRange(const std::byte* lo, const std::byte* hi, std::byte* out, std::size_t n) {
  std::size_t i = 0;
#if defined(__x86_64__)
  if (base::DetectedCpuLevel() >= base::CpuLevel::kSse2) i = JoinSse2(lo, hi, out, n);
#endif
  for (; i < n; ++i) {
    out[2 * i] = lo[i];
    out[2 * i + 1] = hi[i];
  }
}

}  // namespace

void JoinBytePlanes(std::span<const std::byte> in, std::span<std::byte> out) {
  const std::size_t n = in.size() / 2;
  JoinRange(in.data(), in.data() + n, out.data(), n);
}

namespace {

// Joins one chunk's planes into `out` and hashes it, a few KiB at a time:
// each piece is joined into a buffer in L1, hashed there, then copied out.
// On x86 the copy uses non-temporal stores, which skip reading the
// destination's lines first (the join is otherwise a pure memory pass, and
// slower than the decoder before it).
void JoinAndHash(std::span<const std::byte> planes, std::span<std::byte> out, XXH3_state_t* hash) {
  constexpr std::size_t kPiece = 4096;  // output bytes per step
  alignas(64) std::byte piece[kPiece];
  const std::size_t n = planes.size() / 2;
  const std::byte* lo = planes.data();
  const std::byte* hi = planes.data() + n;
  for (std::size_t done = 0; done < n;) {
    const std::size_t m = std::min(kPiece / 2, n - done);  // elements this step
    JoinRange(lo + done, hi + done, piece, m);
    XXH3_64bits_update(hash, piece, 2 * m);
    std::byte* dst = out.data() + 2 * done;
    std::size_t copied = 0;
#if defined(__x86_64__)
    if (reinterpret_cast<std::uintptr_t>(dst) % 16 == 0) {
      for (; copied + 16 <= 2 * m; copied += 16)
        _mm_stream_si128(reinterpret_cast<__m128i*>(dst + copied),
                         _mm_load_si128(reinterpret_cast<const __m128i*>(piece + copied)));
    }
#endif
    std::memcpy(dst + copied, piece + copied, 2 * m - copied);
    done += m;
  }
#if defined(__x86_64__)
  _mm_sfence();  // the streamed stores are visible before the caller reads
#endif
}

}  // namespace

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
  ThreadState& t = State();
  if (!t.ok()) return SerdeError::kTooSmall;  // no memory for the codec contexts
  XXH3_64bits_reset(t.hash);
  const std::size_t end = std::min<std::size_t>(dst.size(), static_cast<std::size_t>(estimate));
  std::size_t pos = kLosslessHeaderBytes;
  for (std::size_t off = 0; off < src.size(); off += kChunkBytes) {
    const std::span<const std::byte> chunk = src.subspan(off, std::min(kChunkBytes, src.size() - off));
    XXH3_64bits_update(t.hash, chunk.data(), chunk.size());
    std::span<const std::byte> input = chunk;
    if (options_.byte_planes) {
      SplitBytePlanes(chunk, std::span(t.scratch).first(chunk.size()));
      input = std::span(t.scratch).first(chunk.size());
    }
    if (end - pos < 4) return SerdeError::kTooSmall;
    const std::size_t n = CompressChunk(t, options_, input, dst.subspan(pos + 4, end - pos - 4));
    if (n == 0) return SerdeError::kTooSmall;
    base::StoreLe(dst.data() + pos, static_cast<std::uint32_t>(n));
    pos += 4 + n;
  }
  std::byte* h = dst.data();
  std::memcpy(h, kMagic, 4);
  h[4] = std::byte{kVersion};
  h[5] = static_cast<std::byte>(options_.codec);
  h[6] = std::byte{options_.byte_planes ? std::uint8_t{1} : std::uint8_t{0}};
  h[7] = std::byte{kLosslessChunkLog2};
  base::StoreLe<std::uint64_t>(h + 8, src.size());
  base::StoreLe<std::uint64_t>(h + 16, pos - kLosslessHeaderBytes);
  base::StoreLe<std::uint64_t>(h + 24, XXH3_64bits_digest(t.hash));
  *written = pos;
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
      blob[6] != std::byte{options_.byte_planes ? std::uint8_t{1} : std::uint8_t{0}}) {
    return SerdeError::kWrongSerde;
  }
  const auto chunk_log2 = static_cast<unsigned>(blob[7]);
  const std::uint64_t original = base::LoadLe<std::uint64_t>(blob.data() + 8);
  const std::uint64_t body = base::LoadLe<std::uint64_t>(blob.data() + 16);
  if (chunk_log2 < 10 || chunk_log2 > 30 || original != dst.size() || body != blob.size() - kLosslessHeaderBytes)
    return SerdeError::kCorrupt;
  const std::size_t chunk_bytes = std::size_t{1} << chunk_log2;
  ThreadState& t = State();
  if (!t.ok()) return SerdeError::kCorrupt;
  // Bounded by the caller's destination, not by the blob's header.
  const std::size_t scratch_bytes = std::min(chunk_bytes, dst.size());
  if (options_.byte_planes && t.scratch.size() < scratch_bytes) t.scratch.resize(scratch_bytes);
  XXH3_64bits_reset(t.hash);
  std::span<const std::byte> in = blob.subspan(kLosslessHeaderBytes);
  for (std::size_t off = 0; off < dst.size(); off += chunk_bytes) {
    const std::span<std::byte> chunk = dst.subspan(off, std::min(chunk_bytes, dst.size() - off));
    if (in.size() < 4) return SerdeError::kCorrupt;
    const std::uint32_t n = base::LoadLe<std::uint32_t>(in.data());
    if (n > in.size() - 4 || n > static_cast<std::uint32_t>(INT32_MAX)) return SerdeError::kCorrupt;
    const std::span<std::byte> out = options_.byte_planes ? std::span(t.scratch).first(chunk.size()) : chunk;
    if (!DecompressChunk(t, options_.codec, in.subspan(4, n), out)) return SerdeError::kCorrupt;
    if (options_.byte_planes)
      JoinAndHash(out, chunk, t.hash);
    else
      XXH3_64bits_update(t.hash, chunk.data(), chunk.size());
    in = in.subspan(4 + std::size_t{n});
  }
  if (!in.empty() || XXH3_64bits_digest(t.hash) != base::LoadLe<std::uint64_t>(blob.data() + 24))
    return SerdeError::kCorrupt;
  return SerdeError::kOk;
}

}  // namespace lmc::serde
