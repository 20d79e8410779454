// Server mode's catalogue: the runner is a client of the server under test
// and checks every byte that comes back against protocol.md.
//
// Each case talks over fresh connections and uses keys of its own (a model
// name made of this run's nonce and the case's number), so cases never see
// each other's objects and the catalogue can run against a server that
// already holds data. Payloads come from a generator seeded by the case id,
// so a failure shows the same bytes on every run.
#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "conformance/catalogues.h"
#include "conformance/conn.h"

namespace lmc::conformance {
namespace {

using std::chrono::milliseconds;
using wire::ReplyHeader;
using wire::Shape;

constexpr std::int32_t kPut = 1, kGet = 2, kExist = 3, kList = 4, kHealth = 5;
constexpr std::int32_t kSuccess = 200, kFail = 400;
constexpr std::int32_t kBf16 = 3;
constexpr std::int32_t kKv2ltd = 1;

// How long a case waits to conclude that no bytes are coming (PUT has no
// reply; an ignored request has none either). Long enough for a server on
// loopback, short enough to keep the catalogue fast.
constexpr milliseconds kSilence{250};
// How long a case waits for a connection the server should drop.
constexpr milliseconds kDropWait{2000};

std::string RunNonce() {
  std::random_device rd;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s += kDigits[rd() & 15];
  return s;
}

// Everything a case body needs: the target, the profile, this case's
// deadline and trace, and a key namespace of its own.
struct Ctx {
  const ServerTarget& target;
  const Profile& profile;
  CaseEnv& env;
  std::string model;  // "cf<nonce>-<n>": this case's keys
  std::mt19937_64 rng;

  const Deadline& deadline() const { return env.deadline; }
  Conn Dial(std::string label = "c") {
    return Conn::Dial(target.host, target.port, env.deadline, env.trace, std::move(label));
  }
  // An era F key of this case: model@1@0@<hash>@bfloat16[suffix].
  std::string Key(std::string_view hash, std::string_view suffix = "", std::string_view dtype = "bfloat16") const {
    return model + "@1@0@" + std::string(hash) + "@" + std::string(dtype) + std::string(suffix);
  }
  std::string Bytes(std::size_t n) {
    std::string s(n, '\0');
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const std::uint64_t v = rng();
      std::memcpy(s.data() + i, &v, 8);
    }
    for (; i < n; ++i) s[i] = static_cast<char>(rng() & 0xff);
    return s;
  }
};

struct Stored {
  std::int32_t fmt = kKv2ltd;
  std::int32_t dtype = kBf16;
  Shape shape{2, 32, 256, 1024};
};

std::string PutBytes(std::string_view key, std::string_view payload, const Stored& m = {}, std::int32_t location = 0) {
  return RequestBytes(kPut, key, static_cast<std::int32_t>(payload.size()), m.fmt, m.dtype, m.shape, location) +
         std::string(payload);
}
std::string GetBytes(std::string_view key) { return RequestBytes(kGet, key); }
std::string ExistBytes(std::string_view key) { return RequestBytes(kExist, key); }
std::string HealthBytes() { return RequestBytes(kHealth, "@0@0@0@half"); }
std::string ListBytes() { return RequestBytes(kList, "@0@0@0@half"); }

ReplyHeader Dummy(std::int32_t code) {
  ReplyHeader h;
  h.code = code;
  return h;
}

ReplyHeader Hit(std::size_t length, const Stored& m) {
  ReplyHeader h;
  h.code = kSuccess;
  h.length = static_cast<std::int32_t>(length);
  h.fmt = m.fmt;
  h.dtype = m.dtype;
  h.shape = m.shape;
  h.location = 0;
  return h;
}

// Reads a reply header and fails, naming each field, unless it is `want`
// byte for byte.
void ExpectReply(Conn& c, const Deadline& d, const ReplyHeader& want, std::string_view what,
                 std::string_view sent = {}) {
  std::string raw;
  c.ReadReply(d, what, &raw);
  const std::string expected = ReplyBytes(want);
  if (raw != expected) {
    Fail(std::string(what) + ": reply header differs\n  expected " + DescribeReply(expected) + "\n  got      " +
             DescribeReply(raw),
         Evidence{std::string(sent.substr(0, std::min<std::size_t>(sent.size(), 186))), expected, raw});
  }
}

void ExpectBody(Conn& c, const Deadline& d, std::string_view want, std::string_view what) {
  std::string got;
  const ReadEnd end = c.Read(want.size(), d, &got);
  if (end != ReadEnd::kComplete) {
    Fail(std::string(what) + ": body ended early (" + std::string(ReadEndName(end)) + ") after " +
             std::to_string(got.size()) + " of " + std::to_string(want.size()) + " bytes",
         Evidence{{}, std::string(want.substr(0, got.size() + 16)), got.substr(0, 4096)});
  }
  if (got != want) {
    const std::size_t at = *FirstDifference(want, got);
    const std::size_t from = at > 64 ? at - 64 : 0;
    Fail(std::string(what) + ": body differs from the stored bytes at offset " + std::to_string(at) + " of " +
             std::to_string(want.size()) + " (evidence starts at offset " + std::to_string(from) + ")",
         Evidence{{}, std::string(want.substr(from, 256)), got.substr(from, 256)});
  }
}

// GET `key` and expect exactly `payload` with `m`'s metadata.
void ExpectHit(Conn& c, const Deadline& d, std::string_view key, std::string_view payload, const Stored& m,
               std::string_view what) {
  const std::string req = GetBytes(key);
  c.Send(req, d);
  ExpectReply(c, d, Hit(payload.size(), m), what, req);
  ExpectBody(c, d, payload, what);
}

void ExpectMiss(Conn& c, const Deadline& d, std::string_view key, std::string_view what) {
  const std::string req = GetBytes(key);
  c.Send(req, d);
  ExpectReply(c, d, Dummy(kFail), what, req);
}

void ExpectExist(Conn& c, const Deadline& d, std::string_view key, bool present, std::string_view what) {
  const std::string req = ExistBytes(key);
  c.Send(req, d);
  ExpectReply(c, d, Dummy(present ? kSuccess : kFail), what, req);
}

void ExpectHealthy(Conn& c, const Deadline& d, std::string_view what) {
  const std::string req = HealthBytes();
  c.Send(req, d);
  ExpectReply(c, d, Dummy(kSuccess), what, req);
}

// PUT has no reply; nothing may arrive after it.
void ExpectNoReply(Conn& c, const Deadline& d, std::string_view what) {
  std::string got;
  const ReadEnd end = c.ExpectSilence(d.Within(kSilence), &got);
  if (end == ReadEnd::kComplete) {
    Fail(std::string(what) + ": the server sent " + std::to_string(got.size()) +
             " bytes where the protocol has no reply (PUT and an ignored request get none)",
         Evidence{{}, {}, got});
  }
  if (end != ReadEnd::kTimedOut) {
    Fail(std::string(what) + ": the server closed the connection (" + std::string(ReadEndName(end)) +
         ") after a request it should have taken");
  }
}

// The connection must close without a single byte of reply.
void ExpectDropped(Conn& c, const Deadline& d, std::string_view what) {
  std::string got;
  const ReadEnd end = c.ExpectSilence(d.Within(kDropWait), &got);
  if (end == ReadEnd::kComplete) {
    Fail(std::string(what) + ": expected the connection to be closed without a reply, but the server sent " +
             std::to_string(got.size()) + " bytes" +
             (got.size() >= 36 ? " (" + DescribeReply(got.substr(0, 36)) + ")" : ""),
         Evidence{{}, {}, got});
  }
  if (end == ReadEnd::kTimedOut) {
    Fail(std::string(what) + ": expected the connection to be closed without a reply; it stayed open and silent for " +
         std::to_string(kDropWait.count()) + " ms");
  }
}

// How the server must react to a request it will not serve (the profile's
// choice). For kFailReply the request is one that is owed a reply.
void ExpectReaction(Conn& c, const Deadline& d, Reaction r, std::string_view sent, std::string_view what) {
  switch (r) {
    case Reaction::kFailReply:
      ExpectReply(c, d, Dummy(kFail), std::string(what) + " (profile: a FAIL reply)", sent);
      ExpectHealthy(c, d, std::string(what) + ": the connection must stay usable after the FAIL reply");
      break;
    case Reaction::kDrop: ExpectDropped(c, d, std::string(what) + " (profile: drop the connection)"); break;
    case Reaction::kIgnore:
      ExpectNoReply(c, d, std::string(what) + " (profile: ignored)");
      ExpectHealthy(c, d, std::string(what) + ": the connection must stay usable after the ignored request");
      break;
    case Reaction::kAny: break;
  }
}

// --- The catalogue ------------------------------------------------------

struct Builder {
  const ServerTarget& target;
  const Profile& profile;
  std::string nonce = RunNonce();
  std::vector<Case> cases;

