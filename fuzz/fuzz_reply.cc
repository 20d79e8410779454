// Reply-header decoder on arbitrary bytes: exactly 36 bytes decode, and
// re-encode to the same bytes; nothing else decodes.
#include <array>
#include <cstdlib>
#include <span>
#include <string>

#include "oracle.h"
#include "wire/headers.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  ReplyHeader h;
  const WireError e = DecodeReply(in, &h);
  LMC_ORACLE((e == WireError::kOk) == (size == kReplyHeaderBytes),
             "exactly 36 bytes decode; " + std::to_string(size) + " bytes gave: " + std::string(WireErrorMessage(e)));
  if (e != WireError::kOk) return 0;
  std::array<std::byte, kReplyHeaderBytes> out{};
  EncodeReply(h, out);
  LMC_ORACLE(std::equal(out.begin(), out.end(), in.begin()),
             "a decoded reply re-encodes to the same 36 bytes; it did not");
  return 0;
}
