// The request kernels (see headers.h, detail::RequestKernels). The vector
// forms are compiled for their instruction sets with target attributes and
// chosen before main(), so the binary still runs on CPUs without AVX2 or
// AVX-512. Each form's scan and encode are inlined into its four entry points,
// so a public call costs one indirect call.
#include "wire/request_kernels.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "base/cpu.h"
#include "wire/text.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LMC_X86 1
#endif

#define LMC_INLINE inline __attribute__((always_inline))

namespace lmc::wire::detail {
namespace {

// --- portable (any little-endian host) ---------------------------------------

LMC_INLINE KeyScan ScanPortable(const std::byte* wire, void* image_out) {
  if (image_out != nullptr) std::memcpy(image_out, wire, kRequestHeaderBytes);
  const auto* key = reinterpret_cast<const unsigned char*>(wire + kKeyOffset);
  bool unprintable = false;
  for (std::size_t i = 0; i < kKeyFieldBytes; ++i) unprintable |= key[i] < 0x20 || key[i] >= 0x80;
  std::size_t end = kKeyFieldBytes;
  while (end > 0 && key[end - 1] == ' ') --end;
  return MakeScan(unprintable, key[0] == ' ', end);
}

LMC_INLINE void CopyPortable(const void* image, std::byte* wire) { std::memcpy(wire, image, kRequestHeaderBytes); }

// Writes the request; returns true when the key is printable ASCII (then it
// needs no UTF-8 check).
LMC_INLINE bool EncodeKeyPortable(const RequestView& h, std::byte* wire) {
  assert(h.key.size() <= kKeyFieldBytes);
  std::memcpy(wire, &h, kKeyOffset);  // the nine ints (little-endian host)
  std::memcpy(wire + kKeyOffset, h.key.data(), h.key.size());
  std::memset(wire + kKeyOffset + h.key.size(), static_cast<int>(kKeyPadByte), kKeyFieldBytes - h.key.size());
  bool unprintable = false;
  for (char c : h.key) unprintable |= static_cast<signed char>(c) < 0x20;
  return !unprintable;
}

#if LMC_X86

// One past the highest set bit of a mask held as three 64-bit words.
LMC_INLINE std::size_t EndFromMasks(std::uint64_t lo, std::uint64_t mid, std::uint64_t hi) {
  if (hi != 0) return 192 - static_cast<std::size_t>(__builtin_clzll(hi));
  if (mid != 0) return 128 - static_cast<std::size_t>(__builtin_clzll(mid));
  if (lo != 0) return 64 - static_cast<std::size_t>(__builtin_clzll(lo));
  return 0;
}

// --- SSE2 (the x86-64 baseline) ------------------------------------------------

// Ten 16-byte loads cover the key field; the last (key bytes 134..149)
// overlaps the ninth, which is harmless for both tests.
LMC_INLINE KeyScan ScanSse2(const std::byte* wire, void* image_out) {
  if (image_out != nullptr) std::memcpy(image_out, wire, kRequestHeaderBytes);
  const auto* key = reinterpret_cast<const char*>(wire + kKeyOffset);
  const __m128i sp = _mm_set1_epi8(' ');
  __m128i bad = _mm_setzero_si128();
  const auto not_space = [&](std::size_t off) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + off));
    bad = _mm_or_si128(bad, _mm_cmplt_epi8(v, sp));  // signed: < 0x20 or >= 0x80
    return static_cast<std::uint64_t>(~_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp)) & 0xFFFF);
  };
  const std::uint64_t lo = not_space(0) | not_space(16) << 16 | not_space(32) << 32 | not_space(48) << 48;
  const std::uint64_t mid = not_space(64) | not_space(80) << 16 | not_space(96) << 32 | not_space(112) << 48;
  const std::uint64_t hi = not_space(128) | not_space(134) << 6;  // bit i: key byte 128 + i
  return MakeScan(_mm_movemask_epi8(bad) != 0, (lo & 1) == 0, EndFromMasks(lo, mid, hi));
}

// --- AVX2 ------------------------------------------------------------------------

#define LMC_AVX2 __attribute__((target("avx2,bmi,bmi2,lzcnt")))

