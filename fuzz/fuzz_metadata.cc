// RemoteMetadata decoder on arbitrary bytes: a valid size decodes and
// re-encodes to the same bytes; the prefix decoder agrees with it.
#include <cstdlib>
#include <span>
#include <vector>

#include "wire/headers.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  RemoteMetadata m;
  if (DecodeMetadata(in, &m) != WireError::kOk) return 0;
  std::vector<std::byte> out(MetadataBytes(m.groups.size()));
  if (EncodeMetadata(m, out) != WireError::kOk) std::abort();
  if (out.size() != size || !std::equal(out.begin(), out.end(), in.begin())) std::abort();
  RemoteMetadata prefix;
  std::size_t used = 0;
  if (DecodeMetadataPrefix(in, m.groups.size(), &prefix, &used) != WireError::kOk) std::abort();
  if (used != size || !(prefix == m)) std::abort();
  return 0;
}
