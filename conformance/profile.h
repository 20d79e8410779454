// Profiles: what an implementation does where the protocol leaves a choice
// (docs/CONFORMANCE.md has the JSON schema). A case whose behaviour the
// profile does not pin is skipped, not failed.
//
// Built in: "reference" (this kit's lmcache-server and client),
// "lmcache-python" (LMCache's main-line threaded server and its reconnect-v2
// client, as protocol.md §5 and §6 describe them) and
// "lmcache-python-legacy" (the same server with the old, Era Constants
// client: one attempt, no reconnect, a single recv for the reply header).
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

// How a client sizes its buffer for a GET reply (protocol.md §6.1, §9
// quirk 10).
enum class HugeReplyAllocation : std::uint8_t {
  kBounded,  // grows with the bytes that arrive: a 2 GiB claim costs what is sent
  kUpFront,  // allocates from the reply's metadata before reading (LMCache)
};
// What the 150-byte key limit counts (protocol.md §3.9, §9 quirk 11).
enum class KeyLengthUnit : std::uint8_t {
  kBytes,       // UTF-8 bytes: a longer key is refused, never truncated
  kCharacters,  // characters, then the 150-byte field cuts the UTF-8 (LMCache)
};
// How a client reads the 36-byte reply header (protocol.md §6.3, §9 quirk 17).
enum class ReplyHeaderRead : std::uint8_t {
  kExact,       // loops until all 36 bytes have arrived
  kSingleRecv,  // one recv(36): a split header fails the call (the old client)
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
  // With kUpFront the bound is the claimed length plus this.
  std::uint64_t max_rss_on_huge_reply_bytes = std::uint64_t{512} << 20;
  HugeReplyAllocation huge_reply_allocation = HugeReplyAllocation::kBounded;
  KeyLengthUnit key_length_unit = KeyLengthUnit::kBytes;
  ReplyHeaderRead reply_header_read = ReplyHeaderRead::kExact;
  // A reply code other than 200/400 is a miss (GET) or absent (EXIST), and
  // the connection is kept: the Era Constants client (protocol.md §2.2).
  bool invalid_reply_is_miss = false;
  // Every call ends by its timeout_ms (false: the client has no deadline,
  // protocol.md §6.1, and the deadline cases are skipped).
  bool honours_deadline = true;
  // After a connection is lost or refused, a later call connects again
  // (false: the old client keeps its one socket, protocol.md §6.3).
  bool reconnects = true;
};

struct Profile {
  std::string name;
  std::string description;
  ServerProfile server;
  ClientProfile client;
};

// "reference", "lmcache-python", "lmcache-python-legacy"; false for an
// unknown name.
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
std::string_view HugeReplyAllocationName(HugeReplyAllocation a);
std::string_view KeyLengthUnitName(KeyLengthUnit u);
std::string_view ReplyHeaderReadName(ReplyHeaderRead r);

}  // namespace lmc::conformance