LMC_INLINE LMC_AVX2 KeyScan ScanAvx2(const std::byte* wire, void* image_out) {
  if (image_out != nullptr) std::memcpy(image_out, wire, kRequestHeaderBytes);
  const auto* key = reinterpret_cast<const char*>(wire + kKeyOffset);
  const __m256i sp = _mm256_set1_epi8(' ');
  __m256i bad = _mm256_setzero_si256();
  const auto not_space = [&](std::size_t off) LMC_AVX2 {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(key + off));
    bad = _mm256_or_si256(bad, _mm256_cmpgt_epi8(sp, v));  // signed: < 0x20 or >= 0x80
    return std::uint64_t{~static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, sp)))};
  };
  const std::uint64_t lo = not_space(0) | not_space(32) << 32;
  const std::uint64_t mid = not_space(64) | not_space(96) << 32;
  const std::uint64_t hi = not_space(118) >> 10;  // key bytes 118..149; keep 128..149
  return MakeScan(_mm256_movemask_epi8(bad) != 0, (lo & 1) == 0, EndFromMasks(lo, mid, hi));
}

// --- AVX-512 -------------------------------------------------------------------

#define LMC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,bmi,bmi2,lzcnt")))

// Three 64-byte blocks at wire offsets 0, 64 and 122 cover all 186 bytes (the
// last overlaps the second). Every kernel loads and stores at these offsets.
constexpr std::size_t kBlock2 = kRequestHeaderBytes - 64;
static_assert(kBlock2 == 122);
// Lanes of block 0 that hold key bytes (the nine ints are lanes 0..35).
constexpr std::uint64_t kKeyLanesOfBlock0 = ~((std::uint64_t{1} << kKeyOffset) - 1);

LMC_INLINE LMC_AVX512 KeyScan ScanAvx512(const std::byte* wire, void* image_out) {
  const auto* p = reinterpret_cast<const char*>(wire);
  const __m512i v0 = _mm512_loadu_si512(p);
  const __m512i v1 = _mm512_loadu_si512(p + 64);
  const __m512i v2 = _mm512_loadu_si512(p + kBlock2);
  if (image_out != nullptr) {
    auto* out = static_cast<char*>(image_out);
    _mm512_storeu_si512(out, v0);
    _mm512_storeu_si512(out + 64, v1);
    _mm512_storeu_si512(out + kBlock2, v2);
  }
  // Any key byte outside 0x20..0x7F? One signed minimum over all key lanes
  // (the ints' lanes replaced by spaces), then one compare.
  const __m512i sp = _mm512_set1_epi8(' ');
  const __m512i key0 = _mm512_mask_mov_epi8(v0, ~kKeyLanesOfBlock0, sp);
  const __m512i least = _mm512_min_epi8(key0, _mm512_min_epi8(v1, v2));
  const bool bad = _mm512_cmplt_epi8_mask(least, sp) != 0;
  // The last non-space byte, looking at the last block first: most keys end
  // before it, but each compare is only made when the later blocks are blank.
  // Bit i of hi is wire byte 128+i, of mid 64+i, of lo i.
  std::size_t last = 0;  // one past the wire position; 0 if all spaces
  if (const std::uint64_t hi = _mm512_cmpneq_epi8_mask(v2, sp) >> (128 - kBlock2); hi != 0) {
    last = 192 - _lzcnt_u64(hi);
  } else if (const std::uint64_t mid = _mm512_cmpneq_epi8_mask(v1, sp); mid != 0) {
    last = 128 - _lzcnt_u64(mid);
  } else if (const std::uint64_t lo = _mm512_cmpneq_epi8_mask(key0, sp); lo != 0) {
    last = 64 - _lzcnt_u64(lo);
  }
  const bool starts_with_space = p[kKeyOffset] == ' ';
  return MakeScan(bad, starts_with_space, last == 0 ? 0 : last - kKeyOffset);
}

LMC_INLINE LMC_AVX512 void CopyAvx512(const void* image, std::byte* wire) {
  const auto* src = static_cast<const char*>(image);
  auto* dst = reinterpret_cast<char*>(wire);
  const __m512i v0 = _mm512_loadu_si512(src);
  const __m512i v1 = _mm512_loadu_si512(src + 64);
  const __m512i v2 = _mm512_loadu_si512(src + kBlock2);
  _mm512_storeu_si512(dst, v0);
  _mm512_storeu_si512(dst + 64, v1);
  _mm512_storeu_si512(dst + kBlock2, v2);
}

