// The conformance runner's profile parser (conformance/profile.h,
// ParseProfile) on arbitrary bytes. Input: the text of a profile file.
//
// Oracles:
// - it never throws (an exception ends the run as a crash);
// - false: *error says why (not empty) and *out is untouched;
// - true: the invariants the parser promises hold (a non-empty name,
//   client.attempts in 1..100, at most 100 backoff waits of at most
//   600000 ms each), and the profile is exactly its base ("base", or the
//   undeclared profile without one) overlaid with the document: rendered
//   with ProfileToJson, every member the document gives has the document's
//   value and every other one the base's (so unknown keys never pass and no
//   given value is lost or changed);
// - a document with an unknown top-level key is refused, naming a key;
// - the rendering round-trips: ParseProfile(ProfileToJson(p)) succeeds, to
//   a profile equal field by field that renders to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "conformance/profile.h"
#include "oracle.h"

namespace {

using lmc::conformance::ClientProfile;
using lmc::conformance::Profile;
using lmc::conformance::Reaction;
using lmc::conformance::ServerProfile;
using Json = nlohmann::json;

bool SameServer(const ServerProfile& a, const ServerProfile& b) {
  return a.list_answered == b.list_answered && a.unknown_command == b.unknown_command && a.bad_key == b.bad_key &&
         a.health_parses_key == b.health_parses_key && a.unknown_codes == b.unknown_codes &&
         a.negative_length == b.negative_length && a.truncated_put_placeholder == b.truncated_put_placeholder &&
         a.half_echoed_as_float16 == b.half_echoed_as_float16 && a.max_object_bytes == b.max_object_bytes &&
         a.capacity_bytes == b.capacity_bytes && a.max_test_body_bytes == b.max_test_body_bytes;
}

bool SameClient(const ClientProfile& a, const ClientProfile& b) {
  return a.attempts == b.attempts && a.backoff_ms == b.backoff_ms &&
         a.retries_invalid_reply == b.retries_invalid_reply && a.supports_list == b.supports_list &&
         a.supports_health == b.supports_health && a.max_test_body_bytes == b.max_test_body_bytes &&
         a.max_rss_on_huge_reply_bytes == b.max_rss_on_huge_reply_bytes;
}

bool Same(const Profile& a, const Profile& b) {
  return a.name == b.name && a.description == b.description && SameServer(a.server, b.server) &&
         SameClient(a.client, b.client);
}

bool KnownReaction(Reaction r) { return lmc::conformance::ReactionName(r) != "?"; }

void CheckInvariants(const Profile& p) {
  if (p.name.empty()) LMC_ORACLE_FAIL("a parsed profile has no name");
  if (p.client.attempts < 1 || p.client.attempts > 100) LMC_ORACLE_FAIL("client.attempts outside 1..100");
  if (p.client.backoff_ms.size() > 100) LMC_ORACLE_FAIL("more than 100 backoff waits");
  for (const int ms : p.client.backoff_ms) {
    if (ms < 0 || ms > 600000) LMC_ORACLE_FAIL("a backoff wait outside 0..600000 ms");
  }
  const ServerProfile& s = p.server;
  if (!KnownReaction(s.unknown_command) || !KnownReaction(s.bad_key) || !KnownReaction(s.unknown_codes) ||
      !KnownReaction(s.negative_length)) {
    LMC_ORACLE_FAIL("a reaction outside the enum");
  }
}

// The profile a document starts from: its base, or (without "base") what a
// document with nothing but a name parses to.
Profile BaseOf(const Json& doc) {
  Profile base;
  std::string error;
  const auto b = doc.find("base");
  if (b != doc.end()) {
    if (!lmc::conformance::BuiltinProfile(b->get<std::string>(), &base)) LMC_ORACLE_FAIL("accepted an unknown base");
  } else if (!lmc::conformance::ParseProfile(R"({"name":"x"})", &base, &error)) {
    LMC_ORACLE_FAIL("the minimal profile does not parse");
  }
  return base;
}

// The rendering the profile parsed from `doc` must have: the base's, with
// every member the document gives replaced by the document's value.
Json Expected(const Json& doc) {
  Json want = Json::parse(lmc::conformance::ProfileToJson(BaseOf(doc)));
  want["name"] = doc["name"];
  if (doc.contains("description")) want["description"] = doc["description"];
  for (const char* section : {"server", "client"}) {
    if (!doc.contains(section)) continue;
    for (const auto& [k, v] : doc[section].items()) want[section][k] = v;
  }
  return want;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Profile untouched;
  untouched.name = "untouched";
  Profile p = untouched;
  std::string error;
  const bool ok = lmc::conformance::ParseProfile(text, &p, &error);
  const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!ok) {
    if (error.empty()) LMC_ORACLE_FAIL("refused without a reason");
    if (!Same(p, untouched)) LMC_ORACLE_FAIL("a refused profile changed *out");
    if (doc.is_object()) {
      static const std::set<std::string> kTopLevel = {"name", "description", "base", "server", "client"};
      for (const auto& [k, v] : doc.items()) {
        (void)v;
        if (kTopLevel.count(k) == 0) {
          // The first unknown key in the parser's (sorted) order is the one named.
          if (error.find("unknown key '" + k + "'") == std::string::npos)
            LMC_ORACLE_FAIL("an unknown key refused without its name");
          break;
        }
      }
    }
    return 0;
  }
  if (!doc.is_object()) LMC_ORACLE_FAIL("accepted a document that is not an object");
  CheckInvariants(p);
  const std::string rendered = lmc::conformance::ProfileToJson(p);
  if (Json::parse(rendered) != Expected(doc)) LMC_ORACLE_FAIL("the profile is not its base overlaid with the document");
  Profile again;
  if (!lmc::conformance::ParseProfile(rendered, &again, &error)) LMC_ORACLE_FAIL("the rendering does not parse");
  if (!Same(again, p)) LMC_ORACLE_FAIL("the rendering parses to another profile");
  if (lmc::conformance::ProfileToJson(again) != rendered) LMC_ORACLE_FAIL("the rendering is not stable");
  return 0;
}