  using Body = std::function<void(Ctx&)>;
  // Returns the case, so that a caller can mark it exclusive.
  Case& Add(std::string id, std::string clause, Level level, std::string title, Body body,
            std::string not_applicable = {}) {
    const std::size_t n = cases.size();
    const std::string model = "cf" + nonce + "-" + std::to_string(n);
    const ServerTarget& t = target;
    const Profile& p = profile;
    const std::uint64_t seed = std::hash<std::string>{}(id);
    cases.push_back(Case{{std::move(id), std::move(clause), level, std::move(title)},
                         std::move(not_applicable),
                         [&t, &p, model, seed, body = std::move(body)](CaseEnv& env) {
                           Ctx ctx{t, p, env, model, std::mt19937_64(seed)};
                           body(ctx);
                         }});
    return cases.back();
  }
};

std::string NotApplicableUnless(bool applies, std::string why) { return applies ? std::string() : std::move(why); }

// Whitespace that Python's str.strip() removes, as UTF-8 (protocol.md §9.2,
// wire-json.md): the ASCII set, then a sample of the Unicode set.
constexpr std::string_view kAsciiWhitespace[] = {"\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f"};
constexpr std::string_view kUnicodeWhitespace[] = {"\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80", "\xe2\x80\x80",
                                                   "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                                   "\xe2\x81\x9f", "\xe3\x80\x80"};

void AddHealth(Builder& b) {
  b.Add("server/health/replies-success-dummy", "protocol.md §1.4 HEALTH, §1.5", Level::kMust,
        "HEALTH gets the SUCCESS dummy header: 200, length 0, fmt 1, dtype 2, shape 0, location 0", [](Ctx& c) {
          Conn conn = c.Dial();
          ExpectHealthy(conn, c.deadline(), "HEALTH");
        });
  b.Add("server/health/probe-key-not-looked-up", "protocol.md §3.8", Level::kMust,
        "HEALTH with a key that was never stored still answers 200", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string req = RequestBytes(kHealth, c.Key("abc"));
          conn.Send(req, c.deadline());
          ExpectReply(conn, c.deadline(), Dummy(kSuccess), "HEALTH with an unstored key", req);
        });
  const ServerProfile& s = b.profile.server;
  b.Add(
      "server/health/unparsable-key", "protocol.md §3.8, §5.5", Level::kMust,
      "HEALTH with a key that does not parse answers 200 (profile: key not parsed) or gets the bad_key reaction",
      [](Ctx& c) {
        Conn conn = c.Dial();
        const std::string req = RequestBytes(kHealth, c.model + "-not-a-key");
        conn.Send(req, c.deadline());
        if (*c.profile.server.health_parses_key) {
          ExpectReaction(conn, c.deadline(), c.profile.server.bad_key, req, "HEALTH with an unparsable key");
        } else {
          ExpectReply(conn, c.deadline(), Dummy(kSuccess), "HEALTH with an unparsable key (never looked at)", req);
        }
      },
      NotApplicableUnless(s.health_parses_key.has_value() && (!*s.health_parses_key || s.bad_key != Reaction::kAny),
                          "the profile does not say whether HEALTH's key is parsed"));
  b.Add("server/health/repeated-on-one-connection", "protocol.md §1.1", Level::kMust,
        "ten HEALTH requests on one connection get ten replies", [](Ctx& c) {
          Conn conn = c.Dial();
          for (int i = 0; i < 10; ++i) ExpectHealthy(conn, c.deadline(), "HEALTH #" + std::to_string(i + 1));
        });
}

void AddPutGet(Builder& b) {
  b.Add("server/put/no-reply", "protocol.md §1.4 PUT, §9.4", Level::kMust,
        "PUT gets no reply at all; a following EXIST sees the object", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("1"), c.Bytes(64)), c.deadline());
          ExpectNoReply(conn, c.deadline(), "after a PUT");
          ExpectExist(conn, c.deadline(), c.Key("1"), true, "EXIST after the PUT");
        });
  b.Add("server/get/hit-returns-stored-bytes", "protocol.md §1.4 GET, §5.4", Level::kMust,
        "a GET hit is followed by exactly the stored payload", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string payload = c.Bytes(8192);
          conn.Send(PutBytes(c.Key("10"), payload), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("10"), payload, Stored{}, "GET after PUT");
        });
  b.Add("server/get/hit-echoes-stored-metadata", "protocol.md §1.3, §5.4, compatible-implementation item 4",
        Level::kMust, "a GET hit echoes the PUT's length, fmt, dtype and four shape ints, location 0", [](Ctx& c) {
          Conn conn = c.Dial();
          const Stored cases[] = {{kKv2ltd, kBf16, {2, 32, 256, 1024}},
                                  {6, kBf16, {256, 576, 0, 0}},
                                  {5, 0, {20, 0, 0, 0}},
                                  {2, 4, {7, 2, 33, 128}}};
          int n = 0;
          for (const Stored& m : cases) {
            const std::string key = c.Key(std::to_string(20 + n++));
            const std::string payload = c.Bytes(40 * static_cast<std::size_t>(n));
            conn.Send(PutBytes(key, payload, m), c.deadline());
            ExpectHit(conn, c.deadline(), key, payload, m, "GET of object " + std::to_string(n));
          }
        });
  b.Add("server/reply/location-is-last-field", "protocol.md §1.3, §9.1", Level::kMust,
        "location is the 9th (last) int of a reply, the 5th of a request: shape sits at bytes 16-31", [](Ctx& c) {
          Conn conn = c.Dial();
          const Stored m{kKv2ltd, kBf16, {2, 32, 256, 1024}};
          const std::string payload = c.Bytes(16);
          conn.Send(PutBytes(c.Key("30"), payload, m), c.deadline());
          conn.Send(GetBytes(c.Key("30")), c.deadline());
          std::string raw;
          conn.ReadReply(c.deadline(), "GET", &raw);
          const std::string want = ReplyBytes(Hit(16, m));
          if (raw.substr(16) != want.substr(16)) {
            Fail(
                "reply fields 16-35 are not shape[0..3] then location 0 (a reply laid out in request order puts "
                "location 5th)\n  expected " +
                    DescribeReply(want) + "\n  got      " + DescribeReply(raw),
                Evidence{{}, want, raw});
          }
        });
  b.Add("server/get/hit-echoes-every-shape-int", "protocol.md §5.4, §8", Level::kMust,
        "all four shape ints come back as sent, including INT32_MAX, negative ints and trailing zeros", [](Ctx& c) {
          Conn conn = c.Dial();
          const Stored shapes[] = {{kKv2ltd, kBf16, {2147483647, 1, 65536, 7}},
                                   {kKv2ltd, kBf16, {256, 2, 1024, 0}},
                                   {kKv2ltd, kBf16, {0, 0, 0, 0}},
                                   {kKv2ltd, kBf16, {1, 256, 2, 1024}},
                                   {kKv2ltd, kBf16, {-1, -2147483647 - 1, 5, 0}}};
          int n = 0;
          for (const Stored& m : shapes) {
            const std::string key = c.Key(std::to_string(40 + n++));
            conn.Send(PutBytes(key, "abcd", m), c.deadline());
            ExpectHit(conn, c.deadline(), key, "abcd", m, "GET of shape case " + std::to_string(n));
          }
        });
  b.Add("server/get/location-echoed-as-zero", "protocol.md §2.4, §5.4", Level::kMust,
        "a PUT's location (1 or 2) is dropped: the GET reply carries location 0", [](Ctx& c) {
          Conn conn = c.Dial();
          for (std::int32_t loc = 1; loc <= 2; ++loc) {
            const std::string key = c.Key(std::to_string(50 + loc));
            conn.Send(PutBytes(key, "xyz", Stored{}, loc), c.deadline());
            ExpectHit(conn, c.deadline(), key, "xyz", Stored{}, "GET after a PUT with location " + std::to_string(loc));
          }
        });
  b.Add("server/get/miss-fail-dummy", "protocol.md §1.4 GET, §1.5, §1.6", Level::kMust,
        "a GET miss gets exactly the FAIL dummy header 900100000000000001000000020000000000...", [](Ctx& c) {
          Conn conn = c.Dial();
          ExpectMiss(conn, c.deadline(), c.Key("60"), "GET of a key never stored");
        });
  b.Add("server/get/ignores-request-fields", "protocol.md §1.4 GET, §5.4", Level::kMust,
        "a GET's length, fmt, dtype and shape are ignored: the reply carries the stored ones", [](Ctx& c) {
          Conn conn = c.Dial();
          const Stored m{kKv2ltd, kBf16, {2, 4, 8, 16}};
          conn.Send(PutBytes(c.Key("61"), "payload", m), c.deadline());
          const std::string req = RequestBytes(kGet, c.Key("61"), 0, kKv2ltd, 4, {1, 2, 3, 4});
          conn.Send(req, c.deadline());
          ExpectReply(conn, c.deadline(), Hit(7, m), "GET with non-dummy fields", req);
          ExpectBody(conn, c.deadline(), "payload", "GET with non-dummy fields");
        });
  b.Add("server/exist/present-200", "protocol.md §1.4 EXIST, §1.6", Level::kMust,
        "EXIST of a stored key gets the SUCCESS dummy header", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("70"), "x"), c.deadline());
          ExpectExist(conn, c.deadline(), c.Key("70"), true, "EXIST of a stored key");
        });
  b.Add("server/exist/absent-400", "protocol.md §1.4 EXIST, §1.6", Level::kMust,
        "EXIST of an absent key gets the FAIL dummy header", [](Ctx& c) {
          Conn conn = c.Dial();
          ExpectExist(conn, c.deadline(), c.Key("71"), false, "EXIST of an absent key");
        });
  b.Add("server/exist/no-body-on-present", "protocol.md §1.3", Level::kMust,
        "EXIST replies are bare headers: nothing follows a present answer", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("72"), c.Bytes(100)), c.deadline());
          ExpectExist(conn, c.deadline(), c.Key("72"), true, "EXIST of a stored key");
          ExpectNoReply(conn, c.deadline(), "after the EXIST reply");
        });
  b.Add("server/put/overwrite-replaces-bytes", "protocol.md §5.2, §6.4, §9.19", Level::kMust,
        "a repeated PUT of a key replaces its bytes", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string first = c.Bytes(512), second = c.Bytes(512);
          conn.Send(PutBytes(c.Key("80"), first), c.deadline());
          conn.Send(PutBytes(c.Key("80"), second), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("80"), second, Stored{}, "GET after the second PUT");
        });
  b.Add("server/put/overwrite-replaces-metadata", "protocol.md §5.2, §5.4", Level::kMust,
        "a repeated PUT with another size, dtype and shape replaces all of them", [](Ctx& c) {
          Conn conn = c.Dial();
          const Stored m1{kKv2ltd, kBf16, {2, 32, 256, 1024}}, m2{6, 4, {256, 576, 0, 0}};
          conn.Send(PutBytes(c.Key("81"), c.Bytes(4096), m1), c.deadline());
          const std::string second = c.Bytes(100);
          conn.Send(PutBytes(c.Key("81"), second, m2), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("81"), second, m2, "GET after a shorter second PUT");
        });
  b.Add("server/put/overwrite-across-connections", "protocol.md §6.4", Level::kMust,
        "a PUT on a second connection overwrites the first connection's object", [](Ctx& c) {
          Conn a = c.Dial("a");
          Conn bconn = c.Dial("b");
          a.Send(PutBytes(c.Key("82"), "first"), c.deadline());
          ExpectExist(a, c.deadline(), c.Key("82"), true, "EXIST on a");
          bconn.Send(PutBytes(c.Key("82"), "second!"), c.deadline());
          ExpectExist(bconn, c.deadline(), c.Key("82"), true, "EXIST on b");
          ExpectHit(a, c.deadline(), c.Key("82"), "second!", Stored{}, "GET on a after b's PUT");
        });
  b.Add("server/put/zero-length", "protocol.md §1.2, §5.4", Level::kMust,
        "a PUT of 0 bytes is stored: EXIST 200, GET a hit of length 0 with no body", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("90"), ""), c.deadline());
          ExpectExist(conn, c.deadline(), c.Key("90"), true, "EXIST of an empty object");
          ExpectHit(conn, c.deadline(), c.Key("90"), "", Stored{}, "GET of an empty object");
          ExpectHealthy(conn, c.deadline(), "HEALTH after the empty GET (no stray body bytes)");
        });
}

