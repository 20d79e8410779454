// Request-header decoders on arbitrary bytes. Oracles: the kernel decoders
// (owned and view) agree with the field-by-field reference on every input;
// whatever decodes re-encodes, by the kernels and field by field alike, and
// decodes again to the same header; the diagnostic names of the decoded
// codes are those of the tables. (The batch forms: fuzz_request_batch.)
#include <array>
#include <cstdlib>
#include <span>

#include "wire/headers.h"
#include "wire/wire_format.h"

using namespace lmc::wire;

namespace {

// Names for every code a header carries (wire_format.h): "?" or empty
// exactly outside the tables, and every error has a message.
void CheckNames(const RequestHeader& h, WireError e) {
  if ((CommandName(h.command) == "?") == IsKnownCommand(h.command)) std::abort();
  if ((DtypeCodeName(h.dtype) == "?") == IsKnownDtypeCode(h.dtype)) std::abort();
  const std::pair<MemoryFormatEra, std::int32_t> eras[] = {{MemoryFormatEra::kEarlyV1a, 3},
                                                           {MemoryFormatEra::kEarlyV1b, 4},
                                                           {MemoryFormatEra::kRenumbered, 7},
                                                           {MemoryFormatEra::kNewestMain, 9},
                                                           {MemoryFormatEra::kAscendFork, 8}};
  for (const auto& [era, members] : eras) {
    if (MemoryFormatName(era, h.fmt).empty() == (h.fmt >= 0 && h.fmt < members)) std::abort();
  }
  if (WireErrorMessage(e).empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = std::as_bytes(std::span(data, size));
  const auto one = in;
  RequestHeader owned, reference;
  RequestView view, reference_view;
  const WireError e1 = DecodeRequest(one, &owned);
  const WireError e2 = detail::DecodeRequestFields(one, &reference);
  const WireError e3 = DecodeRequestView(one, &view);
  const WireError e4 = detail::DecodeRequestFields(one, &reference_view);
  if (e1 != e2 || e3 != e2 || e4 != e2) std::abort();
  CheckNames(owned, e1);
  if (e1 != WireError::kOk) return 0;
  if (!(owned == reference) || view.key != owned.key.view() || reference_view.key != view.key) std::abort();
  std::array<std::byte, kRequestHeaderBytes> out{};
  EncodeRequest(owned, out);
  std::array<std::byte, kRequestHeaderBytes> out2{}, out3{}, out4{};
  if (EncodeRequest(view, out2) != WireError::kOk || out != out2) std::abort();
  detail::EncodeRequestFields(owned, out3);
  if (detail::EncodeRequestFields(view, out4) != WireError::kOk || out3 != out || out4 != out) std::abort();
  RequestHeader again;
  if (DecodeRequest(out, &again) != WireError::kOk || !(again == owned)) std::abort();
  // Bytes already in canonical form (key + spaces) come back unchanged.
  const auto field = one.subspan(request_offset::kKey);
  bool canonical = true;
  for (std::size_t i = owned.key.size(); i < kKeyFieldBytes; ++i) canonical &= field[i] == std::byte{' '};
  canonical &=
      std::equal(owned.key.view().begin(), owned.key.view().end(), reinterpret_cast<const char*>(field.data()));
  if (canonical && !std::equal(out.begin(), out.end(), one.begin())) std::abort();
  return 0;
}
