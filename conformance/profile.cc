#include "conformance/profile.h"

#include <array>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include <nlohmann/json.hpp>

namespace lmc::conformance {

std::string_view ReactionName(Reaction r) {
  switch (r) {
    case Reaction::kFailReply: return "fail_reply";
    case Reaction::kDrop: return "drop";
    case Reaction::kIgnore: return "ignore";
    case Reaction::kAny: return "any";
  }
  return "?";
}

namespace {

// The JSON names of each two-valued setting, in enum order: what
// ProfileToJson writes and ReadEnum reads, from one place.
constexpr std::array<std::string_view, 2> kHugeReplyAllocationNames{"bounded", "up_front"};
constexpr std::array<std::string_view, 2> kKeyLengthUnitNames{"bytes", "characters"};
constexpr std::array<std::string_view, 2> kReplyHeaderReadNames{"exact", "single_recv"};

}  // namespace

std::string_view HugeReplyAllocationName(HugeReplyAllocation a) {
  return kHugeReplyAllocationNames.at(static_cast<std::size_t>(a));
}
std::string_view KeyLengthUnitName(KeyLengthUnit u) { return kKeyLengthUnitNames.at(static_cast<std::size_t>(u)); }
std::string_view ReplyHeaderReadName(ReplyHeaderRead r) {
  return kReplyHeaderReadNames.at(static_cast<std::size_t>(r));
}

namespace {

Profile Reference() {
  Profile p;
  p.name = "reference";
  p.description = "this kit's lmcache-server and client (docs/SERVER.md, impl/client/client.h)";
  ServerProfile& s = p.server;
  s.list_answered = true;
  s.unknown_command = Reaction::kDrop;
  s.bad_key = Reaction::kFailReply;
  s.health_parses_key = false;
  s.unknown_codes = Reaction::kIgnore;
  s.negative_length = Reaction::kDrop;
  s.truncated_put_placeholder = false;
  s.half_echoed_as_float16 = false;
  s.max_object_bytes = std::uint64_t{1} << 31;
  ClientProfile& c = p.client;
  c.attempts = 3;
  c.backoff_ms = {100, 200};
  c.retries_invalid_reply = false;
  c.supports_list = true;
  c.supports_health = true;
  return p;
}

// LMCache's main-line threaded server (protocol.md §5, Era IntEnum) and its
// reconnect-v2 client (§6.3).
Profile LmcachePython() {
  Profile p;
  p.name = "lmcache-python";
  p.description =
      "LMCache's main-line threaded server (protocol.md §5, Era IntEnum) and its reconnect-v2 client (§6.3)";
  ServerProfile& s = p.server;
  s.list_answered = false;                // §5.4: LIST is ignored, the connection stays usable
  s.unknown_command = Reaction::kDrop;    // §5.5 Era IntEnum: ClientCommand(n) raises
  s.bad_key = Reaction::kDrop;            // §5.5: the decode raises, the socket closes
  s.health_parses_key = true;             // §3.8: the probe key is not looked up but still parsed
  s.unknown_codes = Reaction::kDrop;      // §5.5: MemoryFormat(42), dtype 9, location 3 raise
  s.negative_length = Reaction::kIgnore;  // §5.5: an empty payload is stored
  s.truncated_put_placeholder = true;     // §5.5: the threaded server stores data=None
  s.half_echoed_as_float16 = true;        // §2.3 / §5.4: dtype 1 comes back as 2
  s.max_object_bytes = (std::uint64_t{1} << 31) - 1;
  s.capacity_bytes = std::nullopt;  // §5.2: no eviction, no capacity
  ClientProfile& c = p.client;
  c.attempts = 3;
  c.backoff_ms = {100, 200};
  c.retries_invalid_reply = false;  // §6.3: ServerReturnCode(999) raises, not retried
  c.supports_list = false;          // §6.1: list() is not implemented
  c.supports_health = false;        // §6.1: the connector never sends HEALTH
  // §6.1: the buffer is allocated from the reply's shape and dtype before
  // the body is read; §7, §9 quirk 10: the length is trusted.
  c.huge_reply_allocation = HugeReplyAllocation::kUpFront;
  c.key_length_unit = KeyLengthUnit::kCharacters;  // §3.9, §9 quirk 11
  return p;
}

// The same server with the old connector (protocol.md §6.3 "Variant old
// client", Era Constants: @0e65d2f).
Profile LmcachePythonLegacy() {
  Profile p = LmcachePython();
  p.name = "lmcache-python-legacy";
  p.description =
      "LMCache's main-line threaded server (protocol.md §5) and its old, Era Constants client (§6.3 old client: "
      "one attempt, no reconnect, a single recv for the reply header)";
  ClientProfile& c = p.client;
  c.attempts = 1;  // §6.3: 1 attempt; a dead socket keeps failing
  c.backoff_ms = {};
  c.reconnects = false;                                // §6.3: no reconnect
  c.reply_header_read = ReplyHeaderRead::kSingleRecv;  // §6.3, §9 quirk 17
  c.invalid_reply_is_miss = true;                      // §2.2, §9 quirk 20: any code but 200 is a miss
  c.honours_deadline = false;                          // §6.1: no socket timeout
  return p;
}

using Json = nlohmann::json;

// A choice among named values: `names` lists them in enum order.
template <typename E>
bool ReadEnum(const Json& v, const std::string& name, std::span<const std::string_view> names, E* out,
              std::string* error) {
  std::string list;
  std::size_t i = 0;
  for (const std::string_view n : names) {
    if (v.is_string() && v.get<std::string>() == n) {
      *out = static_cast<E>(i);
      return true;
    }
    list += (list.empty() ? "\"" : ", \"") + std::string(n) + "\"";
    ++i;
  }
  *error = name + ": must be one of " + list;
  return false;
}

bool ReadReaction(const Json& v, const std::string& name, Reaction* out, std::string* error) {
  if (!v.is_string()) {
    *error = name + ": must be a string";
    return false;
  }
  const std::string s = v.get<std::string>();
  if (s == "fail_reply") {
    *out = Reaction::kFailReply;
  } else if (s == "drop") {
    *out = Reaction::kDrop;
  } else if (s == "ignore") {
    *out = Reaction::kIgnore;
  } else if (s == "any") {
    *out = Reaction::kAny;
  } else {
    *error = name + ": '" + s + "' is not one of fail_reply, drop, ignore, any";
    return false;
  }
  return true;
}

bool ReadUint(const Json& v, const std::string& name, std::uint64_t* out, std::string* error) {
  if (!v.is_number_unsigned()) {
    *error = name + ": must be a non-negative integer";
    return false;
  }
  *out = v.get<std::uint64_t>();
  return true;
}

bool ReadBool(const Json& v, const std::string& name, bool* out, std::string* error) {
  if (!v.is_boolean()) {
    *error = name + ": must be true or false";
    return false;
  }
  *out = v.get<bool>();
  return true;
}

// null clears an optional field; anything else must be what `read` takes.
template <typename T, typename Read>
bool ReadOptional(const Json& v, const std::string& name, std::optional<T>* out, Read read, std::string* error) {
  if (v.is_null()) {
    out->reset();
    return true;
  }
  T value{};
  if (!read(v, name, &value, error)) return false;
  *out = value;
  return true;
}

bool CheckKeys(const Json& obj, const std::string& where, const std::set<std::string>& known, std::string* error) {
  if (!obj.is_object()) {
    *error = where + ": must be an object";
    return false;
  }
  for (const auto& [k, v] : obj.items()) {
    (void)v;
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      *error = where + ": unknown key '" + k + "' (known: " + list + ")";
      return false;
    }
  }
  return true;
}

bool ParseServer(const Json& j, ServerProfile* s, std::string* error) {
  if (!CheckKeys(j, "server",
                 {"list", "unknown_command", "bad_key", "health_parses_key", "unknown_codes", "negative_length",
                  "truncated_put_placeholder", "half_echoed_as_float16", "max_object_bytes", "capacity_bytes",
                  "max_test_body_bytes"},
                 error)) {
    return false;
  }
  for (const auto& [k, v] : j.items()) {
    const std::string name = "server." + k;
    bool ok = true;
    if (k == "list") {
      if (v.is_string() && (v == "answered" || v == "ignored" || v == "any")) {
        s->list_answered = v == "any" ? std::nullopt : std::optional<bool>(v == "answered");
      } else {
        *error = name + ": must be \"answered\", \"ignored\" or \"any\"";
        ok = false;
      }
    } else if (k == "unknown_command") {
      ok = ReadReaction(v, name, &s->unknown_command, error);
    } else if (k == "bad_key") {
      ok = ReadReaction(v, name, &s->bad_key, error);
    } else if (k == "health_parses_key") {
      ok = ReadOptional(v, name, &s->health_parses_key, ReadBool, error);
    } else if (k == "unknown_codes") {
      ok = ReadReaction(v, name, &s->unknown_codes, error);
    } else if (k == "negative_length") {
      ok = ReadReaction(v, name, &s->negative_length, error);
    } else if (k == "truncated_put_placeholder") {
      ok = ReadBool(v, name, &s->truncated_put_placeholder, error);
    } else if (k == "half_echoed_as_float16") {
      ok = ReadOptional(v, name, &s->half_echoed_as_float16, ReadBool, error);
    } else if (k == "max_object_bytes") {
      ok = ReadUint(v, name, &s->max_object_bytes, error);
    } else if (k == "capacity_bytes") {
      ok = ReadOptional(v, name, &s->capacity_bytes, ReadUint, error);
    } else if (k == "max_test_body_bytes") {
      ok = ReadUint(v, name, &s->max_test_body_bytes, error);
    }
    if (!ok) return false;
  }
  return true;
}

bool ParseClient(const Json& j, ClientProfile* c, std::string* error) {
  if (!CheckKeys(j, "client",
                 {"attempts", "backoff_ms", "retries_invalid_reply", "supports_list", "supports_health",
                  "max_test_body_bytes", "max_rss_on_huge_reply_bytes", "huge_reply_allocation", "key_length_unit",
                  "reply_header_read", "invalid_reply_is_miss", "honours_deadline", "reconnects"},
                 error)) {
    return false;
  }
  for (const auto& [k, v] : j.items()) {
    const std::string name = "client." + k;
    bool ok = true;
    if (k == "attempts") {
      std::uint64_t n = 0;
      ok = ReadUint(v, name, &n, error);
      if (ok && (n < 1 || n > 100)) {
        *error = name + ": must be 1..100";
        ok = false;
      }
      c->attempts = static_cast<int>(n);
    } else if (k == "backoff_ms") {
      if (!v.is_array() || v.size() > 100) {
        *error = name + ": must be an array of at most 100 integers";
        return false;
      }
      c->backoff_ms.clear();
      for (const auto& e : v) {
        std::uint64_t ms = 0;
        if (!ReadUint(e, name, &ms, error)) return false;
        if (ms > 600000) {
          *error = name + ": at most 600000 ms each";
          return false;
        }
        c->backoff_ms.push_back(static_cast<int>(ms));
      }
    } else if (k == "retries_invalid_reply") {
      ok = ReadBool(v, name, &c->retries_invalid_reply, error);
    } else if (k == "supports_list") {
      ok = ReadBool(v, name, &c->supports_list, error);
    } else if (k == "supports_health") {
      ok = ReadBool(v, name, &c->supports_health, error);
    } else if (k == "max_test_body_bytes") {
      ok = ReadUint(v, name, &c->max_test_body_bytes, error);
    } else if (k == "max_rss_on_huge_reply_bytes") {
      ok = ReadUint(v, name, &c->max_rss_on_huge_reply_bytes, error);
    } else if (k == "huge_reply_allocation") {
      ok = ReadEnum(v, name, kHugeReplyAllocationNames, &c->huge_reply_allocation, error);
    } else if (k == "key_length_unit") {
      ok = ReadEnum(v, name, kKeyLengthUnitNames, &c->key_length_unit, error);
    } else if (k == "reply_header_read") {
      ok = ReadEnum(v, name, kReplyHeaderReadNames, &c->reply_header_read, error);
    } else if (k == "invalid_reply_is_miss") {
      ok = ReadBool(v, name, &c->invalid_reply_is_miss, error);
    } else if (k == "honours_deadline") {
      ok = ReadBool(v, name, &c->honours_deadline, error);
    } else if (k == "reconnects") {
      ok = ReadBool(v, name, &c->reconnects, error);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> BuiltinProfileNames() { return {"reference", "lmcache-python", "lmcache-python-legacy"}; }

bool BuiltinProfile(const std::string& name, Profile* out) {
  if (name == "reference") {
    *out = Reference();
    return true;
  }
  if (name == "lmcache-python") {
    *out = LmcachePython();
    return true;
  }
  if (name == "lmcache-python-legacy") {
    *out = LmcachePythonLegacy();
    return true;
  }
  return false;
}

bool ParseProfile(const std::string& json_text, Profile* out, std::string* error) {
  const Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "not valid JSON";
    return false;
  }
  if (!CheckKeys(j, "profile", {"name", "description", "base", "server", "client"}, error)) return false;
  Profile p;
  if (j.contains("base")) {
    if (!j["base"].is_string() || !BuiltinProfile(j["base"].get<std::string>(), &p)) {
      *error = "base: must name a built-in profile (reference, lmcache-python, lmcache-python-legacy)";
      return false;
    }
  } else {
    // Without a base every choice starts undeclared: cases that need one skip.
    p = Profile{};
    p.client.supports_list = false;
    p.client.supports_health = false;
  }
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
    *error = "name: a non-empty string is required";
    return false;
  }
  p.name = j["name"].get<std::string>();
  if (j.contains("description")) {
    if (!j["description"].is_string()) {
      *error = "description: must be a string";
      return false;
    }
    p.description = j["description"].get<std::string>();
  }
  if (j.contains("server") && !ParseServer(j["server"], &p.server, error)) return false;
  if (j.contains("client") && !ParseClient(j["client"], &p.client, error)) return false;
  *out = std::move(p);
  return true;
}

bool LoadProfile(const std::string& name_or_path, Profile* out, std::string* error) {
  if (BuiltinProfile(name_or_path, out)) return true;
  std::ifstream in(name_or_path);
  if (!in) {
    *error = "'" + name_or_path +
             "' is neither a built-in profile (reference, lmcache-python, lmcache-python-legacy) nor a readable file";
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) {
    *error = name_or_path + ": a profile is at most 1 MiB";
    return false;
  }
  if (!ParseProfile(text.str(), out, error)) {
    *error = name_or_path + ": " + *error;
    return false;
  }
  return true;
}

std::string ProfileToJson(const Profile& p) {
  nlohmann::ordered_json j;
  j["name"] = p.name;
  j["description"] = p.description;
  const ServerProfile& s = p.server;
  auto& js = j["server"];
  js["list"] = !s.list_answered ? "any" : *s.list_answered ? "answered" : "ignored";
  js["unknown_command"] = ReactionName(s.unknown_command);
  js["bad_key"] = ReactionName(s.bad_key);
  js["health_parses_key"] =
      s.health_parses_key ? nlohmann::ordered_json(*s.health_parses_key) : nlohmann::ordered_json();
  js["unknown_codes"] = ReactionName(s.unknown_codes);
  js["negative_length"] = ReactionName(s.negative_length);
  js["truncated_put_placeholder"] = s.truncated_put_placeholder;
  js["half_echoed_as_float16"] =
      s.half_echoed_as_float16 ? nlohmann::ordered_json(*s.half_echoed_as_float16) : nlohmann::ordered_json();
  js["max_object_bytes"] = s.max_object_bytes;
  js["capacity_bytes"] = s.capacity_bytes ? nlohmann::ordered_json(*s.capacity_bytes) : nlohmann::ordered_json();
  js["max_test_body_bytes"] = s.max_test_body_bytes;
  const ClientProfile& c = p.client;
  auto& jc = j["client"];
  jc["attempts"] = c.attempts;
  jc["backoff_ms"] = c.backoff_ms;
  jc["retries_invalid_reply"] = c.retries_invalid_reply;
  jc["supports_list"] = c.supports_list;
  jc["supports_health"] = c.supports_health;
  jc["max_test_body_bytes"] = c.max_test_body_bytes;
  jc["max_rss_on_huge_reply_bytes"] = c.max_rss_on_huge_reply_bytes;
  jc["huge_reply_allocation"] = HugeReplyAllocationName(c.huge_reply_allocation);
  jc["key_length_unit"] = KeyLengthUnitName(c.key_length_unit);
  jc["reply_header_read"] = ReplyHeaderReadName(c.reply_header_read);
  jc["invalid_reply_is_miss"] = c.invalid_reply_is_miss;
  jc["honours_deadline"] = c.honours_deadline;
  jc["reconnects"] = c.reconnects;
  return j.dump(2) + "\n";
}

}  // namespace lmc::conformance