void AddCodes(Builder& b) {
  const ServerProfile& s = b.profile.server;
  b.Add("server/codes/every-dtype-code", "protocol.md §2.3", Level::kMust,
        "dtype codes 0 and 2..8 are stored and echoed as sent", [](Ctx& c) {
          Conn conn = c.Dial();
          for (std::int32_t dt : {0, 2, 3, 4, 5, 6, 7, 8}) {
            const std::string key = c.Key(std::to_string(100 + dt));
            const Stored m{kKv2ltd, dt, {1, 1, 2, 8}};
            conn.Send(PutBytes(key, "0123456789abcdef", m), c.deadline());
            ExpectHit(conn, c.deadline(), key, "0123456789abcdef", m, "GET of dtype " + std::to_string(dt));
          }
        });
  b.Add(
      "server/codes/dtype-half-echo", "protocol.md §2.3 (the float16/half collapse), §9.8", Level::kMust,
      "dtype 1 (half) comes back as the profile says: 2 (Python re-encodes float16) or 1 (as sent)",
      [](Ctx& c) {
        Conn conn = c.Dial();
        const bool as2 = *c.profile.server.half_echoed_as_float16;
        conn.Send(PutBytes(c.Key("110"), "ab", Stored{kKv2ltd, 1, {1, 1, 1, 2}}), c.deadline());
        ExpectHit(conn, c.deadline(), c.Key("110"), "ab", Stored{kKv2ltd, as2 ? 2 : 1, {1, 1, 1, 2}},
                  as2 ? "GET of a dtype-1 object (expected back as 2)" : "GET of a dtype-1 object (expected as sent)");
      },
      NotApplicableUnless(s.half_echoed_as_float16.has_value(), "the profile does not say how dtype 1 is echoed"));
  b.Add("server/codes/every-fmt-code", "protocol.md §2.5 Era renumbered", Level::kMust,
        "MemoryFormat values 0..6 are stored and echoed as sent", [](Ctx& c) {
          Conn conn = c.Dial();
          for (std::int32_t f = 0; f <= 6; ++f) {
            const std::string key = c.Key(std::to_string(120 + f));
            const Stored m{f, kBf16, {2, 2, 2, 2}};
            conn.Send(PutBytes(key, "fmt", m), c.deadline());
            ExpectHit(conn, c.deadline(), key, "fmt", m, "GET of fmt " + std::to_string(f));
          }
        });
  b.Add("server/codes/newest-fmt-codes", "protocol.md §2.5 Era newest main (EC_TD=7, HS_TD=8)", Level::kShould,
        "MemoryFormat 7 and 8 (newest main line) are stored and echoed", [](Ctx& c) {
          Conn conn = c.Dial();
          for (std::int32_t f = 7; f <= 8; ++f) {
            const std::string key = c.Key(std::to_string(130 + f));
            const Stored m{f, kBf16, {2, 2, 2, 2}};
            conn.Send(PutBytes(key, "fmt", m), c.deadline());
            ExpectHit(conn, c.deadline(), key, "fmt", m, "GET of fmt " + std::to_string(f));
          }
        });
  struct Unknown {
    std::string id, what;
    Stored m;
    std::int32_t location;
  };
  const Unknown unknown[] = {{"server/codes/unknown-fmt", "fmt 42", {42, kBf16, {1, 1, 1, 4}}, 0},
                             {"server/codes/unknown-dtype", "dtype 9", {kKv2ltd, 9, {1, 1, 1, 4}}, 0},
                             {"server/codes/unknown-location", "location 3", {kKv2ltd, kBf16, {1, 1, 1, 4}}, 3}};
  for (const Unknown& u : unknown) {
    b.Add(
        u.id, "protocol.md §2.3-§2.5, §5.5, §9.7", Level::kMust,
        "a PUT with " + u.what + " is echoed as given (profile 'ignore') or drops the connection ('drop')",
        [u](Ctx& c) {
          Conn conn = c.Dial();
          const std::string key = c.Key(std::to_string(140 + u.m.fmt + u.m.dtype + u.location));
          conn.Send(PutBytes(key, "data", u.m, u.location), c.deadline());
          if (c.profile.server.unknown_codes == Reaction::kDrop) {
            ExpectDropped(conn, c.deadline(), "PUT with " + u.what);
            Conn other = c.Dial("c2");
            ExpectExist(other, c.deadline(), key, false, "EXIST on a new connection after the dropped PUT");
          } else {
            ExpectHit(conn, c.deadline(), key, "data", u.m, "GET of an object PUT with " + u.what);
          }
        },
        NotApplicableUnless(s.unknown_codes == Reaction::kDrop || s.unknown_codes == Reaction::kIgnore,
                            "the profile does not say what unknown codes get"));
  }
}

