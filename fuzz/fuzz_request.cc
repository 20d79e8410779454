// Request-header decoders on arbitrary bytes. Oracles: the kernel decoders
// (owned and view) agree with the field-by-field reference on every input;
// whatever decodes re-encodes, and decodes again to the same header.
#include <array>
#include <cstdlib>
#include <span>

#include "wire/headers.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  RequestHeader owned, reference;
  RequestView view;
  const WireError e1 = DecodeRequest(in, &owned);
  const WireError e2 = detail::DecodeRequestFields(in, &reference);
  const WireError e3 = DecodeRequestView(in, &view);
  if (e1 != e2 || e3 != e2) std::abort();
  if (e1 != WireError::kOk) return 0;
  if (!(owned == reference) || view.key != owned.key.view()) std::abort();
  std::array<std::byte, kRequestHeaderBytes> out{};
  EncodeRequest(owned, out);
  std::array<std::byte, kRequestHeaderBytes> out2{};
  if (EncodeRequest(view, out2) != WireError::kOk || out != out2) std::abort();
  RequestHeader again;
  if (DecodeRequest(out, &again) != WireError::kOk || !(again == owned)) std::abort();
  // Bytes already in canonical form (key + spaces) come back unchanged.
  const auto field = in.subspan(request_offset::kKey);
  bool canonical = true;
  for (std::size_t i = owned.key.size(); i < kKeyFieldBytes; ++i) canonical &= field[i] == std::byte{' '};
  canonical &=
      std::equal(owned.key.view().begin(), owned.key.view().end(), reinterpret_cast<const char*>(field.data()));
  if (canonical && !std::equal(out.begin(), out.end(), in.begin())) std::abort();
  return 0;
}
