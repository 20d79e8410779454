// The lmcache-wire line functions on arbitrary lines, every kind and both
// directions: they must answer (a result or an "error: " line), never throw
// or crash. Whatever encodes decodes, and after that one normalisation (a
// request key loses surrounding whitespace, a hash its leading zeros) the
// object is a fixed point: encoding and decoding it again changes nothing.
#include <cstdlib>
#include <string>
#include <string_view>

#include "wirejson/wire_json.h"

using namespace lmc::wirejson;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  for (Kind kind : {Kind::kClient, Kind::kServer, Kind::kMetadata, Kind::kKey}) {
    std::string out;
    if (!DecodeLine(kind, line, &out)) {
      if (out.rfind("error: ", 0) != 0) std::abort();
    }
    if (!EncodeLine(kind, line, &out)) {
      if (out.rfind("error: ", 0) != 0) std::abort();
      continue;
    }
    std::string decoded;
    if (!DecodeLine(kind, out, &decoded)) std::abort();
    std::string reencoded, redecoded;
    if (!EncodeLine(kind, decoded, &reencoded)) std::abort();
    if (!DecodeLine(kind, reencoded, &redecoded) || redecoded != decoded) std::abort();
  }
  return 0;
}
