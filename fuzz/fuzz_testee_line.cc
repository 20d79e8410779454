// Client mode's testee line protocol (docs/CONFORMANCE.md, client mode), as
// the runner reads and writes it: line_json's Parse (with its fast path
// for a large base64 "data" member) and Dump, the verdict on a result line
// (client_mode::ParseResultLine, what Testee::Result checks before a case
// looks at a result), and the strict base64 of every byte string.
//
// Input: testee output, split at '\n' into lines; line k is judged as the
// result of request k (ids count from 1, as the runner's do).
//
// Oracles, for every line:
// - nothing throws;
// - the fast path changes nothing: detail::CutData on the line (whatever
//   its length; Parse only uses it from kFastPathBytes on) and Parse agree
//   with nlohmann's own parse of the whole line, valid or not. The one
//   exception is a top-level object with "data" more than once (JSON leaves
//   duplicate names undefined): the fast path keeps the first plain base64
//   one, nlohmann the last;
// - the verdict is what it promises: kOk exactly when the line is an object
//   with the integer "id" k and a boolean "ok", kNotObject exactly when it
//   is not an object, kWrongId / kNoOk for the first check that fails;
// - a parsed value dumps with nlohmann's strict UTF-8 check (the runner's
//   messages do), and Dump writes one line that parses back equal;
// - a request built from the line (its object, or {}, with "id" k and
//   "data" the base64 of the whole line, as Session::PutRequest builds one)
//   dumps to one line that parses back equal, its "data" decoding to the
//   line's bytes: Dump's splice and Parse's cut are exercised from 3 KiB on;
// - base64: every string in the line that decodes re-encodes to itself (one
//   encoding per byte string, as base64.h promises), and the line's own
//   bytes encode to plain base64 text of 4 characters per started 3 bytes
//   that decodes back to them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "conformance/client/base64.h"
#include "conformance/client/line_json.h"
#include "conformance/client/testee.h"
#include "oracle.h"

namespace {

namespace base64 = lmc::conformance::base64;
namespace line_json = lmc::conformance::line_json;
using lmc::conformance::client_mode::ParseResultLine;
using lmc::conformance::client_mode::ResultLineError;
using Json = nlohmann::json;

// nlohmann's parse of the line as it is, and how many top-level members of
// an object it has that are named "data" (after unescaping).
Json ReferenceParse(const std::string& line, int* data_members) {
  *data_members = 0;
  const Json::parser_callback_t count = [data_members](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed == "data") ++*data_members;
    return true;
  };
  return Json::parse(line, count, /*allow_exceptions=*/false);
}

bool Agree(const Json& got, const Json& want) {
  if (got.is_discarded() || want.is_discarded()) return got.is_discarded() == want.is_discarded();
  return got == want;
}

void CheckBase64String(const std::string& s) {
  const std::optional<std::string> bytes = base64::Decode(s);
  if (bytes && base64::Encode(*bytes) != s) LMC_ORACLE_FAIL("a base64 string that decodes re-encodes differently");
}

void CheckStrings(const Json& j) {
  if (j.is_string()) CheckBase64String(j.get_ref<const std::string&>());
  if (!j.is_structured()) return;
  for (const auto& [k, v] : j.items()) {
    if (j.is_object()) CheckBase64String(k);
    CheckStrings(v);
  }
}

void CheckEncoding(std::string_view bytes) {
  const std::string text = base64::Encode(bytes);
  if (text.size() != (bytes.size() + 2) / 3 * 4 || !line_json::IsBase64Text(text))
    LMC_ORACLE_FAIL("Encode wrote no base64");
  const std::optional<std::string> back = base64::Decode(text);
  if (!back || *back != bytes) LMC_ORACLE_FAIL("Decode(Encode(bytes)) is not the bytes");
}

// Dump writes one line that Parse reads back equal.
void CheckDump(const Json& j) {
  const std::string line = line_json::Dump(j);
  if (line.find('\n') != std::string::npos) LMC_ORACLE_FAIL("Dump wrote more than one line");
  if (!Agree(line_json::Parse(line), j)) LMC_ORACLE_FAIL("Parse(Dump(j)) is not j");
}