// True when [address, address + bytes) lies within one 4 KiB page.
LMC_INLINE bool WithinOnePage(std::uintptr_t address, std::size_t bytes) {
  constexpr std::uintptr_t kPageBits = 12;
  return (address >> kPageBits) == ((address + bytes - 1) >> kPageBits);
}

// Masked loads over a vector of spaces build the three blocks: block 0 takes
// the nine ints and key bytes 0..27, block 1 key bytes 28..91, block 2 key
// bytes 86..149. Masked-off lanes are never read, but a masked load whose
// window reaches into a page that is not mapped costs a microcode assist of
// hundreds of cycles (measured here: 59 ns instead of 4 per call). So the
// windows are used in place only when they stay inside the page of the bytes
// they are for; otherwise (about 5% of placements) those bytes are first
// staged on the stack, where every window is safe.
LMC_INLINE LMC_AVX512 bool EncodeKeyAvx512(const RequestView& h, std::byte* wire) {
  const std::size_t n = h.key.size();
  assert(n <= kKeyFieldBytes);
  alignas(64) char stage[64 + 192];  // the key at 64: every window fits inside
  const char* key = h.key.data();
  if (n == 0 || !WithinOnePage(reinterpret_cast<std::uintptr_t>(key) - kKeyOffset, kRequestHeaderBytes)) {
    if (n != 0) std::memcpy(stage + 64, key, n);
    key = stage + 64;
  }
  const auto key_at = reinterpret_cast<std::uintptr_t>(key);
  constexpr std::uint64_t kAll = ~std::uint64_t{0};
  constexpr std::size_t kKey1 = 64 - kKeyOffset;       // first key byte of block 1: 28
  constexpr std::size_t kKey2 = kBlock2 - kKeyOffset;  // first key byte of block 2: 86
  // _bzhi_u64(x, i) keeps the low i bits of x (all of them for i >= 64).
  const __mmask64 m0 = _bzhi_u64(kAll, static_cast<unsigned>(kKeyOffset + n)) & kKeyLanesOfBlock0;
  const __mmask64 m1 = n > kKey1 ? _bzhi_u64(kAll, static_cast<unsigned>(n - kKey1)) : 0;
  const __mmask64 m2 = n > kKey2 ? _bzhi_u64(kAll, static_cast<unsigned>(n - kKey2)) : 0;
  const __m512i sp = _mm512_set1_epi8(' ');
  // Lane i of block 0 holds key byte i - 36: the window starts 36 bytes before
  // the key (an address formed as an integer; only lanes of m0 are read).
  const auto* before_key = reinterpret_cast<const char*>(key_at - kKeyOffset);
  // The nine ints: eight with one 32-byte load, the ninth on its own. Neither
  // load reaches the key's fields in `h`, which a caller has usually just
  // written (a wider load would wait for those stores to retire).
  __m512i b0 = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&h)));
  b0 = _mm512_mask_set1_epi32(b0, __mmask16{1} << 8, h.shape[kShapeDims - 1]);
  b0 = _mm512_mask_loadu_epi8(_mm512_mask_mov_epi8(b0, kKeyLanesOfBlock0, sp), m0, before_key);
  const __m512i b1 = _mm512_mask_loadu_epi8(sp, m1, key + kKey1);
  const __m512i b2 = _mm512_mask_loadu_epi8(sp, m2, key + kKey2);
  auto* dst = reinterpret_cast<char*>(wire);
  _mm512_storeu_si512(dst, b0);
  _mm512_storeu_si512(dst + 64, b1);
  _mm512_storeu_si512(dst + kBlock2, b2);
  // Printable ASCII? The ints' lanes are left out of the minimum.
  const __m512i key0 = _mm512_mask_mov_epi8(b0, ~kKeyLanesOfBlock0, sp);
  const __m512i least = _mm512_min_epi8(key0, _mm512_min_epi8(b1, b2));
  return _mm512_cmplt_epi8_mask(least, sp) == 0;
}

#endif  // LMC_X86

