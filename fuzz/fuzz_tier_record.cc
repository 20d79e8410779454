// The tier's record (impl/tier/record.h): what the restart scan reads back
// from an fs folder, so bytes anyone could have written there.
//
// Input: the record's bytes, as they would sit in a file.
//
// Oracles:
// - DecodeRecord never reads past the input (ASan) and returns an error
//   rather than a record for anything but the exact format: a record it
//   accepts encodes back to exactly the input (the format has one spelling),
//   with its key and writer within their limits and a length that is not
//   negative;
// - the input read as an fs file name: ParseFsFileName takes back only a
//   name FsFileName writes for the key it returns, and the record name of
//   that key parses back to it (RecordKeyOf / ObjectKeyOfRecord).
#include <cstdint>
#include <string>
#include <string_view>

#include "l2/backends.h"
#include "oracle.h"
#include "tier/record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  lmc::tier::Record r;
  if (lmc::tier::DecodeRecord(in, &r) == lmc::tier::RecordError::kOk) {
    if (r.key.size() > lmc::tier::kRecordKeyMax || r.writer.size() > lmc::tier::kRecordWriterMax)
      LMC_ORACLE_FAIL("a decoded record past its limits");
    if (r.meta.length < 0) LMC_ORACLE_FAIL("a decoded record with a negative length");
    if (lmc::tier::EncodeRecord(r) != in) LMC_ORACLE_FAIL("a decoded record encodes to other bytes");
  }
  if (const auto key = lmc::l2::ParseFsFileName(in)) {
    const auto name = lmc::l2::FsFileName(*key);
    if (!name || *name != in) LMC_ORACLE_FAIL("ParseFsFileName took a name FsFileName does not write");
    const auto back = lmc::tier::ObjectKeyOfRecord(lmc::tier::RecordKeyOf(*key));
    if (!back || back->cache_salt != key->cache_salt) LMC_ORACLE_FAIL("a record's name does not lead back");
  }
  return 0;
}