void CheckVerdict(ResultLineError e, const Json& r, std::int64_t id) {
  const bool object = !r.is_discarded() && r.is_object();
  if ((e == ResultLineError::kNotObject) != !object) LMC_ORACLE_FAIL("kNotObject is not 'not an object'");
  if (!object) return;
  const auto it = r.find("id");
  const bool id_ok = it != r.end() && it->is_number_integer() && it->get<std::int64_t>() == id;
  const auto ok = r.find("ok");
  const bool ok_ok = ok != r.end() && ok->is_boolean();
  if ((e == ResultLineError::kWrongId) != !id_ok) LMC_ORACLE_FAIL("kWrongId is not 'no such integer id'");
  if ((e == ResultLineError::kNoOk) != (id_ok && !ok_ok))
    LMC_ORACLE_FAIL("kNoOk is not 'the id matches, no boolean ok'");
  if ((e == ResultLineError::kOk) != (id_ok && ok_ok)) LMC_ORACLE_FAIL("kOk is not 'the id matches and ok is boolean'");
}

void CheckLine(const std::string& line, std::int64_t id) {
  int data_members = 0;
  const Json reference = ReferenceParse(line, &data_members);
  const bool comparable = data_members <= 1;

  // The fast path's cut, on any line.
  std::string cut = line;
  const std::optional<std::string> data = line_json::detail::CutData(&cut);
  if (!data && cut != line) LMC_ORACLE_FAIL("CutData changed a line it found no data in");
  if (data) {
    if (!line_json::IsBase64Text(*data)) LMC_ORACLE_FAIL("CutData cut out text that is not base64");
    if (cut.size() + data->size() != line.size()) LMC_ORACLE_FAIL("CutData removed other bytes than the data");
    Json spliced = Json::parse(cut, nullptr, /*allow_exceptions=*/false);
    if (spliced.is_discarded() != reference.is_discarded()) LMC_ORACLE_FAIL("the cut changed whether the line is JSON");
    if (!spliced.is_discarded() && !spliced.is_object())
      LMC_ORACLE_FAIL("CutData cut from a line that is not an object");
    if (!spliced.is_discarded()) spliced["data"] = *data;
    if (comparable && !Agree(spliced, reference)) LMC_ORACLE_FAIL("the cut line and its data are not the line");
  }

  Json r;
  const ResultLineError e = ParseResultLine(line, id, &r);
  if (!Agree(line_json::Parse(line), r)) LMC_ORACLE_FAIL("ParseResultLine parsed otherwise than Parse");
  if (r.is_discarded() != reference.is_discarded()) LMC_ORACLE_FAIL("Parse and nlohmann disagree on what is JSON");
  if (comparable && !Agree(r, reference)) LMC_ORACLE_FAIL("Parse and nlohmann parse the line differently");
  CheckVerdict(e, r, id);

  if (!r.is_discarded()) {
    try {
      (void)r.dump();
    } catch (const std::exception&) {
      LMC_ORACLE_FAIL("a parsed value does not dump with the strict UTF-8 check");
    }
    CheckDump(r);
    CheckStrings(r);
  }

  // A request as the runner writes one: the result's members, a fresh id
  // and a body (here the line itself) as base64.
  Json request = !r.is_discarded() && r.is_object() ? r : Json::object();
  request["id"] = id;
  request["data"] = base64::Encode(line);
  CheckDump(request);
  const Json back = line_json::Parse(line_json::Dump(request));
  const std::optional<std::string> body = base64::Decode(back["data"].get_ref<const std::string&>());
  if (!body || *body != line) LMC_ORACLE_FAIL("a request's data does not decode to its body");

  CheckBase64String(line);
  CheckEncoding(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::int64_t id = 1;
  for (std::size_t begin = 0; begin <= text.size(); ++id) {
    const std::size_t end = std::min(text.find('\n', begin), text.size());
    CheckLine(std::string(text.substr(begin, end - begin)), id);
    begin = end + 1;
  }
  return 0;
}
