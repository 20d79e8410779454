// The lmcache-wire line functions on arbitrary lines, every kind and both
// directions: they must answer (a result or an "error: " line), never throw
// or crash. Whatever encodes decodes, and after that one normalisation (a
// request key loses surrounding whitespace, a hash its leading zeros) the
// object is a fixed point: encoding and decoding it again changes nothing.
#include <cstdlib>
#include <string>
#include <string_view>

#include "oracle.h"
#include "wirejson/wire_json.h"

using namespace lmc::wirejson;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  for (Kind kind : {Kind::kClient, Kind::kServer, Kind::kMetadata, Kind::kKey}) {
    std::string out;
    if (!DecodeLine(kind, line, &out)) {
      LMC_ORACLE(out.rfind("error: ", 0) == 0, "a refused decode answers 'error: ...'; it answered '" + out + "'");
    }
    if (!EncodeLine(kind, line, &out)) {
      LMC_ORACLE(out.rfind("error: ", 0) == 0, "a refused encode answers 'error: ...'; it answered '" + out + "'");
      continue;
    }
    std::string decoded;
    LMC_ORACLE(DecodeLine(kind, out, &decoded), "what encodes decodes; '" + out + "' did not: " + decoded);
    std::string reencoded, redecoded;
    LMC_ORACLE(EncodeLine(kind, decoded, &reencoded), "a decoding encodes again; '" + decoded + "' did not");
    LMC_ORACLE(DecodeLine(kind, reencoded, &redecoded) && redecoded == decoded,
               "encoding then decoding is stable: '" + decoded + "' came back as '" + redecoded + "'");
  }
  return 0;
}