// Each form's four entry points, stamped out with its own target so that its
// scan, copy and encode inline into them.
#define LMC_REQUEST_ENTRY_POINTS(ISA, TARGET, SCAN, COPY, ENCODE_KEY)                                                  \
  TARGET void Encode##ISA(const RequestHeader& h, std::byte* wire) { COPY(&h, wire); }                                 \
  TARGET WireError EncodeView##ISA(const RequestView& h, std::byte* wire) {                                            \
    if (h.key.size() > kKeyFieldBytes) return WireError::kKeyTooLong;                                                  \
    if (ENCODE_KEY(h, wire) || IsValidUtf8(h.key)) return WireError::kOk;                                              \
    return WireError::kKeyNotUtf8;                                                                                     \
  }                                                                                                                    \
  TARGET WireError Decode##ISA(const std::byte* wire, RequestHeader* out) {                                            \
    return FinishDecode(SCAN(wire, out), wire, out);                                                                   \
  }                                                                                                                    \
  TARGET WireError DecodeView##ISA(const std::byte* wire, RequestView* out) {                                          \
    return FinishDecodeView(SCAN(wire, nullptr), wire, out);                                                           \
  }                                                                                                                    \
  TARGET KeyScan Scan##ISA##Entry(const std::byte* wire, void* image_out) { return SCAN(wire, image_out); }            \
  TARGET WireError EncodeBatch##ISA(const RequestView* h, std::size_t count, std::byte* wire, std::size_t* done) {     \
    for (std::size_t i = 0; i < count; ++i) {                                                                          \
      std::byte* at = wire + i * kRequestHeaderBytes;                                                                  \
      if (h[i].key.size() > kKeyFieldBytes) return *done = i, WireError::kKeyTooLong;                                  \
      if (!ENCODE_KEY(h[i], at) && !IsValidUtf8(h[i].key)) return *done = i, WireError::kKeyNotUtf8;                   \
    }                                                                                                                  \
    *done = count;                                                                                                     \
    return WireError::kOk;                                                                                             \
  }                                                                                                                    \
  TARGET WireError DecodeBatch##ISA(const std::byte* wire, std::size_t count, RequestHeader* out, std::size_t* done) { \
    for (std::size_t i = 0; i < count; ++i) {                                                                          \
      const std::byte* at = wire + i * kRequestHeaderBytes;                                                            \
      if (WireError e = FinishDecode(SCAN(at, out + i), at, out + i); e != WireError::kOk) {                           \
        *done = i;                                                                                                     \
        return e;                                                                                                      \
      }                                                                                                                \
    }                                                                                                                  \
    *done = count;                                                                                                     \
    return WireError::kOk;                                                                                             \
  }                                                                                                                    \
  constexpr RequestKernels k##ISA##Kernels{#ISA,         &Scan##ISA##Entry, &Encode##ISA,      &EncodeView##ISA,       \
                                           &Decode##ISA, &DecodeView##ISA,  &EncodeBatch##ISA, &DecodeBatch##ISA};

#define LMC_NO_TARGET
LMC_REQUEST_ENTRY_POINTS(Portable, LMC_NO_TARGET, ScanPortable, CopyPortable, EncodeKeyPortable)
#if LMC_X86
LMC_REQUEST_ENTRY_POINTS(Sse2, LMC_NO_TARGET, ScanSse2, CopyPortable, EncodeKeyPortable)
LMC_REQUEST_ENTRY_POINTS(Avx2, LMC_AVX2, ScanAvx2, CopyPortable, EncodeKeyPortable)
LMC_REQUEST_ENTRY_POINTS(Avx512, LMC_AVX512, ScanAvx512, CopyAvx512, EncodeKeyAvx512)
#endif

// Picks the widest form before main(); until then the portable one serves.
[[gnu::constructor]] void SelectRequestKernels() { g_request_kernels = &AvailableRequestKernels().back(); }

}  // namespace

constinit const RequestKernels* g_request_kernels = &kPortableKernels;

std::span<const RequestKernels> AvailableRequestKernels() {
  static const auto table = [] {
    struct Table {
      std::array<RequestKernels, 4> entries;
      std::size_t size = 0;
    } t;
    t.entries[t.size++] = kPortableKernels;
#if LMC_X86
    const base::CpuLevel level = base::DetectedCpuLevel();
    if (level >= base::CpuLevel::kSse2) t.entries[t.size++] = kSse2Kernels;
    if (level >= base::CpuLevel::kAvx2) t.entries[t.size++] = kAvx2Kernels;
    if (level >= base::CpuLevel::kAvx512) t.entries[t.size++] = kAvx512Kernels;
#endif
    return t;
  }();
  return {table.entries.data(), table.size};
}

}  // namespace lmc::wire::detail
