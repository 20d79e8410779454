// Reply-header decoder on arbitrary bytes: exactly 36 bytes decode, and
// re-encode to the same bytes; nothing else decodes.
#include <array>
#include <cstdlib>
#include <span>

#include "wire/headers.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  ReplyHeader h;
  const WireError e = DecodeReply(in, &h);
  if ((e == WireError::kOk) != (size == kReplyHeaderBytes)) std::abort();
  if (e != WireError::kOk) return 0;
  std::array<std::byte, kReplyHeaderBytes> out{};
  EncodeReply(h, out);
  if (!std::equal(out.begin(), out.end(), in.begin())) std::abort();
  return 0;
}