void AddBodies(Builder& b) {
  struct Size {
    std::string name;
    std::size_t bytes;
  };
  const Size sizes[] = {{"bytes-1", 1},
                        {"bytes-4095", 4095},
                        {"bytes-4097", 4097},
                        {"bytes-65539", 65539},
                        {"bytes-1mib", 1 << 20},
                        {"bytes-4mib-plus-1", (4 << 20) + 1},
                        {"bytes-16mib", 16 << 20},
                        {"bytes-64mib", 64 << 20}};
  const ServerProfile& s = b.profile.server;
  for (const Size& z : sizes) {
    const bool fits = z.bytes <= s.max_test_body_bytes && z.bytes <= s.max_object_bytes;
    b.Add(
        "server/body/" + z.name, "protocol.md §1.2, §1.4", Level::kMust,
        "a PUT of " + std::to_string(z.bytes) + " bytes comes back from GET byte for byte",
        [z](Ctx& c) {
          Conn conn = c.Dial();
          const std::string payload = c.Bytes(z.bytes);
          const Stored m{kKv2ltd, 6, {1, 1, 1, static_cast<std::int32_t>(z.bytes)}};
          // Header and payload in two sends: no copy of a 64 MiB payload.
          conn.Send(RequestBytes(kPut, c.Key("200"), static_cast<std::int32_t>(z.bytes), m.fmt, m.dtype, m.shape),
                    c.deadline());
          conn.Send(payload, c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("200"), payload, m, "GET of the " + z.name + " object");
        },
        NotApplicableUnless(fits, "over the profile's max_test_body_bytes or max_object_bytes"));
  }
  b.Add("server/body/put-in-small-pieces", "protocol.md §1.1, §5.3", Level::kMust,
        "a PUT whose header and payload arrive 7 bytes at a time is stored whole", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string payload = c.Bytes(3000);
          const std::string req = PutBytes(c.Key("210"), payload);
          for (std::size_t i = 0; i < req.size(); i += 7) {
            conn.Send(std::string_view(req).substr(i, 7), c.deadline());
            if (i % 700 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          ExpectHit(conn, c.deadline(), c.Key("210"), payload, Stored{}, "GET of the piecewise PUT");
        });
  b.Add("server/body/header-in-single-bytes", "protocol.md §5.3, §9.17", Level::kMust,
        "a GET request sent one byte at a time is answered", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("211"), "single"), c.deadline());
          const std::string req = GetBytes(c.Key("211"));
          for (std::size_t i = 0; i < req.size(); ++i) {
            conn.Send(std::string_view(req).substr(i, 1), c.deadline());
            if (i % 31 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
          }
          ExpectReply(conn, c.deadline(), Hit(6, Stored{}), "GET sent byte by byte", req);
          ExpectBody(conn, c.deadline(), "single", "GET sent byte by byte");
        });
}

