// Constants of LMCache's V1 lm:// wire format, shared by every encoder and
// decoder in the kit. The prose specification is ../shared/spec/protocol.md
// (sections 1, 2, 4 and 7); section numbers below refer to it.
//
// Every integer on the wire is a little-endian int32 (§7). Codes are kept
// opaque in the header structs (any int32 round-trips); the enums here name
// the values LMCache defines so callers can compare against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lmc::wire {

// §1.2: nine int32 then a 150-byte key. A naive C++ struct of the same fields
// is 188 bytes (tail padding), which is why nothing here overlays a struct.
inline constexpr std::size_t kRequestIntCount = 9;
inline constexpr std::size_t kKeyFieldBytes = 150;
inline constexpr std::size_t kRequestHeaderBytes = kRequestIntCount * 4 + kKeyFieldBytes;
// §1.3: nine int32, `location` last.
inline constexpr std::size_t kReplyIntCount = 9;
inline constexpr std::size_t kReplyHeaderBytes = kReplyIntCount * 4;
inline constexpr std::size_t kShapeDims = 4;
// §4: RemoteMetadata is 4*(2+5g) bytes for g >= 1 groups.
inline constexpr std::size_t kMetadataFixedInts = 2;
inline constexpr std::size_t kMetadataIntsPerGroup = 1 + kShapeDims;
// A bound on decoded metadata groups so a hostile byte count cannot make a
// decoder allocate without limit (LMCache uses 1..3 in practice).
inline constexpr std::size_t kMetadataGroupsMax = 4096;
inline constexpr std::size_t kKeyPadByte = 0x20;

static_assert(kRequestHeaderBytes == 186, "spec §1.2");
static_assert(kReplyHeaderBytes == 36, "spec §1.3");
static_assert(kKeyPadByte == ' ', "spec §3.1: keys are padded with spaces, never NUL");

constexpr std::size_t MetadataBytes(std::size_t groups) {
  return 4 * (kMetadataFixedInts + kMetadataIntsPerGroup * groups);
}
static_assert(MetadataBytes(1) == 28 && MetadataBytes(2) == 48 && MetadataBytes(3) == 68, "spec §4");

// Offsets of the request fields (§1.2) and reply fields (§1.3).
namespace request_offset {
inline constexpr std::size_t kCommand = 0, kLength = 4, kFmt = 8, kDtype = 12, kLocation = 16, kShape = 20, kKey = 36;
}
namespace reply_offset {
inline constexpr std::size_t kCode = 0, kLength = 4, kFmt = 8, kDtype = 12, kShape = 16, kLocation = 32;
}
static_assert(request_offset::kKey + kKeyFieldBytes == kRequestHeaderBytes);
static_assert(reply_offset::kLocation + 4 == kReplyHeaderBytes);

// §2.1
enum class Command : std::int32_t { kPut = 1, kGet = 2, kExist = 3, kList = 4, kHealth = 5 };
// §2.2
enum class ReturnCode : std::int32_t { kSuccess = 200, kFail = 400 };
// §2.3. Code 1 (`half`) decodes to float16 but every encoder sends 2.
enum class DtypeCode : std::int32_t {
  kNone = 0,
  kHalf = 1,
  kFloat16 = 2,
  kBfloat16 = 3,
  kFloat32 = 4,
  kFloat64 = 5,
  kUint8 = 6,
  kFloat8E4m3fn = 7,
  kFloat8E5m2 = 8,
};
// §2.4
enum class LocationCode : std::int32_t { kNone = 0, kLocalCpu = 1, kLocalDisk = 2 };

// §1.5: the fields a request or reply carries when it describes no object.
inline constexpr std::int32_t kDummyFmt = 1;
inline constexpr std::int32_t kDummyDtype = static_cast<std::int32_t>(DtypeCode::kFloat16);

constexpr bool IsKnownCommand(std::int32_t v) { return v >= 1 && v <= 5; }
constexpr bool IsKnownReturnCode(std::int32_t v) { return v == 200 || v == 400; }
constexpr bool IsKnownDtypeCode(std::int32_t v) { return v >= 0 && v <= 8; }
constexpr bool IsKnownLocationCode(std::int32_t v) { return v >= 0 && v <= 2; }

// §2.3: what a Python receiver echoes for a dtype code (1 collapses to 2).
constexpr std::int32_t CanonicalDtypeCode(std::int32_t v) {
  return v == static_cast<std::int32_t>(DtypeCode::kHalf) ? kDummyDtype : v;
}

// Bytes per element of a wire dtype code; nullopt for kNone and unknown codes.
constexpr std::optional<std::size_t> DtypeCodeElementBytes(std::int32_t v) {
  switch (v) {
    case 1:
    case 2:
    case 3: return 2;
    case 4: return 4;
    case 5: return 8;
    case 6:
    case 7:
    case 8: return 1;
    default: return std::nullopt;
  }
}

// §2.5: `MemoryFormat` numbering changed between LMCache eras, so a number is
// only meaningful together with a profile. The wire keeps the int32 opaque.
enum class MemoryFormatEra : std::uint8_t {
  kEarlyV1a,    // UNDEFINED=0, KV_BLOB=1, BINARY=2
  kEarlyV1b,    // adds BINARY_BUFFER=3
  kRenumbered,  // UNDEFINED=0 .. KV_MLA_FMT=6
  kNewestMain,  // adds EC_TD=7, HS_TD=8
  kAscendFork,  // KV_MLA_FMT=6, KV_DSA_INDEX_FMT=7 (not main line)
};

// The member name of `value` in `era`, or empty when that era rejects it
// (Python raises ValueError and drops the connection, §2.5).
std::string_view MemoryFormatName(MemoryFormatEra era, std::int32_t value);

// Names for diagnostics; "?" for values outside the tables.
std::string_view CommandName(std::int32_t v);
std::string_view DtypeCodeName(std::int32_t v);

}  // namespace lmc::wire
