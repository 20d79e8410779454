// Profiles: what an implementation does where the protocol leaves a choice
// (docs/CONFORMANCE.md has the JSON schema). A case whose behaviour the
// profile does not pin is skipped, not failed.
//
// Built in: "reference" (this kit's lmcache-server and client) and
// "lmcache-python" (LMCache's main-line threaded server and its reconnect-v2
// client, as protocol.md §5 and §6 describe them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lmc::conformance {

// What a server does with a request it will not serve.
enum class Reaction : std::uint8_t {
  kFailReply,  // answers FAIL (400) and stays in step
  kDrop,       // closes the connection without a reply
  kIgnore,     // no reply, the connection stays open and usable
  kAny,        // the profile does not say: cases that need it are skipped
};

struct ServerProfile {
  // LIST: true = answered (SUCCESS, length, '\n'-joined keys); false = no
  // reply and the connection stays usable (LMCache's main line).
  std::optional<bool> list_answered;
  Reaction unknown_command = Reaction::kAny;
  // A GET/EXIST whose key does not parse (era F) or is not UTF-8.
  Reaction bad_key = Reaction::kAny;
  // HEALTH's key: true = parsed like any other (an unparsable one gets the
  // bad_key reaction, as in LMCache's server); false = never looked at, so
  // HEALTH answers 200 whatever it carries; unset = not declared.
  std::optional<bool> health_parses_key;
  // A request with fmt/dtype/location codes outside LMCache's tables:
  // kIgnore here means "stored and echoed as given"; kDrop = connection closed.
  Reaction unknown_codes = Reaction::kAny;
  // PUT with a negative length: kDrop (connection closed), kIgnore (an
  // empty object is stored, as Python does) or kAny.
  Reaction negative_length = Reaction::kAny;
  // A PUT cut short may leave a visible placeholder (LMCache's threaded
  // server stores data=None); false: it must leave nothing.
  bool truncated_put_placeholder = false;
  // dtype 1 (half) comes back as 2 (Python re-encodes it) or as sent.
  std::optional<bool> half_echoed_as_float16;
  // The largest object the server stores; the body-size cases stay under it.
  std::uint64_t max_object_bytes = (std::uint64_t{1} << 31) - 1;
  // A bounded store (bytes) that evicts least-recently-used objects; unset:
  // unbounded, or not declared (capacity cases are skipped).
  std::optional<std::uint64_t> capacity_bytes;
  // The largest body the size cases send (they stop at 64 MiB by default).
  std::uint64_t max_test_body_bytes = std::uint64_t{64} << 20;
};

struct ClientProfile {
  // Tries per call on connection errors (1 = never retries).
  int attempts = 3;
  // Waits before try 2, 3, ... (milliseconds).
  std::vector<int> backoff_ms{100, 200};
  // A reply with a code other than 200/400 is retried (false: the call
  // fails at once and the connection is discarded).
  bool retries_invalid_reply = false;
  // The client implements LIST (false: list cases are skipped).
  bool supports_list = true;
  // The client implements HEALTH.
  bool supports_health = true;
  // The largest object the client is asked to PUT or GET in the size cases.
  std::uint64_t max_test_body_bytes = std::uint64_t{16} << 20;
  // Peak resident memory a testee may reach on a reply that claims 2 GiB - 1
  // bytes and then closes (the client must not allocate it up front).
  std::uint64_t max_rss_on_huge_reply_bytes = std::uint64_t{512} << 20;
};

struct Profile {
  std::string name;
  std::string description;
  ServerProfile server;
  ClientProfile client;
};

// "reference", "lmcache-python"; false for an unknown name.
bool BuiltinProfile(const std::string& name, Profile* out);
std::vector<std::string> BuiltinProfileNames();
// Parses a profile JSON document (schema in docs/CONFORMANCE.md). Unknown
// keys are refused by name. Never throws; false with *error on any problem.
bool ParseProfile(const std::string& json_text, Profile* out, std::string* error);
// A name of a built-in profile, or a path to a JSON file.
bool LoadProfile(const std::string& name_or_path, Profile* out, std::string* error);
// The profile as JSON (for reports and --print-profile).
std::string ProfileToJson(const Profile& p);

std::string_view ReactionName(Reaction r);

}  // namespace lmc::conformance