void AddKeys(Builder& b) {
  const ServerProfile& s = b.profile.server;
  b.Add("server/key/strip-leading-and-trailing-spaces", "protocol.md §3.1, §9.2; wire-json.md client.key", Level::kMust,
        "a key field with leading spaces is the same key once stripped", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes("   " + c.Key("300"), "spaced"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("300"), "spaced", Stored{}, "GET with the stripped key");
        });
  auto strip_case = [&b](std::string id, std::string title, const std::vector<std::string_view>& set, int base) {
    b.Add(std::move(id), "protocol.md §3.1, §3.9, §9.2 (str.strip())", Level::kMust, std::move(title),
          [set, base](Ctx& c) {
            Conn conn = c.Dial();
            int n = 0;
            for (const std::string_view ws : set) {
              const std::string key = c.Key(std::to_string(base + n++));
              const std::string padded = std::string(ws) + key + std::string(ws);
              const std::string payload = "ws" + std::to_string(n);
              conn.Send(PutBytes(padded, payload), c.deadline());
              std::string shown;
              for (const char ch : ws) shown += "\\x" + Hex(std::string_view(&ch, 1));
              ExpectHit(conn, c.deadline(), key, payload, Stored{},
                        "GET of the key PUT with '" + shown + "' before and after it");
            }
          });
  };
  strip_case("server/key/strip-ascii-whitespace",
             "tab, LF, VT, FF, CR and 0x1c-0x1f around a key are stripped, as str.strip() does",
             {std::begin(kAsciiWhitespace), std::end(kAsciiWhitespace)}, 310);
  strip_case("server/key/strip-unicode-whitespace",
             "Unicode whitespace (U+0085, U+00A0, U+1680, U+2000, U+200A, U+2028, U+2029, U+202F, U+205F, "
             "U+3000) around a key is stripped",
             {std::begin(kUnicodeWhitespace), std::end(kUnicodeWhitespace)}, 330);
  b.Add("server/key/hash-is-semantic", "protocol.md §3.5, §9.3", Level::kMust,
        "00003039, 0x3039, 3_039, 0X3039 and 3039 address one entry (the hash is compared as an int)", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("0x3039"), "semantic"), c.deadline());
          for (const char* spelling : {"3039", "00003039", "3_039", "0X3039", " 3039"}) {
            ExpectHit(conn, c.deadline(), c.Key(spelling), "semantic", Stored{},
                      std::string("GET spelled '") + spelling + "' after a PUT spelled '0x3039'");
          }
        });
  b.Add("server/key/hash-case-insensitive", "protocol.md §3.5, §3.6", Level::kMust,
        "hash digits are case-insensitive: ABCDEF and abcdef are one key", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("ABCDEF"), "upper"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("abcdef"), "upper", Stored{}, "GET in lower case");
        });
  b.Add("server/key/overwrite-through-another-spelling", "protocol.md §3.5, §6.4", Level::kMust,
        "a PUT spelled 00ff overwrites the object PUT as ff", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("ff"), "one"), c.deadline());
          conn.Send(PutBytes(c.Key("00ff"), "two"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("ff"), "two", Stored{}, "GET after the re-spelled PUT");
        });
  b.Add("server/key/distinct-hashes-distinct-entries", "protocol.md §3.5", Level::kMust,
        "hashes 1 and 10 are different keys", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("1"), "one"), c.deadline());
          ExpectMiss(conn, c.deadline(), c.Key("10"), "GET of hash 10 after a PUT of hash 1");
        });
  b.Add("server/key/dtype-is-part-of-key", "protocol.md §3.4, §3.5", Level::kMust,
        "the same hash with dtype half is another key than with bfloat16", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("5", "", "bfloat16"), "bf16"), c.deadline());
          ExpectMiss(conn, c.deadline(), c.Key("5", "", "half"), "GET with dtype half");
        });
  b.Add("server/key/model-is-part-of-key", "protocol.md §3.5", Level::kMust,
        "the same hash under another model name is another key", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("6"), "model"), c.deadline());
          ExpectMiss(conn, c.deadline(), c.model + "x@1@0@6@bfloat16", "GET under another model");
          ExpectMiss(conn, c.deadline(), c.model + "@2@0@6@bfloat16", "GET under another world size");
          ExpectMiss(conn, c.deadline(), c.model + "@1@1@6@bfloat16", "GET under another worker id");
        });
  b.Add("server/key/exactly-150-bytes", "protocol.md §3.1; golden Key150", Level::kMust,
        "a key of exactly 150 bytes (no padding at all) is stored and found", [](Ctx& c) {
          std::string key = c.Key("7");
          std::string model = c.model + std::string(150 - key.size(), 'k');
          key = model + "@1@0@7@bfloat16";
          Conn conn = c.Dial();
          conn.Send(PutBytes(key, "150"), c.deadline());
          ExpectHit(conn, c.deadline(), key, "150", Stored{}, "GET of the 150-byte key");
        });
  b.Add("server/key/tags-are-part-of-key", "protocol.md §3.4, §3.5", Level::kMust,
        "a key with tag user%alice differs from one without and from user%bob", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("8", "@user%alice"), "alice"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("8", "@user%alice"), "alice", Stored{}, "GET with the same tag");
          ExpectMiss(conn, c.deadline(), c.Key("8"), "GET without the tag");
          ExpectMiss(conn, c.deadline(), c.Key("8", "@user%bob"), "GET with another tag value");
        });
  b.Add("server/key/tag-order-matters", "protocol.md §3.5 (the tags tuple in order)", Level::kMust,
        "tags a%1@b%2 and b%2@a%1 are different keys", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("9", "@a%1@b%2"), "ab"), c.deadline());
          ExpectMiss(conn, c.deadline(), c.Key("9", "@b%2@a%1"), "GET with the tags swapped");
        });
  b.Add("server/key/layer-key-distinct", "protocol.md §3.4, §3.5", Level::kMust,
        "a layer key (…@bfloat16@7) differs from the plain key; layer 07 and 7 are one", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("a", "@7"), "layer"), c.deadline());
          ExpectMiss(conn, c.deadline(), c.Key("a"), "GET of the plain key");
          ExpectHit(conn, c.deadline(), c.Key("a", "@07"), "layer", Stored{}, "GET of layer 07");
          ExpectMiss(conn, c.deadline(), c.Key("a", "@8"), "GET of layer 8");
        });
  b.Add("server/key/utf8-model-name", "protocol.md §3.1, §3.9", Level::kMust,
        "a model name in multi-byte UTF-8 round-trips", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string key = c.model + "-\xd0\xb6\xe6\xbc\xa2\xf0\x9f\x98\x80@1@0@b@bfloat16";
          conn.Send(PutBytes(key, "utf8"), c.deadline());
          ExpectHit(conn, c.deadline(), key, "utf8", Stored{}, "GET of the UTF-8 key");
        });
  b.Add("server/key/model-with-slash", "protocol.md §3.4, §3.9", Level::kMust,
        "a model name with '/' (meta-llama/Llama-3.1-8B) is an ordinary key", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string key = c.model + "/meta-llama/Llama-3.1-8B-Instruct@1@0@1234abcd@half";
          conn.Send(PutBytes(key, "slash"), c.deadline());
          ExpectHit(conn, c.deadline(), key, "slash", Stored{}, "GET of the key with '/'");
        });
  b.Add("server/key/negative-hash", "protocol.md §3.6", Level::kMust,
        "a negative hash (-5d1b8de6da1b6d09) is stored and differs from the positive one", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("-5d1b8de6da1b6d09"), "neg"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("-5d1b8de6da1b6d09"), "neg", Stored{}, "GET of the negative hash");
          ExpectMiss(conn, c.deadline(), c.Key("5d1b8de6da1b6d09"), "GET of the positive hash");
        });
  b.Add("server/key/sha256-sized-hash", "protocol.md §3.6", Level::kMust,
        "a 64-digit hash is a key, and leading zeros do not make another", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string h = "13518b3f5369b95c7668b9c67a12e8ecb8cbbe09696a991aa2156da4f2407cd9";
          conn.Send(PutBytes(c.Key(h), "big"), c.deadline());
          ExpectHit(conn, c.deadline(), c.Key("0000" + h), "big", Stored{}, "GET of the hash with leading zeros");
        });
  const std::string bad_na = NotApplicableUnless(
      s.bad_key == Reaction::kDrop || s.bad_key == Reaction::kFailReply || s.bad_key == Reaction::kIgnore,
      "the profile does not say what an undecodable key gets");
  struct BadKey {
    std::string id, title, clause;
    std::function<std::string(Ctx&)> request;
  };
  const BadKey bad_keys[] = {
      {"server/key/nul-padding-rejected",
       "a key padded with NUL instead of spaces is not the space-padded key (NUL is not whitespace)",
       "protocol.md §3.9, §9.2, §9.12",
       [](Ctx& c) {
         // Stored first with space padding, so a server that strips NUL
         // answers a hit instead of the same FAIL as a miss.
         Conn put = c.Dial("put");
         put.Send(PutBytes(c.Key("b0"), "spaces"), c.deadline());
         ExpectExist(put, c.deadline(), c.Key("b0"), true, "EXIST of the key stored with space padding");
         return RequestBytes(kGet, c.Key("b0"), 0, 1, 2, {}, 0, '\0');
       }},
      {"server/key/unparsable-key", "a GET whose key does not parse (too few fields) is refused",
       "protocol.md §3.5, §5.5", [](Ctx& c) { return RequestBytes(kGet, c.model + "-garbage"); }},
      {"server/key/invalid-utf8", "a GET whose key field is not UTF-8 is refused", "protocol.md §3.1, §5.5",
       [](Ctx& c) { return RequestBytes(kGet, c.model + "\xff\xfe@1@0@1@bfloat16"); }},
      {"server/key/era-e-key-rejected", "an era E key (leading fmt field) does not parse under era F",
       "protocol.md §3.2, §9.14", [](Ctx& c) { return RequestBytes(kGet, "vllm@" + c.model + "@1@0@1@bfloat16"); }},
      {"server/key/unknown-dtype-string", "a key whose dtype string is not in the era F table is refused",
       "protocol.md §3.3, §3.5", [](Ctx& c) { return RequestBytes(kGet, c.Key("1", "", "fp8")); }},
      {"server/key/tag-without-percent", "a key with a field after the dtype that is neither a layer nor k%v",
       "protocol.md §3.5", [](Ctx& c) { return RequestBytes(kGet, c.Key("1", "@notatag")); }},
  };
  for (const BadKey& k : bad_keys) {
    b.Add(
        k.id, k.clause, Level::kMust, k.title + " (the profile's bad_key reaction)",
        [k](Ctx& c) {
          Conn conn = c.Dial();
          const std::string req = k.request(c);
          conn.Send(req, c.deadline());
          ExpectReaction(conn, c.deadline(), c.profile.server.bad_key, req, "GET with a bad key");
        },
        bad_na);
  }
  b.Add(
      "server/key/bad-key-put-stores-nothing", "protocol.md §5.5; docs/SERVER.md bad input", Level::kMust,
      "a PUT with a bad key stores nothing and does not desynchronise the stream (or drops the connection)",
      [](Ctx& c) {
        Conn conn = c.Dial();
        conn.Send(PutBytes(c.model + "-garbage", c.Bytes(1000)), c.deadline());
        if (c.profile.server.bad_key == Reaction::kDrop) {
          ExpectDropped(conn, c.deadline(), "PUT with a bad key");
        } else {
          ExpectHealthy(conn, c.deadline(), "HEALTH after a PUT with a bad key (its payload must be skipped)");
        }
      },
      bad_na);
  b.Add("server/key/bad-key-spares-other-connections", "protocol.md §5.5, §9.7", Level::kMust,
        "a bad key on one connection leaves other connections and stored data intact", [](Ctx& c) {
          Conn keep = c.Dial("keep");
          keep.Send(PutBytes(c.Key("c0"), "kept"), c.deadline());
          ExpectExist(keep, c.deadline(), c.Key("c0"), true, "EXIST before the bad key");
          Conn bad = c.Dial("bad");
          bad.Send(RequestBytes(kGet, c.model + "-garbage"), c.deadline());
          std::string ignored;
          bad.ExpectSilence(c.deadline().Within(milliseconds(100)), &ignored);
          ExpectHit(keep, c.deadline(), c.Key("c0"), "kept", Stored{}, "GET on the other connection");
        });
}

