// RemoteMetadata decoder on arbitrary bytes: a valid size decodes and
// re-encodes to the same bytes; the prefix decoder agrees with it.
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "oracle.h"
#include "wire/headers.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  RemoteMetadata m;
  if (DecodeMetadata(in, &m) != WireError::kOk) return 0;
  std::vector<std::byte> out(MetadataBytes(m.groups.size()));
  const WireError ee = EncodeMetadata(m, out);
  LMC_ORACLE(ee == WireError::kOk,
             "decoded metadata re-encodes; encoding failed: " + std::string(WireErrorMessage(ee)));
  LMC_ORACLE(out.size() == size && std::equal(out.begin(), out.end(), in.begin()),
             "decoded metadata re-encodes to the same " + std::to_string(size) + " bytes; got " +
                 std::to_string(out.size()) + " bytes that differ");
  RemoteMetadata prefix;
  std::size_t used = 0;
  const WireError pe = DecodeMetadataPrefix(in, m.groups.size(), &prefix, &used);
  LMC_ORACLE(pe == WireError::kOk,
             "the prefix decoder accepts what the decoder did; it said: " + std::string(WireErrorMessage(pe)));
  LMC_ORACLE(used == size && prefix == m, "the prefix decoder takes all " + std::to_string(size) +
                                              " bytes to the same metadata; it took " + std::to_string(used) +
                                              (prefix == m ? "" : ", to other metadata"));
  return 0;
}
