// The record the tier writes beside each object it stores in L2, so that a
// restarted server can serve what its disk tier holds (issue 31): the cache
// key, what a GET reply needs (length, fmt, dtype, shape), when it was
// written (the Env's clock: the newest record of a key wins) and which
// adapter stack wrote it (its serde, from ReportStatus). The object itself
// stays as the adapter and serde write it; the record is a small object of
// its own, stored raw, under the object's name with "-r" added to the salt,
// and only once the object's store succeeded.
//
// Layout (little-endian): "LMCTIER1", u32 version (1), u32 key length, the
// key, i32 length, fmt, dtype, shape[4], u64 written_ns, u32 writer length,
// the writer, then the XXH3-64 of every byte before it. Decode checks every
// length against the bytes there and its limits before reading, and never
// throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "l2/adapter.h"
#include "store/l1_store.h"

namespace lmc::tier {

inline constexpr std::size_t kRecordKeyMax = 150;  // a wire key's field
inline constexpr std::size_t kRecordWriterMax = 256;
inline constexpr std::size_t kRecordMaxBytes = 8 + 4 + 4 + kRecordKeyMax + 7 * 4 + 8 + 4 + kRecordWriterMax + 8;
inline constexpr std::string_view kRecordSaltSuffix = "-r";
// The model of every L2 object key the tier writes.
inline constexpr std::string_view kObjectModel = "lmcache-server";

struct Record {
  std::string key;
  store::ObjectMeta meta;
  std::uint64_t written_ns = 0;
  std::string writer;  // the adapter stack's ReportStatus().type

  friend bool operator==(const Record&, const Record&) = default;
};

enum class RecordError : std::uint8_t { kOk, kShort, kMagic, kVersion, kLimit, kCheck, kTrailing };
std::string_view RecordErrorName(RecordError e);

// Empty if the record breaks a limit (a key over 150 bytes, a writer over
// 256, a negative length).
[[nodiscard]] std::string EncodeRecord(const Record& r);
[[nodiscard]] RecordError DecodeRecord(std::string_view bytes, Record* out);

// The name of a value of `cache_key` in L2: model kObjectModel, the key's
// XXH3-128 as chunk hash, rank and group 0, and `salt` (the run's salt and
// a sequence number: each write its own name).
[[nodiscard]] l2::ObjectKey ObjectKeyFor(std::string_view cache_key, std::string salt);

// A shared tier (several servers over one Redis, TierOptions::shared): beside
// the object and its record, each write sets the key's pointer, the same
// name for every server, salt kPointerSalt, whose value is the salt of the
// newest object written (the last writer wins). A server that misses a key
// its own index does not hold follows the pointer to the record, checks it
// names the key, and loads the object it describes.
inline constexpr std::string_view kPointerSalt = "latest";
inline constexpr std::size_t kPointerMaxBytes = 64;
[[nodiscard]] l2::ObjectKey PointerKeyOf(std::string_view cache_key);
// A pointer's value: a salt the tier writes (1 to 64 bytes of [0-9a-z-],
// not ending in the record suffix); false for anything else.
[[nodiscard]] bool ValidPointer(std::string_view salt);

// The record's name for an object's name, and back (nullopt: not a record's).
[[nodiscard]] l2::ObjectKey RecordKeyOf(const l2::ObjectKey& object);
[[nodiscard]] std::optional<l2::ObjectKey> ObjectKeyOfRecord(const l2::ObjectKey& record);

}  // namespace lmc::tier