void AddCommands(Builder& b) {
  const ServerProfile& s = b.profile.server;
  const std::string na =
      NotApplicableUnless(s.unknown_command != Reaction::kAny, "the profile does not say what an unknown command gets");
  for (const std::int32_t cmd : {0, 6, 9, -1}) {
    const std::string name = cmd < 0 ? "minus-1" : std::to_string(cmd);
    b.Add(
        "server/command/unknown-" + name, "protocol.md §2.1, §5.5, §9.6", Level::kMust,
        "command " + std::to_string(cmd) + " gets the profile's unknown-command reaction",
        [cmd](Ctx& c) {
          Conn conn = c.Dial();
          const std::string req = RequestBytes(cmd, c.Key("d0"));
          conn.Send(req, c.deadline());
          const Reaction r = c.profile.server.unknown_command;
          ExpectReaction(conn, c.deadline(), r, req, "command " + std::to_string(cmd));
        },
        na);
  }
  b.Add(
      "server/command/unknown-flushes-earlier-replies", "protocol.md §1.1, §5.5", Level::kShould,
      "replies owed before an unknown command are still delivered, in order",
      [](Ctx& c) {
        Conn conn = c.Dial();
        conn.Send(HealthBytes() + ExistBytes(c.Key("d1")) + RequestBytes(9, c.Key("d1")), c.deadline());
        ExpectReply(conn, c.deadline(), Dummy(kSuccess), "HEALTH before the unknown command");
        ExpectReply(conn, c.deadline(), Dummy(kFail), "EXIST before the unknown command");
      },
      na);
  b.Add("server/command/unknown-spares-other-connections", "protocol.md §5.5", Level::kMust,
        "an unknown command on one connection leaves the others and the stored data intact", [](Ctx& c) {
          Conn keep = c.Dial("keep");
          keep.Send(PutBytes(c.Key("d2"), "kept"), c.deadline());
          ExpectExist(keep, c.deadline(), c.Key("d2"), true, "EXIST before");
          Conn bad = c.Dial("bad");
          bad.Send(RequestBytes(77, c.Key("d2")), c.deadline());
          std::string ignored;
          bad.ExpectSilence(c.deadline().Within(milliseconds(100)), &ignored);
          ExpectHit(keep, c.deadline(), c.Key("d2"), "kept", Stored{}, "GET on the other connection");
        });
  b.Add(
       "server/list/answered-with-keys", "protocol.md §5.6 Variant asyncio server (LIST)", Level::kMust,
       "LIST gets SUCCESS, length = body size, then the stored keys joined by '\\n', no trailing newline",
       [](Ctx& c) {
         Conn conn = c.Dial();
         conn.Send(PutBytes(c.Key("e1"), "1") + PutBytes(c.Key("e2"), "2"), c.deadline());
         ExpectExist(conn, c.deadline(), c.Key("e2"), true, "EXIST before LIST");
         const std::string req = ListBytes();
         conn.Send(req, c.deadline());
         std::string raw;
         const ReplyHeader h = conn.ReadReply(c.deadline(), "LIST", &raw);
         if (h.code != kSuccess || h.length < 0 || h.fmt != 1 || h.dtype != 2 || h.shape != Shape{} ||
             h.location != 0) {
           Fail("LIST reply header is not SUCCESS with the dummy fields: " + DescribeReply(raw),
                Evidence{req, {}, raw});
         }
         const std::string body = conn.ReadExact(static_cast<std::size_t>(h.length), c.deadline(), "LIST body");
         if (!body.empty() && body.back() == '\n') Fail("the LIST body ends with a newline", Evidence{{}, {}, body});
         std::vector<std::string> keys;
         for (std::size_t at = 0; at <= body.size();) {
           const auto nl = std::min(body.find('\n', at), body.size());
           keys.push_back(body.substr(at, nl - at));
           at = nl + 1;
         }
         for (const std::string& want : {c.Key("e1"), c.Key("e2")}) {
           if (std::find(keys.begin(), keys.end(), want) == keys.end()) {
             Fail("LIST does not name the stored key '" + want + "'", Evidence{{}, want, body.substr(0, 4096)});
           }
         }
       },
       NotApplicableUnless(s.list_answered == true, "the profile says LIST is not answered"))
      .spec.exclusive = true;
  b.Add(
       "server/list/keys-are-canonical", "protocol.md §3.5, §3.6; docs/SERVER.md LIST", Level::kShould,
       "LIST names a key PUT as 0x00AB in its canonical form ab",
       [](Ctx& c) {
         Conn conn = c.Dial();
         conn.Send(PutBytes(c.Key("0x00AB"), "1"), c.deadline());
         ExpectExist(conn, c.deadline(), c.Key("ab"), true, "EXIST before LIST");
         conn.Send(ListBytes(), c.deadline());
         const ReplyHeader h = conn.ReadReply(c.deadline(), "LIST");
         Expect(h.code == kSuccess && h.length >= 0, "LIST did not answer SUCCESS");
         const std::string body = conn.ReadExact(static_cast<std::size_t>(h.length), c.deadline(), "LIST body");
         if (("\n" + body + "\n").find("\n" + c.Key("ab") + "\n") == std::string::npos) {
           Fail("LIST does not name '" + c.Key("ab") + "' (the canonical form of the key PUT as 0x00AB)",
                Evidence{{}, c.Key("ab"), body.substr(0, 4096)});
         }
       },
       NotApplicableUnless(s.list_answered == true, "the profile says LIST is not answered"))
      .spec.exclusive = true;
  b.Add(
       "server/list/ignored-connection-usable", "protocol.md §1.4 LIST, §5.4, §9.5", Level::kMust,
       "LIST gets no reply and the connection stays usable: the next reply is the next request's",
       [](Ctx& c) {
         Conn conn = c.Dial();
         conn.Send(ListBytes(), c.deadline());
         ExpectNoReply(conn, c.deadline(), "after LIST");
         ExpectHealthy(conn, c.deadline(), "HEALTH after the ignored LIST");
       },
       NotApplicableUnless(s.list_answered == false, "the profile says LIST is answered"))
      .spec.exclusive = true;
}

