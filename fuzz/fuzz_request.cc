// Request-header decoders on arbitrary bytes. Oracles: the kernel decoders
// (owned and view) agree with the field-by-field reference on every input;
// whatever decodes re-encodes, by the kernels and field by field alike, and
// decodes again to the same header; the diagnostic names of the decoded
// codes are those of the tables. (The batch forms: fuzz_request_batch.)
#include <array>
#include <cstdlib>
#include <span>
#include <string>

#include "oracle.h"
#include "wire/headers.h"
#include "wire/wire_format.h"

using namespace lmc::wire;

namespace {

// Names for every code a header carries (wire_format.h): "?" or empty
// exactly outside the tables, and every error has a message.
void CheckNames(const RequestHeader& h, WireError e) {
  LMC_ORACLE((CommandName(h.command) == "?") != IsKnownCommand(h.command),
             "command " + std::to_string(h.command) + ": named '" + std::string(CommandName(h.command)) +
                 "' exactly when in the table");
  LMC_ORACLE((DtypeCodeName(h.dtype) == "?") != IsKnownDtypeCode(h.dtype),
             "dtype " + std::to_string(h.dtype) + ": named '" + std::string(DtypeCodeName(h.dtype)) +
                 "' exactly when in the table");
  const std::pair<MemoryFormatEra, std::int32_t> eras[] = {{MemoryFormatEra::kEarlyV1a, 3},
                                                           {MemoryFormatEra::kEarlyV1b, 4},
                                                           {MemoryFormatEra::kRenumbered, 7},
                                                           {MemoryFormatEra::kNewestMain, 9},
                                                           {MemoryFormatEra::kAscendFork, 8}};
  for (const auto& [era, members] : eras) {
    LMC_ORACLE(MemoryFormatName(era, h.fmt).empty() != (h.fmt >= 0 && h.fmt < members),
               "fmt " + std::to_string(h.fmt) + ": named exactly when one of the era's " + std::to_string(members) +
                   " members");
  }
  LMC_ORACLE(!WireErrorMessage(e).empty(),
             "every error has a message; error " + std::to_string(static_cast<int>(e)) + " has none");
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
  LMC_ORACLE(e1 == e2 && e3 == e2 && e4 == e2,
             "the kernels agree with the field-by-field reference (" + std::string(WireErrorMessage(e2)) +
                 "); owned: " + std::string(WireErrorMessage(e1)) + ", view: " + std::string(WireErrorMessage(e3)) +
                 ", reference view: " + std::string(WireErrorMessage(e4)));
  CheckNames(owned, e1);
  if (e1 != WireError::kOk) return 0;
  LMC_ORACLE(owned == reference, "the kernel decodes the header the reference decodes; the fields differ");
  LMC_ORACLE(view.key == owned.key.view() && reference_view.key == view.key,
             "every decoder reads key '" + std::string(reference_view.key) + "'; the view read '" +
                 std::string(view.key) + "', the owned '" + std::string(owned.key.view()) + "'");
  std::array<std::byte, kRequestHeaderBytes> out{};
  EncodeRequest(owned, out);
  std::array<std::byte, kRequestHeaderBytes> out2{}, out3{}, out4{};
  LMC_ORACLE(EncodeRequest(view, out2) == WireError::kOk && out == out2,
             "the view encodes to the bytes the owned header encodes to; it did not");
  detail::EncodeRequestFields(owned, out3);
  LMC_ORACLE(detail::EncodeRequestFields(view, out4) == WireError::kOk && out3 == out && out4 == out,
             "the field-by-field encoders write the kernel's bytes; they differ");
  RequestHeader again;
  LMC_ORACLE(DecodeRequest(out, &again) == WireError::kOk && again == owned,
             "an encoded header decodes to the same header; it did not");
  // Bytes already in canonical form (key + spaces) come back unchanged.
  const auto field = one.subspan(request_offset::kKey);
  bool canonical = true;
  for (std::size_t i = owned.key.size(); i < kKeyFieldBytes; ++i) canonical &= field[i] == std::byte{' '};
  canonical &=
      std::equal(owned.key.view().begin(), owned.key.view().end(), reinterpret_cast<const char*>(field.data()));
  LMC_ORACLE(!canonical || std::equal(out.begin(), out.end(), one.begin()),
             "a header already in canonical form (key + spaces) re-encodes unchanged; it changed");
  return 0;
}