void AddPipelining(Builder& b) {
  b.Add("server/pipeline/replies-in-order", "protocol.md §1.1, §9.23", Level::kMust,
        "seven requests in one write are answered in request order", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string a = c.Bytes(1000), bb = c.Bytes(3);
          conn.Send(PutBytes(c.Key("f1"), a) + PutBytes(c.Key("f2"), bb) + GetBytes(c.Key("f1")) +
                        ExistBytes(c.Key("f3")) + GetBytes(c.Key("f2")) + HealthBytes() + GetBytes(c.Key("f4")),
                    c.deadline());
          ExpectReply(conn, c.deadline(), Hit(a.size(), Stored{}), "reply 1 (GET f1)");
          ExpectBody(conn, c.deadline(), a, "reply 1 (GET f1)");
          ExpectReply(conn, c.deadline(), Dummy(kFail), "reply 2 (EXIST of an absent key)");
          ExpectReply(conn, c.deadline(), Hit(bb.size(), Stored{}), "reply 3 (GET f2)");
          ExpectBody(conn, c.deadline(), bb, "reply 3 (GET f2)");
          ExpectReply(conn, c.deadline(), Dummy(kSuccess), "reply 4 (HEALTH)");
          ExpectReply(conn, c.deadline(), Dummy(kFail), "reply 5 (GET miss)");
        });
  b.Add("server/pipeline/put-then-get-in-one-write", "protocol.md §1.1", Level::kMust,
        "a GET right behind its PUT in the same write sees the PUT", [](Ctx& c) {
          Conn conn = c.Dial();
          const std::string payload = c.Bytes(70000);
          conn.Send(PutBytes(c.Key("f5"), payload) + GetBytes(c.Key("f5")), c.deadline());
          ExpectReply(conn, c.deadline(), Hit(payload.size(), Stored{}), "GET behind its PUT");
          ExpectBody(conn, c.deadline(), payload, "GET behind its PUT");
        });
  b.Add("server/pipeline/two-hundred-requests", "protocol.md §1.1", Level::kMust,
        "200 EXIST requests written at once get 200 replies in order", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("f6"), "x"), c.deadline());
          std::string batch;
          for (int i = 0; i < 200; ++i) batch += ExistBytes(c.Key(i % 2 == 0 ? "f6" : "f7"));
          conn.Send(batch, c.deadline());
          for (int i = 0; i < 200; ++i) {
            ExpectReply(conn, c.deadline(), Dummy(i % 2 == 0 ? kSuccess : kFail), "EXIST reply " + std::to_string(i));
          }
        });
  b.Add("server/connection/two-requests-one-connection", "protocol.md §1.1", Level::kMust,
        "a connection serves a second request after the first", [](Ctx& c) {
          Conn conn = c.Dial();
          ExpectExist(conn, c.deadline(), c.Key("f8"), false, "first request");
          ExpectExist(conn, c.deadline(), c.Key("f8"), false, "second request");
        });
  b.Add("server/connection/visible-across-connections", "protocol.md §5.2", Level::kMust,
        "an object PUT on one connection is served on another", [](Ctx& c) {
          Conn a = c.Dial("a");
          const std::string payload = c.Bytes(5000);
          a.Send(PutBytes(c.Key("f9"), payload), c.deadline());
          ExpectExist(a, c.deadline(), c.Key("f9"), true, "EXIST on the PUT's connection");
          Conn bc = c.Dial("b");
          ExpectHit(bc, c.deadline(), c.Key("f9"), payload, Stored{}, "GET on another connection");
        });
  b.Add("server/connection/many-at-once", "protocol.md §5.2 (a thread per connection)", Level::kMust,
        "32 connections open at once, requests interleaved across them, each served",
        [](Ctx& c) {
          std::vector<Conn> conns;
          std::vector<std::string> payloads;
          for (int i = 0; i < 32; ++i) {
            conns.push_back(c.Dial("c" + std::to_string(i)));
            payloads.push_back(c.Bytes(1000 + static_cast<std::size_t>(i)));
          }
          for (int i = 0; i < 32; ++i) {
            conns[static_cast<std::size_t>(i)].Send(
                PutBytes(c.Key("1" + std::to_string(i) + "0"), payloads[static_cast<std::size_t>(i)]), c.deadline());
          }
          for (int i = 31; i >= 0; --i) {
            conns[static_cast<std::size_t>(i)].Send(GetBytes(c.Key("1" + std::to_string(i) + "0")), c.deadline());
          }
          for (int i = 0; i < 32; ++i) {
            Conn& conn = conns[static_cast<std::size_t>(i)];
            ExpectReply(conn, c.deadline(), Hit(payloads[static_cast<std::size_t>(i)].size(), Stored{}),
                        "GET on connection " + std::to_string(i));
            ExpectBody(conn, c.deadline(), payloads[static_cast<std::size_t>(i)],
                       "GET on connection " + std::to_string(i));
          }
        })
      .spec.exclusive = true;
  b.Add("server/connection/reply-after-half-close", "protocol.md §5.3", Level::kShould,
        "a client that shuts down its sending side after a GET still gets the reply", [](Ctx& c) {
          Conn conn = c.Dial();
          conn.Send(PutBytes(c.Key("fa"), "half"), c.deadline());
          ExpectExist(conn, c.deadline(), c.Key("fa"), true, "EXIST before");
          conn.Send(GetBytes(c.Key("fa")), c.deadline());
          conn.ShutdownWrite();
          ExpectReply(conn, c.deadline(), Hit(4, Stored{}), "GET before the half-close");
          ExpectBody(conn, c.deadline(), "half", "GET before the half-close");
        });
}

// The server notices a lost connection asynchronously, and a black box says
// nothing when it has. So what a cut PUT must not change is checked again
// and again for kSettleWindow, not once after a fixed pause: a server that
// publishes a truncated PUT late, when it gets round to the close, fails.
constexpr milliseconds kSettleWindow{500};
constexpr milliseconds kSettleStep{50};
void HoldsThroughout(Ctx& c, const std::function<void()>& check) {
  const auto until = Deadline::Clock::now() + kSettleWindow;
  for (;;) {
    check();
    if (Deadline::Clock::now() >= until || c.deadline().RemainingMs() <= kSettleStep.count()) return;
    std::this_thread::sleep_for(kSettleStep);
  }
}

void AddTruncation(Builder& b) {
  const ServerProfile& s = b.profile.server;
  const std::string na =
      NotApplicableUnless(!s.truncated_put_placeholder, "the profile allows a truncated PUT to leave a placeholder");
  b.Add(
      "server/put/truncated-stores-nothing", "protocol.md §5.5, §9.9; LMCache test_lm_connector_reconnect #9",
      Level::kMust, "a PUT cut short by a disconnect leaves nothing: EXIST 400 on a new connection",
      [](Ctx& c) {
        {
          Conn conn = c.Dial();
          const std::string req = PutBytes(c.Key("e00"), c.Bytes(1000));
          conn.Send(std::string_view(req).substr(0, 186 + 500), c.deadline());
        }
        Conn other = c.Dial("c2");
        HoldsThroughout(c,
                        [&] { ExpectExist(other, c.deadline(), c.Key("e00"), false, "EXIST after a truncated PUT"); });
      },
      na);
  b.Add(
      "server/put/truncated-does-not-overwrite", "protocol.md §5.5, §6.4", Level::kMust,
      "a truncated PUT of a stored key leaves the stored object as it was",
      [](Ctx& c) {
        Conn keep = c.Dial("keep");
        const std::string good = c.Bytes(2000);
        keep.Send(PutBytes(c.Key("e10"), good), c.deadline());
        ExpectExist(keep, c.deadline(), c.Key("e10"), true, "EXIST of the complete PUT");
        {
          Conn cut = c.Dial("cut");
          const std::string req = PutBytes(c.Key("e10"), c.Bytes(2000));
          cut.Send(std::string_view(req).substr(0, 186 + 1999), c.deadline());
        }
        HoldsThroughout(c, [&] {
          ExpectHit(keep, c.deadline(), c.Key("e10"), good, Stored{}, "GET after the truncated overwrite");
        });
      },
      na);
  b.Add(
      "server/put/reset-mid-payload-stores-nothing", "protocol.md §5.5, §9.9", Level::kMust,
      "a PUT whose connection is reset (RST) mid-payload leaves nothing",
      [](Ctx& c) {
        {
          Conn conn = c.Dial();
          const std::string req = PutBytes(c.Key("e20"), c.Bytes(100000));
          conn.Send(std::string_view(req).substr(0, 186 + 50000), c.deadline());
          conn.Reset();
        }
        Conn other = c.Dial("c2");
        HoldsThroughout(c, [&] { ExpectExist(other, c.deadline(), c.Key("e20"), false, "EXIST after a reset PUT"); });
      },
      na);
  b.Add(
      "server/put/replay-after-truncation-wins",
      "protocol.md §6.4; LMCache test_incomplete_old_put_cannot_"
      "overwrite_a_completed_retry",
      Level::kMust,
      "a PUT replayed in full on a new connection while the first attempt is cut short keeps the full copy",
      [](Ctx& c) {
        const std::string payload = c.Bytes(50000);
        const std::string req = PutBytes(c.Key("e30"), payload);
        Conn first = c.Dial("first");
        first.Send(std::string_view(req).substr(0, 186 + 20000), c.deadline());
        Conn replay = c.Dial("replay");
        replay.Send(req, c.deadline());
        ExpectExist(replay, c.deadline(), c.Key("e30"), true, "EXIST after the replay");
        first.Close();
        HoldsThroughout(c, [&] {
          ExpectHit(replay, c.deadline(), c.Key("e30"), payload, Stored{}, "GET after the first attempt was cut");
        });
      },
      na);
  b.Add("server/put/truncated-header-harmless", "protocol.md §5.5 (short read inside the header)", Level::kMust,
        "a connection that closes 100 bytes into a header harms nothing stored", [](Ctx& c) {
          Conn keep = c.Dial("keep");
          keep.Send(PutBytes(c.Key("e40"), "kept"), c.deadline());
          ExpectExist(keep, c.deadline(), c.Key("e40"), true, "EXIST before");
          {
            Conn cut = c.Dial("cut");
            cut.Send(std::string_view(PutBytes(c.Key("e40"), "new!")).substr(0, 100), c.deadline());
          }
          HoldsThroughout(
              c, [&] { ExpectHit(keep, c.deadline(), c.Key("e40"), "kept", Stored{}, "GET after the cut header"); });
        });
  b.Add(
      "server/put/negative-length", "protocol.md §5.5, §9.10", Level::kMust,
      "a PUT with length -5 drops the connection (profile 'drop') or stores an empty object ('ignore')",
      [](Ctx& c) {
        Conn conn = c.Dial();
        conn.Send(RequestBytes(kPut, c.Key("e50"), -5, kKv2ltd, kBf16, {1, 1, 1, 1}), c.deadline());
        if (c.profile.server.negative_length == Reaction::kDrop) {
          ExpectDropped(conn, c.deadline(), "PUT with a negative length");
        } else {
          ExpectExist(conn, c.deadline(), c.Key("e50"), true, "EXIST after a negative-length PUT");
        }
      },
      NotApplicableUnless(s.negative_length == Reaction::kDrop || s.negative_length == Reaction::kIgnore,
                          "the profile does not say what a negative length gets"));
}

void AddRobustness(Builder& b) {
  b.Add("server/robustness/garbage-spares-stored-data", "protocol.md §5.5; STYLE 'bad input loses nothing'",
        Level::kMust, "186 bytes of garbage on one connection lose nothing stored and stop no other connection",
        [](Ctx& c) {
          Conn keep = c.Dial("keep");
          const std::string payload = c.Bytes(3000);
          keep.Send(PutBytes(c.Key("d00"), payload), c.deadline());
          ExpectExist(keep, c.deadline(), c.Key("d00"), true, "EXIST before");
          for (int i = 0; i < 3; ++i) {
            Conn bad = c.Dial("bad" + std::to_string(i));
            bad.Send(c.Bytes(186 * static_cast<std::size_t>(i + 1)), c.deadline(), /*allow_error=*/true);
          }
          HoldsThroughout(
              c, [&] { ExpectHit(keep, c.deadline(), c.Key("d00"), payload, Stored{}, "GET after the garbage"); });
          Conn fresh = c.Dial("fresh");
          ExpectHit(fresh, c.deadline(), c.Key("d00"), payload, Stored{}, "GET on a new connection");
        });
  b.Add("server/robustness/idle-connection-harmless", "protocol.md §5.2", Level::kMust,
        "a connection that never sends anything does not stop others being served", [](Ctx& c) {
          Conn idle = c.Dial("idle");
          Conn conn = c.Dial("c");
          ExpectHealthy(conn, c.deadline(), "HEALTH beside an idle connection");
        });
  b.Add(
      "server/robustness/unread-replies-harmless", "docs/SERVER.md (a client that never reads)", Level::kShould,
      "a client that stops reading a large GET does not stop others being served",
      [](Ctx& c) {
        Conn slow = c.Dial("slow");
        const std::string payload = c.Bytes(std::size_t{8} << 20);
        slow.Send(PutBytes(c.Key("d10"), payload), c.deadline());
        ExpectExist(slow, c.deadline(), c.Key("d10"), true, "EXIST before");
        slow.Send(GetBytes(c.Key("d10")), c.deadline());  // never read
        Conn other = c.Dial("other");
        ExpectHealthy(other, c.deadline(), "HEALTH while another client does not read");
      },
      NotApplicableUnless(b.profile.server.max_test_body_bytes >= (std::size_t{8} << 20),
                          "over the profile's max_test_body_bytes"));
}

void AddCapacity(Builder& b) {
  const auto capacity = b.profile.server.capacity_bytes;
  b.Add(
       "server/capacity/lru-evicts-oldest", "docs/SERVER.md Store (profile capacity_bytes)", Level::kMust,
       "once the store is full, a new PUT evicts the least recently used object and keeps the newest",
       [capacity](Ctx& c) {
         const std::size_t object = static_cast<std::size_t>(std::max<std::uint64_t>(*capacity / 8, 1));
         Conn conn = c.Dial();
         for (int i = 0; i < 12; ++i)
           conn.Send(PutBytes(c.Key("9" + std::to_string(i)), c.Bytes(object)), c.deadline());
         ExpectExist(conn, c.deadline(), c.Key("911"), true, "EXIST of the newest object");
         ExpectExist(conn, c.deadline(), c.Key("90"), false, "EXIST of the oldest object");
       },
       NotApplicableUnless(capacity.has_value(), "the profile declares no capacity"))
      .spec.exclusive = true;
}

}  // namespace

std::vector<Case> ServerCatalogue(const ServerTarget& target, const Profile& profile) {
  Builder b{target, profile, RunNonce(), {}};
  AddHealth(b);
  AddPutGet(b);
  AddCodes(b);
  AddBodies(b);
  AddKeys(b);
  AddCommands(b);
  AddPipelining(b);
  AddTruncation(b);
  AddRobustness(b);
  AddCapacity(b);
  return std::move(b.cases);
}

}  // namespace lmc::conformance
