// Client mode's catalogue: the runner plays an lm:// server (fake_server.h)
// for a testee, the client under test behind the line protocol of
// docs/CONFORMANCE.md, client mode (testee.h), and checks every byte the
// client sends and every result it reports.
//
// Each case starts a fresh server on 127.0.0.1 port 0 and a fresh testee.
// Timing checks measure from when the server saw the client's first byte
// for the call, not from when the request line was written, so the testee's
// start-up time (an interpreter, say) never counts against it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "conformance/catalogues.h"
#include "conformance/client/base64.h"
#include "conformance/client/fake_server.h"
#include "conformance/client/testee.h"
#include "conformance/conn.h"
#include "wire/cache_key.h"

namespace lmc::conformance {

namespace {

using client_mode::Bug;
using client_mode::Bugs;
using client_mode::FakeServer;
using client_mode::Seen;
using client_mode::StoredObject;
using client_mode::Testee;
using Clock = Deadline::Clock;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr std::int32_t kPut = 1, kGet = 2, kExist = 3, kList = 4, kHealth = 5;

// The call deadline (timeout_ms) most requests carry.
constexpr std::int64_t kTimeoutMs = 2000;
// How long past its timeout_ms a result may take to arrive (the adapter's
// own work, a loaded machine).
constexpr milliseconds kResultGrace{1500};
// How long the server may take to see a request the testee has reported
// done (a PUT has no reply: the testee may answer before the server has
// read it).
constexpr milliseconds kArrivalWait{1000};
// Slack on the timing checks: a loaded CI machine is slow.
constexpr std::int64_t kSlackMs = 400;

constexpr std::string_view kKey = "m@1@0@3039@bfloat16";
constexpr std::string_view kKey2 = "reconnect-test@1@0@ded@uint8";
constexpr std::string_view kMissing = "m@1@0@dead@bfloat16";

// Deterministic bytes that differ at every offset and seed, so a shifted or
// swapped body never compares equal.
std::string Pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 0x9e3779b9u;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>(x & 0xff);
  }
  return s;
}

std::int64_t MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

// A request header described in at most ~160 characters (a key padded
// with NUL would otherwise run to 600).
std::string Describe(std::string_view header) {
  std::string d = DescribeRequest(header);
  return d.size() <= 160 ? d : d.substr(0, 160) + "...'";
}

std::string MiB(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string Quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// --- What the cases share -------------------------------------------------

struct Shared {
  TesteeCommand testee;
  Profile profile;
};

struct PutArgs {
  std::int32_t fmt = 1;
  std::int32_t dtype = 3;
  wire::Shape shape{2, 4, 16, 8};
};

// One case's server and testee. The destructor kills the testee, stops the
// server and moves the server's trace and the testee's stderr into the
// case's trace, whether the case passed or not.
class Session {
 public:
  Session(const Shared& shared, CaseEnv& env, Bugs bugs = {}, bool refuse = false)
      : shared_(shared), env_(env), server_(env.deadline) {
    server_.SetBugs(bugs);
    if (env.trace != nullptr) server_.SetWire(env.trace->wire);
    if (refuse) server_.Refuse();
    server_.Start();
    testee_ = std::make_unique<Testee>(shared.testee.argv, server_.port(), env.trace);
  }
  ~Session() {
    const std::string tail = testee_ ? testee_->StderrTail(2000) : "";
    testee_.reset();
    server_.Stop();
    server_.MoveTraceInto(env_.trace);
    if (!tail.empty() && env_.trace != nullptr) env_.trace->Note("testee stderr: " + tail);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  FakeServer& server() { return server_; }
  Testee& testee() { return *testee_; }
  const ClientProfile& client() const { return shared_.profile.client; }

  // The deadline of a result: timeout_ms plus the grace, within the case's.
  Deadline ResultDeadline(std::int64_t timeout_ms) const {
    return env_.deadline.Within(milliseconds(timeout_ms) + kResultGrace);
  }

  std::int64_t Send(json request, std::int64_t timeout_ms = kTimeoutMs) {
    request["timeout_ms"] = timeout_ms;
    sent_at_ = Clock::now();
    return testee_->Send(std::move(request), ResultDeadline(timeout_ms));
  }
  json Result(std::int64_t id, std::string_view what, std::int64_t timeout_ms = kTimeoutMs) {
    return *testee_->Result(id, what, ResultDeadline(timeout_ms));
  }
  json Call(json request, std::string_view what, std::int64_t timeout_ms = kTimeoutMs) {
    return Result(Send(std::move(request), timeout_ms), what, timeout_ms);
  }

  json Put(std::string_view key, std::string_view data, const PutArgs& a = {}, std::int64_t timeout_ms = kTimeoutMs) {
    return Call(PutRequest(key, data, a), "put " + std::string(key), timeout_ms);
  }
  static json PutRequest(std::string_view key, std::string_view data, const PutArgs& a) {
    json r = {{"op", "put"},
              {"key", std::string(key)},
              {"fmt", a.fmt},
              {"dtype", a.dtype},
              {"shape", json::array({a.shape[0], a.shape[1], a.shape[2], a.shape[3]})}};
    r["data"] = base64::Encode(data);  // moved in: an initializer list would copy it
    return r;
  }
  json Get(std::string_view key, std::int64_t timeout_ms = kTimeoutMs) {
    return Call({{"op", "get"}, {"key", std::string(key)}}, "get " + std::string(key), timeout_ms);
  }
  json Exist(std::string_view key, std::int64_t timeout_ms = kTimeoutMs) {
    return Call({{"op", "exist"}, {"key", std::string(key)}}, "exist " + std::string(key), timeout_ms);
  }
  json List(std::int64_t timeout_ms = kTimeoutMs) { return Call({{"op", "list"}}, "list", timeout_ms); }
  json Health(std::int64_t timeout_ms = kTimeoutMs) { return Call({{"op", "health"}}, "health", timeout_ms); }

  // When the last request line was written and its result arrived.
  Clock::time_point sent_at() const { return sent_at_; }
  Clock::time_point result_at() const { return testee_->last_result_at(); }

  // Waits (bounded) until the server has seen `n` requests, the last of
  // them complete; fails with `what` otherwise.
  std::vector<Seen> WaitRequests(std::size_t n, std::string_view what) {
    const Deadline d = env_.deadline.Within(kArrivalWait);
    server_.WaitFor([n](const auto& seen, const auto&) { return seen.size() >= n && seen[n - 1].complete; }, d);
    std::vector<Seen> seen = server_.Requests();
    if (seen.size() < n) {
      Fail(std::string(what) + ": the server received " + std::to_string(seen.size()) +
           " request(s), expected at least " + std::to_string(n) + " (within " + std::to_string(kArrivalWait.count()) +
           " ms of the testee's result)");
    }
    const Seen& last = seen[n - 1];
    if (!last.complete) {
      Fail(std::string(what) + ": the PUT's payload did not arrive in full: its header announced " +
               std::to_string(last.length) + " bytes, " + std::to_string(last.payload_have) + " arrived within " +
               std::to_string(kArrivalWait.count()) + " ms",
           Evidence{{}, {}, last.header});
    }
    return seen;
  }

  // Lets anything the client might still send arrive, then returns all.
  std::vector<Seen> Settle(milliseconds quiet = milliseconds(50)) {
    std::this_thread::sleep_for(std::min(quiet, milliseconds(env_.deadline.RemainingMs())));
    return server_.Requests();
  }

 private:
  const Shared& shared_;
  CaseEnv& env_;
  FakeServer server_;
  std::unique_ptr<Testee> testee_;
  Clock::time_point sent_at_{};
};

// --- Checks on results ----------------------------------------------------

std::string ErrorOf(const json& r) {
  const auto e = r.find("error");
  return e != r.end() && e->is_string() ? e->get<std::string>() : "(no error message)";
}

void ExpectOk(const json& r, std::string_view what) {
  if (!r["ok"].get<bool>()) Fail(std::string(what) + " failed: the testee reported '" + ErrorOf(r) + "'");
}

void ExpectError(const json& r, std::string_view what, std::string_view why) {
  if (r["ok"].get<bool>())
    Fail(std::string(what) + " succeeded (" + r.dump().substr(0, 200) + "); " + std::string(why));
}

bool Found(const json& r, std::string_view what) {
  ExpectOk(r, what);
  const auto f = r.find("found");
  if (f == r.end() || !f->is_boolean())
    Fail(std::string(what) + ": the result has no boolean 'found': " + r.dump().substr(0, 200));
  return f->get<bool>();
}

// Fails, showing a window around the first difference, unless equal.
void ExpectSameBytes(std::string_view what, std::string_view expected, std::string_view actual) {
  if (expected == actual) return;
  const std::size_t at = FirstDifference(expected, actual).value_or(0);
  const std::size_t from = at > 64 ? at - 64 : 0;
  Fail(
      std::string(what) + ": " + std::to_string(actual.size()) + " bytes, expected " + std::to_string(expected.size()) +
          "; first difference at byte " + std::to_string(at) +
          (from > 0 ? " (evidence starts at byte " + std::to_string(from) + ")" : ""),
      Evidence{
          {}, std::string(expected.substr(from, 256)), std::string(actual.substr(std::min(from, actual.size()), 256))});
}

std::string DataOf(const json& r, std::string_view what) {
  const auto d = r.find("data");
  if (d == r.end() || !d->is_string()) Fail(std::string(what) + ": a hit's result has no string 'data'");
  std::optional<std::string> bytes = base64::Decode(d->get_ref<const std::string&>());
  if (!bytes) Fail(std::string(what) + ": 'data' is not standard base64 with padding");
  return std::move(*bytes);
}

// A GET hit with exactly these bytes and metadata.
void ExpectHit(const json& r, std::string_view what, std::string_view data, const StoredObject* meta = nullptr) {
  if (!Found(r, what)) Fail(std::string(what) + ": reported a miss; the server answered a hit");
  ExpectSameBytes(std::string(what) + ": body", data, DataOf(r, what));
  if (meta == nullptr) return;
  const auto field = [&](const char* name, std::int64_t want) {
    const auto f = r.find(name);
    if (f == r.end() || !f->is_number_integer() || f->get<std::int64_t>() != want) {
      Fail(std::string(what) + ": '" + name + "' is " + (f == r.end() ? std::string("missing") : f->dump()) +
           ", the reply carried " + std::to_string(want));
    }
  };
  field("length", meta->length);
  field("fmt", meta->fmt);
  field("dtype", meta->dtype);
  const json want = json::array({meta->shape[0], meta->shape[1], meta->shape[2], meta->shape[3]});
  if (r.find("shape") == r.end() || r["shape"] != want) {
    Fail(std::string(what) + ": 'shape' is " + (r.contains("shape") ? r["shape"].dump() : std::string("missing")) +
         ", the reply carried " + want.dump());
  }
}

void ExpectMiss(const json& r, std::string_view what) {
  if (Found(r, what)) Fail(std::string(what) + ": reported a hit; the server answered a miss (400)");
}

// The request at `i` has exactly these header bytes.
void ExpectHeader(const std::vector<Seen>& seen, std::size_t i, std::string_view what, const std::string& expected) {
  if (i >= seen.size()) Fail(std::string(what) + ": the server received no such request");
  ExpectBytes(std::string(what) + " (" + Describe(seen[i].header) + ")", expected, seen[i].header);
}

std::vector<Seen> OfCommand(const std::vector<Seen>& seen, std::int32_t command) {
  std::vector<Seen> out;
  for (const Seen& s : seen) {
    if (s.command == command) out.push_back(s);
  }
  return out;
}

std::string Commands(const std::vector<Seen>& seen) {
  std::string out;
  for (const Seen& s : seen) {
    const std::string d = DescribeRequest(s.header);
    out += (out.empty() ? "" : ", ") + d.substr(0, d.find(' ')) + " on connection " + std::to_string(s.conn);
  }
  return out.empty() ? "nothing" : out;
}

// The key field is the key text followed by 0x20 only (NUL padding fails).
void ExpectSpacePadded(const Seen& s, std::string_view key, std::string_view what) {
  const std::string_view field = std::string_view(s.header).substr(36);
  ExpectBytes(std::string(what) + ": key text", key, field.substr(0, std::min(key.size(), field.size())));
  for (std::size_t i = key.size(); i < field.size(); ++i) {
    if (field[i] != ' ') {
      Fail(std::string(what) + ": the key is padded with 0x" + Hex(field.substr(i, 1)) + " at byte " +
               std::to_string(36 + i) +
               " of the header, not 0x20: LMCache's server strips only whitespace and "
               "would not parse the key (§3.1, §9 quirk 2)",
           Evidence{{}, RequestBytes(s.command, key, s.length, 0, 0).substr(36), std::string(field)});
    }
  }
}

// The GET (or EXIST) was sent twice, identically, the second time on a new
// connection: the retry of reconnect v2.
void ExpectReplayed(const std::vector<Seen>& seen, std::int32_t command, std::string_view what) {
  const std::vector<Seen> calls = OfCommand(seen, command);
  if (calls.size() != 2) {
    Fail(std::string(what) +
         ": expected the request twice (the first try, then one retry on a new connection); "
         "the server received " +
         Commands(seen));
  }
  if (calls[1].conn == calls[0].conn) {
    Fail(std::string(what) + ": the retry came on the connection the server had dropped");
  }
  ExpectBytes(std::string(what) + ": the replayed request", calls[0].header, calls[1].header);
}

PutArgs Buffer(std::size_t n) { return PutArgs{5, 0, {static_cast<std::int32_t>(n), 0, 0, 0}}; }

// A stored object with the given metadata; without, a byte buffer of its
// size (BINARY_BUFFER, dtype 0, [n,0,0,0]), so that every reply describes
// its body as a client that allocates from the metadata reads it.
StoredObject Object(std::string bytes, std::optional<PutArgs> args = std::nullopt) {
  const PutArgs a = args.value_or(Buffer(bytes.size()));
  StoredObject o;
  o.length = static_cast<std::int32_t>(bytes.size());
  o.fmt = a.fmt;
  o.dtype = a.dtype;
  o.shape = a.shape;
  o.bytes = std::move(bytes);
  return o;
}

std::string ListNa(const Profile& p) {
  return p.client.supports_list ? "" : "the profile says the client does not implement LIST";
}
std::string HealthNa(const Profile& p) {
  return p.client.supports_health ? "" : "the profile says the client does not implement HEALTH";
}
std::string RetryNa(const Profile& p) {
  return p.client.attempts >= 2 ? "" : "the profile says the client makes one attempt per call";
}
std::string DeadlineNa(const Profile& p) {
  return p.client.honours_deadline ? "" : "the profile says the client has no call deadline";
}

// The time a client with the profile's policy waits between its attempts.
std::int64_t TotalBackoffMs(const ClientProfile& c) {
  std::int64_t total = 0;
  for (int i = 0; i + 1 < c.attempts && !c.backoff_ms.empty(); ++i) {
    total += c.backoff_ms[std::min<std::size_t>(static_cast<std::size_t>(i), c.backoff_ms.size() - 1)];
  }
  return total;
}

// --- The catalogue ----------------------------------------------------------

class Builder {
 public:
  explicit Builder(std::shared_ptr<const Shared> shared) : shared_(std::move(shared)) {}

  void Add(std::string id, std::string clause, Level level, std::string title, std::string not_applicable,
           std::function<void(Session&)> body, Bugs bugs = {}, bool refuse = false) {
    Case c;
    c.spec = CaseSpec{std::move(id), std::move(clause), level, std::move(title)};
    c.not_applicable = std::move(not_applicable);
    c.body = [shared = shared_, body = std::move(body), bugs, refuse](CaseEnv& env) {
      Session s(*shared, env, bugs, refuse);
      body(s);
      // The catalogue's own invariant: replies describe their bodies.
      const auto inconsistent = s.server().InconsistentReplies();
      if (!bugs.inconsistent_metadata && !inconsistent.empty()) {
        Fail(
            "catalogue error, not the client's: the runner's server sent a reply whose metadata does not "
            "describe its body (" +
            inconsistent.front() + "); no LMCache server does");
      }
    };
    cases_.push_back(std::move(c));
  }

  const Profile& profile() const { return shared_->profile; }
  std::vector<Case> Take() { return std::move(cases_); }

 private:
  std::shared_ptr<const Shared> shared_;
  std::vector<Case> cases_;
};

void AddPutCases(Builder& b) {
  b.Add("client/put/header-bytes-exact", "protocol.md §1.2, §1.4", Level::kMust,
        "a PUT header is the nine little-endian int32 (length, fmt, dtype, location 0, the four shape ints) "
        "and the key, 186 bytes exactly",
        "", [](Session& s) {
          const std::string data = Pattern(2048, 1);
          ExpectOk(s.Put(kKey, data), "put");
          const auto seen = s.WaitRequests(1, "put");
          ExpectHeader(seen, 0, "PUT header", RequestBytes(kPut, kKey, 2048, 1, 3, {2, 4, 16, 8}));
        });

  b.Add("client/put/pads-key-with-spaces", "protocol.md §3.1, §9 quirk 2", Level::kMust,
        "the 150-byte key field is the UTF-8 key padded with 0x20 (never NUL), in PUT and GET alike", "",
        [](Session& s) {
          ExpectOk(s.Put(kKey2, "abc", Buffer(3)), "put");
          s.Get(kKey2);
          const auto seen = s.WaitRequests(2, "put then get");
          ExpectSpacePadded(seen[0], kKey2, "PUT");
          ExpectSpacePadded(seen[1], kKey2, "GET");
        });

  b.Add("client/put/payload-bytes-exact", "protocol.md §1.2", Level::kMust,
        "exactly `length` payload bytes follow a PUT header, unchanged (every byte value, NUL and newline included)",
        "", [](Session& s) {
          std::string data;
          for (int i = 0; i < 1024; ++i) data += static_cast<char>((i * 7) & 0xff);
          ExpectOk(s.Put(kKey, data, Buffer(data.size())), "put");
          const auto seen = s.WaitRequests(1, "put");
          ExpectHeader(seen, 0, "PUT header", RequestBytes(kPut, kKey, 1024, 5, 0, {1024, 0, 0, 0}));
          ExpectSameBytes("PUT payload", data, seen[0].payload());
        });

  b.Add("client/put/no-reply-awaited", "protocol.md §1.4, §9 quirk 4", Level::kMust,
        "a PUT completes once written: the client waits for no reply (there is none) and stays in step", "",
        [](Session& s) {
          const json r = s.Put(kKey, Pattern(100, 2), Buffer(100), 3000);
          const auto seen = s.WaitRequests(1, "put");
          const std::int64_t took = MsBetween(seen[0].at, s.result_at());
          if (took > 1000) {
            Fail("the PUT's result came " + std::to_string(took) +
                 " ms after the server had it (timeout_ms 3000): "
                 "the client waited for a reply, and a PUT has none");
          }
          ExpectOk(r, "put");
          if (!Found(s.Exist(kKey), "exist after put")) Fail("exist after put: reported absent; the PUT was stored");
        });
}

void AddGetCases(Builder& b) {
  b.Add("client/get/request-bytes-exact", "protocol.md §1.2, §1.5", Level::kMust,
        "a GET is command 2, length 0, the dummy fields fmt 1, dtype 2, location 0, shape 0, and the key", "",
        [](Session& s) {
          s.Get(kMissing);
          ExpectHeader(s.WaitRequests(1, "get"), 0, "GET header", RequestBytes(kGet, kMissing));
        });

  b.Add("client/get/hit-returns-body-and-metadata", "protocol.md §1.3, §1.4", Level::kMust,
        "a GET hit reports the reply's body byte for byte and its length, fmt, dtype and shape", "", [](Session& s) {
          const StoredObject o = Object(Pattern(2048, 3), PutArgs{});  // bf16 [2,4,16,8]: 2048 bytes
          s.server().Preload(kKey, o);
          ExpectHit(s.Get(kKey), "get", o.bytes, &o);
        });

  b.Add("client/get/miss", "protocol.md §1.4", Level::kMust,
        "a FAIL reply to a GET is a miss with no body to read; the next GET on the connection is a hit", "",
        [](Session& s) {
          s.server().Preload(kKey, Object(Pattern(64, 4)));
          ExpectMiss(s.Get(kMissing), "get of an absent key");
          ExpectHit(s.Get(kKey), "get after the miss", Pattern(64, 4));
        });

  b.Add(
      "client/get/reply-split-into-single-bytes", "protocol.md §9 quirk 17", Level::kMust,
      "replies that arrive one byte at a time are read whole (GET header and body, EXIST header)",
      b.profile().client.reply_header_read == ReplyHeaderRead::kSingleRecv
          ? "the profile says the client reads the reply header with a single recv (protocol.md §6.3 old client)"
          : "",
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(64, 5)));
        ExpectHit(s.Get(kKey), "get", Pattern(64, 5));
        if (!Found(s.Exist(kKey), "exist")) Fail("exist: reported absent; the server answered 200");
      },
      Bugs{Bug::kSplitBytes, 0, -1});

  b.Add(
      "client/get/short-reply-then-close", "protocol.md §6.3 reconnect v2", Level::kMust,
      "a reply header cut short by EOF is a connection error: the GET is retried on a new connection",
      RetryNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(300, 6)));
        ExpectHit(s.Get(kKey), "get", Pattern(300, 6));
        ExpectReplayed(s.Settle(), kGet, "get");
      },
      Bugs{Bug::kShortThenClose, kGet, 1});

  b.Add(
      "client/get/close-before-reply-is-retried", "protocol.md §6.3 reconnect v2", Level::kMust,
      "a connection closed before the reply is a connection error: the GET is replayed on a new connection",
      RetryNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(300, 7)));
        ExpectHit(s.Get(kKey), "get", Pattern(300, 7));
        ExpectReplayed(s.Settle(), kGet, "get");
      },
      Bugs{Bug::kCloseBeforeReply, kGet, 1});

  b.Add(
      "client/get/reset-mid-body-is-retried", "protocol.md §6.3 reconnect v2, §6.5 test 3", Level::kMust,
      "a reset in the middle of a GET body is retried, and the half-read body is not reported", RetryNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(65536, 8)));
        ExpectHit(s.Get(kKey), "get", Pattern(65536, 8));
        ExpectReplayed(s.Settle(), kGet, "get");
      },
      Bugs{Bug::kResetMidBody, kGet, 1});

  b.Add(
      "client/get/huge-claimed-length-bounded-memory", "protocol.md §7, §9 quirk 10", Level::kMust,
      "a GET reply that claims 2^31-1 bytes, sends 64 KiB and closes fails the call (no hit), with peak RSS "
      "within the profile's max_rss_on_huge_reply_bytes; a client that allocates up front (huge_reply_allocation "
      "up_front, as LMCache's) may hold the claimed length on top of that",
      "",
      [](Session& s) {
        const std::int64_t id = s.Send({{"op", "get"}, {"key", std::string(kKey)}}, 3000);
        const bool up_front = s.client().huge_reply_allocation == HugeReplyAllocation::kUpFront;
        const std::uint64_t limit = s.client().max_rss_on_huge_reply_bytes + (up_front ? INT32_MAX : 0);
        // The peak RSS is sampled while waiting (the testee is alive, and
        // one that allocates the claimed length fails as soon as it is over).
        const Deadline d = s.ResultDeadline(3000);
        std::optional<json> r;
        std::optional<std::uint64_t> rss;
        while (!r && !d.expired()) {
          r = s.testee().Result(id, "get", d.Within(milliseconds(50)), /*silence_ok=*/true);
          rss = s.testee().PeakRssBytes();
          if (rss && *rss > limit) break;
        }
        if (rss && *rss > limit) {
          Fail(
              "the testee's peak RSS reached " + MiB(*rss) + ", over the profile's " + MiB(limit) +
              (up_front ? " (the claimed length plus max_rss_on_huge_reply_bytes)" : " (max_rss_on_huge_reply_bytes)") +
              ", after a reply that claimed 2147483647 bytes and sent " +
              std::to_string(client_mode::kHugeClaimSentBytes) +
              (up_front ? ": the client holds more than the claimed length"
                        : ": the client allocated the claimed length up front instead of as the bytes arrive"));
        }
        if (!r) {
          Fail("the testee gave no result for the GET by its deadline (timeout_ms 3000); its peak RSS so far is " +
               (rss ? MiB(*rss) : std::string("unknown")));
        }
        if ((*r)["ok"] == true && r->contains("found") && (*r)["found"] == true) {
          Fail("the GET reported a hit, but the reply's body was cut short after " +
               std::to_string(client_mode::kHugeClaimSentBytes) + " of 2147483647 bytes");
        }
        if (!rss) Fail("cannot read VmHWM from /proc/" + std::to_string(s.testee().pid()) + "/status");
      },
      Bugs{Bug::kHugeClaim, kGet, -1});
}

void AddExistCases(Builder& b) {
  b.Add("client/exist/request-bytes-exact", "protocol.md §1.2, §1.5", Level::kMust,
        "an EXIST is command 3, length 0, the dummy fields fmt 1, dtype 2, location 0, shape 0, and the key", "",
        [](Session& s) {
          s.Exist(kMissing);
          ExpectHeader(s.WaitRequests(1, "exist"), 0, "EXIST header", RequestBytes(kExist, kMissing));
        });

  b.Add("client/exist/present-and-absent", "protocol.md §1.4", Level::kMust,
        "EXIST reports present for a 200 reply and absent for a 400 reply", "", [](Session& s) {
          s.server().Preload(kKey, Object("x"));
          if (!Found(s.Exist(kKey), "exist of a stored key"))
            Fail("exist of a stored key: reported absent (the reply was 200)");
          if (Found(s.Exist(kMissing), "exist of an absent key"))
            Fail("exist of an absent key: reported present (the reply was 400)");
        });

  b.Add(
      "client/exist/dropped-reply-is-replayed", "protocol.md §6.3 reconnect v2, §6.5 test 2", Level::kMust,
      "an EXIST whose connection is reset before the reply is replayed on a new connection", RetryNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object("x"));
        if (!Found(s.Exist(kKey), "exist")) Fail("exist: reported absent; the replayed EXIST was answered 200");
        ExpectReplayed(s.Settle(), kExist, "exist");
      },
      Bugs{Bug::kResetBeforeReply, kExist, 1});
}

void AddListCases(Builder& b) {
  b.Add("client/list/returns-keys", "protocol.md §5.6 (asyncio server's LIST)", Level::kMust,
        "LIST (command 4, dummy fields) reports the '\\n'-joined keys of the reply body", ListNa(b.profile()),
        [](Session& s) {
          s.server().Preload(kKey, Object("a"));
          s.server().Preload(kKey2, Object("b"));
          const json r = s.List();
          ExpectOk(r, "list");
          const auto seen = s.WaitRequests(1, "list");
          ExpectBytes("LIST header, bytes 0-35", RequestBytes(kList, "").substr(0, 36), seen[0].header.substr(0, 36));
          if (!seen[0].key_utf8) Fail("LIST: the key field is not UTF-8");
          if (!r.contains("keys") || !r["keys"].is_array()) Fail("list: the result has no array 'keys'");
          std::multiset<std::string> got;
          for (const json& k : r["keys"]) got.insert(k.is_string() ? k.get<std::string>() : k.dump());
          const std::multiset<std::string> want{std::string(kKey), std::string(kKey2)};
          if (got != want)
            Fail("list: reported " + r["keys"].dump() + ", the reply listed [\"" + std::string(kKey) + "\",\"" +
                 std::string(kKey2) + "\"]");
        });

  b.Add("client/list/empty-store", "protocol.md §5.6", Level::kMust,
        "a LIST reply with length 0 and no body is an empty list", ListNa(b.profile()), [](Session& s) {
          const json r = s.List();
          ExpectOk(r, "list");
          if (!r.contains("keys") || r["keys"] != json::array()) {
            Fail("list of an empty store: reported " +
                 (r.contains("keys") ? r["keys"].dump() : std::string("no 'keys'")) + ", expected []");
          }
        });

  b.Add(
      "client/list/never-answered-fails-by-deadline", "protocol.md §5.4, §9 quirk 5", Level::kMust,
      "a LIST the server never answers (LMCache's main line) fails by the call's deadline, and the client "
      "recovers for the next call",
      ListNa(b.profile()).empty() ? DeadlineNa(b.profile()) : ListNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object("x"));
        const json r = s.List(300);
        const auto seen = s.WaitRequests(1, "list");
        const std::int64_t took = MsBetween(seen[0].at, s.result_at());
        ExpectError(r, "the unanswered LIST", "the server never replied to it");
        if (took > 300 + kSlackMs) {
          Fail("the unanswered LIST failed " + std::to_string(took) + " ms after it was sent, with timeout_ms 300");
        }
        if (!Found(s.Exist(kKey, 1000), "exist after the unanswered LIST")) {
          Fail("exist after the unanswered LIST: reported absent; the server answered 200");
        }
      },
      Bugs{Bug::kSilent, kList, -1});
}

void AddHealthCases(Builder& b) {
  b.Add("client/health/request-bytes", "protocol.md §1.4, §3.8", Level::kMust,
        "HEALTH is command 5 with the dummy fields and a space-padded key that parses as an era F key "
        "(LMCache sends @0@0@0@half)",
        HealthNa(b.profile()), [](Session& s) {
          ExpectOk(s.Health(), "health");
          const auto seen = s.WaitRequests(1, "health");
          ExpectBytes("HEALTH header, bytes 0-35", RequestBytes(kHealth, "").substr(0, 36),
                      seen[0].header.substr(0, 36));
          std::string key = seen[0].header.substr(36);
          while (!key.empty() && (key.back() == ' ' || key.back() == '\0')) key.pop_back();
          ExpectSpacePadded(seen[0], key, "HEALTH");
          if (!client_mode::CanonicalKey(key)) {
            Fail("HEALTH: the probe key " + Quote(key) +
                     " is not an era F key; LMCache's server parses it and "
                     "would drop the connection (§3.8)",
                 Evidence{{}, RequestBytes(kHealth, "@0@0@0@half"), seen[0].header});
          }
        });

  b.Add(
      "client/health/fail-reply-is-not-ok", "protocol.md §1.4", Level::kShould,
      "a HEALTH answered FAIL (400) is reported as a failure, not as healthy", HealthNa(b.profile()),
      [](Session& s) { ExpectError(s.Health(), "health", "the server answered FAIL (400)"); },
      Bugs{Bug::kFail400, kHealth, -1});
}

void AddReplyCases(Builder& b) {
  const std::string not_retried_na =
      b.profile().client.retries_invalid_reply ? "the profile says the client retries invalid replies" : "";
  b.Add(
      "client/reply/unknown-code-not-retried", "protocol.md §2.2, §6.3 reconnect v2, §6.5 test 8", Level::kMust,
      "a reply code other than 200/400 (999) fails the call at once and is not retried (a client whose profile "
      "sets invalid_reply_is_miss, as LMCache's Era Constants client, reports a miss instead)",
      not_retried_na,
      [](Session& s) {
        s.server().Preload(kKey, Object("x"));
        const json r = s.Get(kKey);
        if (s.client().invalid_reply_is_miss) {
          ExpectMiss(r, "the GET answered with code 999 (the profile: any code but 200 is a miss)");
        } else {
          ExpectError(r, "the GET answered with code 999", "999 is not a return code (§2.2)");
        }
        const auto gets = OfCommand(s.Settle(), kGet);
        if (gets.size() != 1) {
          Fail("the GET was sent " + std::to_string(gets.size()) +
               " times: a reply with code 999 must not be "
               "retried (§6.3 reconnect v2)");
        }
      },
      Bugs{Bug::kCode999, kGet, -1});

  b.Add(
      "client/reply/unknown-code-discards-connection", "protocol.md §6.3 reconnect v2", Level::kShould,
      "after a reply with code 999 the connection is discarded: the next call comes on a new connection",
      !not_retried_na.empty() ? not_retried_na
      : b.profile().client.invalid_reply_is_miss
          ? "the profile says code 999 is a miss and the connection is kept (protocol.md §2.2, Era Constants)"
          : "",
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(40, 9)));
        ExpectError(s.Get(kKey), "the GET answered with code 999", "999 is not a return code (§2.2)");
        ExpectHit(s.Get(kKey), "the next get", Pattern(40, 9));
        const auto gets = OfCommand(s.Settle(), kGet);
        if (gets.size() >= 2 && gets.back().conn == gets.front().conn) {
          Fail("the next GET reused the connection that carried the invalid reply");
        }
      },
      Bugs{Bug::kCode999, kGet, 1});

  b.Add(
      "client/reply/late-reply-after-deadline", "protocol.md §1.1, §6.3", Level::kMust,
      "a GET whose reply comes after its deadline fails by the deadline, and the late reply is never taken as "
      "the answer to the next call",
      DeadlineNa(b.profile()),
      [](Session& s) {
        s.server().Preload(kKey, Object(Pattern(50, 10)));
        const json first = s.Get(kKey, 400);
        const auto seen = s.WaitRequests(1, "get");
        const std::int64_t took = MsBetween(seen[0].at, s.result_at());
        ExpectError(first, "the GET whose reply came 600 ms late", "its timeout_ms was 400");
        if (took > 400 + kSlackMs) {
          Fail("the GET failed " + std::to_string(took) + " ms after it was sent, with timeout_ms 400");
        }
        const json next = s.Get(kMissing, 400);
        if (Found(next, "the next get (of an absent key)")) {
          Fail(
              "the next GET reported a hit: the late reply of the timed-out GET was taken as its answer; a client "
              "must discard a connection whose call timed out");
        }
      },
      Bugs{Bug::kLate, kGet, 1, milliseconds(600)});
}

void AddRetryCases(Builder& b) {
  const Profile& p = b.profile();
  b.Add(
      "client/retry/put-replayed-after-reset", "protocol.md §6.4, §6.5 test 4", Level::kMust,
      "a PUT written to a connection the server has reset is replayed, whole, on a new connection", RetryNa(p),
      [](Session& s) {
        ExpectMiss(s.Exist(kKey), "exist");
        const Deadline d = Deadline::After(kArrivalWait);
        s.server().WaitFor([](const auto&, const auto& conns) { return !conns.empty() && conns[0].dropped; }, d);
        std::this_thread::sleep_for(milliseconds(30));  // the RST has reached the client
        const std::string data = Pattern(512, 11);
        ExpectOk(s.Put(kKey, data, Buffer(512)), "put after the reset");
        const auto seen = s.WaitRequests(2, "put after the reset");
        const auto puts = OfCommand(seen, kPut);
        if (puts.empty()) Fail("the PUT never reached the server: it must be retried on a new connection (§6.4)");
        ExpectBytes("the replayed PUT header", RequestBytes(kPut, kKey, 512, 5, 0, {512, 0, 0, 0}), puts.back().header);
        ExpectSameBytes("the replayed PUT payload", data, puts.back().payload());
        ExpectHit(s.Get(kKey), "get after the put", data);
      },
      Bugs{Bug::kResetAfterReply, kExist, 1});

  b.Add(
      "client/retry/gives-up-after-attempts", "protocol.md §6.3 reconnect v2, §6.5 test 7", Level::kMust,
      "a GET whose every connection is reset is tried exactly the profile's `attempts` times, then fails", "",
      [](Session& s) {
        ExpectError(s.Get(kKey, 3000), "the GET whose connections were all reset", "no attempt got a reply");
        const auto gets = OfCommand(s.Settle(), kGet);
        const int attempts = s.client().attempts;
        if (static_cast<int>(gets.size()) != attempts) {
          Fail("the GET was sent " + std::to_string(gets.size()) + " times; the profile says " +
               std::to_string(attempts) + " attempts");
        }
      },
      Bugs{Bug::kResetBeforeReply, kGet, -1});

  b.Add(
      "client/retry/backoff-waits", "protocol.md §6.3 reconnect v2", Level::kShould,
      "between attempts the client waits the profile's backoff_ms (0.8x to +250 ms)",
      p.client.attempts >= 2 && !p.client.backoff_ms.empty() ? "" : "the profile's client does not retry",
      [](Session& s) {
        s.Get(kKey, 3000);
        s.Settle();
        const auto conns = s.server().Connections();
        const auto& backoff = s.client().backoff_ms;
        std::string gaps;
        bool bad = false;
        for (std::size_t k = 0; k + 1 < conns.size() && k + 1 < static_cast<std::size_t>(s.client().attempts); ++k) {
          if (!conns[k].dropped) continue;
          const std::int64_t gap = MsBetween(*conns[k].dropped, conns[k + 1].accepted);
          const std::int64_t want = backoff[std::min(k, backoff.size() - 1)];
          bad = bad || gap < want * 8 / 10 - 5 || gap > want + 250;
          gaps += (gaps.empty() ? "" : ", ") + std::to_string(gap) + " ms (want " + std::to_string(want) + ")";
        }
        if (conns.size() < 2) Fail("the GET was not retried at all");
        if (bad) Fail("waits between attempts: " + gaps);
      },
      Bugs{Bug::kResetBeforeReply, kGet, -1});

  b.Add(
      "client/retry/refused-fails-within-bound", "protocol.md §6.3 reconnect v2, §6.5 test 7", Level::kMust,
      "against a refusing server a call gives up after its attempts and backoff, long before its deadline", "",
      [](Session& s) {
        const std::int64_t bound = TotalBackoffMs(s.client()) + 1000;
        const json r = s.Get(kKey, 5000);
        const std::int64_t took = MsBetween(s.sent_at(), s.result_at());
        ExpectError(r, "the GET to a refusing server", "nothing listens on the port");
        if (took > bound) {
          Fail("the GET to a refusing server took " + std::to_string(took) +
               " ms; with the profile's attempts and "
               "backoff it should give up within " +
               std::to_string(bound) + " ms, not wait for its 5000 ms deadline");
        }
      },
      Bugs{}, /*refuse=*/true);

  b.Add(
      "client/retry/recovers-after-refusal", "protocol.md §6.5 test 7", Level::kShould,
      "after a call failed against a refusing server, the next call connects again once the server is back",
      p.client.reconnects ? "" : "the profile says the client never connects again (protocol.md §6.3 old client)",
      [](Session& s) {
        ExpectError(s.Get(kKey, 2000), "the GET to a refusing server", "nothing listens on the port");
        std::string error;
        if (!s.server().Reopen(&error)) Skip("the runner cannot listen on its port again: " + error);
        s.server().Preload(kKey, Object(Pattern(20, 12)));
        ExpectHit(s.Get(kKey), "the GET once the server is back", Pattern(20, 12));
      },
      Bugs{}, /*refuse=*/true);

  b.Add(
      "client/retry/deadline-bounds-retries", "protocol.md §6.3", Level::kMust,
      "timeout_ms bounds the whole call: retries and backoff stop at the deadline", DeadlineNa(p),
      [](Session& s) {
        const json r = s.Get(kKey, 150);
        const auto seen = s.WaitRequests(1, "get");
        const std::int64_t took = MsBetween(seen[0].at, s.result_at());
        ExpectError(r, "the GET whose connections were all reset", "no attempt got a reply");
        if (took > 150 + kSlackMs) {
          Fail("the GET took " + std::to_string(took) +
               " ms with timeout_ms 150: the deadline bounds the whole "
               "call, retries and backoff included");
        }
      },
      Bugs{Bug::kResetBeforeReply, kGet, -1});
}

// 66 U+00E9 (2 bytes each) and an era F tail: 84 characters, 150 bytes.
std::string Utf8Key150() {
  std::string model;
  for (int i = 0; i < 66; ++i) model += "\xc3\xa9";
  return model + "@1@0@3039@bfloat16";
}

// What both key-length units agree on: the 150-byte, 84-character key goes
// out whole, the first request of the case.
void ExpectUtf8Key150Whole(Session& s) {
  const std::string key150 = Utf8Key150();
  ExpectOk(s.Put(key150, "xyz", Buffer(3)), "put of a 150-byte UTF-8 key");
  ExpectHeader(s.WaitRequests(1, "put"), 0, "PUT header", RequestBytes(kPut, key150, 3, 5, 0, {3, 0, 0, 0}));
}

void AddKeyCases(Builder& b) {
  b.Add("client/key/tags-and-layer-id", "protocol.md §3.4", Level::kMust,
        "keys with a layer id, tags, '/' and '%' travel byte for byte", "", [](Session& s) {
          const std::string keys[] = {"m@1@0@ded@uint8@7@user%alice",
                                      "meta-llama/Llama-3.1-8B-Instruct@1@0@1234abcd@half@lang%en@q%a%b"};
          std::size_t n = 0;
          for (const std::string& key : keys) {
            const std::string data = Pattern(32, static_cast<std::uint32_t>(20 + n));
            ExpectOk(s.Put(key, data, Buffer(32)), "put " + key);
            ExpectHit(s.Get(key), "get " + key, data);
            const auto seen = s.WaitRequests(n + 2, "put and get");
            ExpectHeader(seen, n, "PUT header", RequestBytes(kPut, key, 32, 5, 0, {32, 0, 0, 0}));
            ExpectHeader(seen, n + 1, "GET header", RequestBytes(kGet, key));
            n += 2;
          }
        });

  b.Add("client/key/150-bytes-accepted", "protocol.md §3.1", Level::kMust,
        "a key of exactly 150 bytes fills the key field with no padding", "", [](Session& s) {
          const std::string key = std::string(150 - 18, 'k') + "@1@0@3039@bfloat16";
          ExpectOk(s.Put(key, "abc", Buffer(3)), "put of a 150-byte key");
          ExpectHit(s.Get(key), "get of a 150-byte key", "abc");
          const auto seen = s.WaitRequests(2, "put and get");
          ExpectHeader(seen, 0, "PUT header", RequestBytes(kPut, key, 3, 5, 0, {3, 0, 0, 0}));
          ExpectHeader(seen, 1, "GET header", RequestBytes(kGet, key));
        });

  b.Add("client/key/151-bytes-refused", "protocol.md §3.9", Level::kMust,
        "a key of 151 bytes is refused by the client (an error, nothing sent, never truncated)", "", [](Session& s) {
          const std::string key = std::string(151 - 18, 'k') + "@1@0@3039@bfloat16";
          ExpectError(s.Put(key, "abc", Buffer(3)), "put of a 151-byte key", "the key field holds 150 bytes");
          ExpectError(s.Get(key), "get of a 151-byte key", "the key field holds 150 bytes");
          ExpectError(s.Exist(key), "exist of a 151-byte key", "the key field holds 150 bytes");
          const auto seen = s.Settle();
          if (!seen.empty()) {
            Fail(
                "the client sent " + Commands(seen) + " for a 151-byte key: it must refuse it without sending anything",
                Evidence{{}, {}, seen[0].header});
          }
          if (Found(s.Exist(kKey), "exist after the refusals")) Fail("exist after the refusals: reported present");
          if (s.WaitRequests(1, "exist").size() != 1) Fail("exist after the refusals: more than one request arrived");
        });

  const bool counts_characters = b.profile().client.key_length_unit == KeyLengthUnit::kCharacters;
  b.Add("client/key/utf8-counted-in-bytes", "protocol.md §3.9, §9 quirk 11", Level::kMust,
        "the 150 limit counts UTF-8 bytes: a 150-byte key of 84 characters travels whole, a 151-byte key of 85 "
        "characters is refused (LMCache counts characters and lets struct truncate)",
        counts_characters ? "the profile says the client counts characters (key_length_unit)" : "", [](Session& s) {
          ExpectUtf8Key150Whole(s);
          const std::string key151 = "a" + Utf8Key150();
          ExpectError(s.Put(key151, "xyz", Buffer(3)), "put of a 151-byte, 85-character key",
                      "the key field holds 150 bytes, whatever the character count");
          const auto after = s.Settle();
          if (after.size() != 1) {
            Fail("the client sent a request for the 151-byte key (" + Describe(after.back().header) +
                     "): it must refuse it, not truncate it",
                 Evidence{{}, {}, after.back().header});
          }
        });

  b.Add("client/key/utf8-counted-in-characters-then-truncated", "protocol.md §3.9, §9 quirk 11", Level::kMust,
        "a client that counts the limit in characters (LMCache) sends a 150-byte key of 84 characters whole, and "
        "a 151-byte key of 85 characters cut to its first 150 bytes by the key field",
        counts_characters ? "" : "the profile says the client counts bytes (key_length_unit)", [](Session& s) {
          ExpectUtf8Key150Whole(s);
          const std::string key151 = "a" + Utf8Key150();
          s.Put(key151, "xyz", Buffer(3));  // its outcome is the client's own: nothing answers a PUT
          ExpectHeader(s.WaitRequests(2, "put of the 85-character key"), 1, "PUT header of the 85-character key",
                       RequestBytes(kPut, key151.substr(0, 150), 3, 5, 0, {3, 0, 0, 0}));
        });
}

void AddBodyCases(Builder& b) {
  const std::uint64_t max = b.profile().client.max_test_body_bytes;
  struct Size {
    const char* id;
    std::size_t bytes;
  };
  const Size sizes[] = {{"size-0", 0}, {"size-1", 1}, {"size-4097", 4097}, {"size-1mib", std::size_t{1} << 20}};
  const auto body = [](std::size_t n) {
    return [n](Session& s) {
      const std::string data = Pattern(n, static_cast<std::uint32_t>(n));
      ExpectOk(s.Put(kKey, data, Buffer(n), 4000), "put of " + std::to_string(n) + " bytes");
      const auto seen = s.WaitRequests(1, "put");
      ExpectHeader(
          seen, 0, "PUT header",
          RequestBytes(kPut, kKey, static_cast<std::int32_t>(n), 5, 0, {static_cast<std::int32_t>(n), 0, 0, 0}));
      ExpectSameBytes("PUT payload", data, seen[0].payload());
      const StoredObject o = Object(data, Buffer(n));
      ExpectHit(s.Get(kKey, 4000), "get of " + std::to_string(n) + " bytes", data, &o);
    };
  };
  for (const Size& z : sizes) {
    b.Add(std::string("client/body/") + z.id, "protocol.md §1.2, §1.4", Level::kMust,
          "an object of " + std::to_string(z.bytes) + " bytes goes out and comes back byte for byte",
          z.bytes <= max ? "" : "larger than the profile's max_test_body_bytes", body(z.bytes));
  }
  b.Add("client/body/size-max", "protocol.md §1.2, §1.4", Level::kMust,
        "an object of the profile's max_test_body_bytes goes out and comes back byte for byte",
        max > (std::uint64_t{1} << 20) && max < (std::uint64_t{1} << 31) ? "" : "max_test_body_bytes is at most 1 MiB",
        body(static_cast<std::size_t>(std::min<std::uint64_t>(max, INT32_MAX))));
}

void AddOrderAndAdapterCases(Builder& b) {
  b.Add("client/order/sequential-calls-in-order", "protocol.md §1.1", Level::kMust,
        "calls go out in the order they were made and each result answers its own call", "", [](Session& s) {
          const std::string a = Pattern(10, 30), bb = Pattern(20, 31);
          std::vector<std::int64_t> ids;
          ids.push_back(s.Send(Session::PutRequest(kKey, a, Buffer(10))));
          ids.push_back(s.Send(Session::PutRequest(kKey2, bb, Buffer(20))));
          ids.push_back(s.Send({{"op", "exist"}, {"key", std::string(kKey)}}));
          ids.push_back(s.Send({{"op", "get"}, {"key", std::string(kKey2)}}));
          ids.push_back(s.Send({{"op", "get"}, {"key", std::string(kMissing)}}));
          ids.push_back(s.Send({{"op", "exist"}, {"key", std::string(kMissing)}}));
          ExpectOk(s.Result(ids[0], "put A"), "put A");
          ExpectOk(s.Result(ids[1], "put B"), "put B");
          if (!Found(s.Result(ids[2], "exist A"), "exist A")) Fail("exist A: reported absent");
          ExpectHit(s.Result(ids[3], "get B"), "get B", bb);
          ExpectMiss(s.Result(ids[4], "get C"), "get C");
          if (Found(s.Result(ids[5], "exist C"), "exist C")) Fail("exist C: reported present");
          const auto seen = s.WaitRequests(6, "six calls");
          const std::int32_t commands[] = {kPut, kPut, kExist, kGet, kGet, kExist};
          const std::string_view keys[] = {kKey, kKey2, kKey, kKey2, kMissing, kMissing};
          for (std::size_t i = 0; i < 6; ++i) {
            if (seen[i].command != commands[i] || seen[i].key != keys[i]) {
              Fail("request " + std::to_string(i + 1) + " on the wire is " + Describe(seen[i].header) +
                   "; the calls were put A, put B, exist A, get B, get C, exist C (received: " + Commands(seen) + ")");
            }
          }
        });

  b.Add("client/adapter/unknown-op-is-error", "docs/CONFORMANCE.md, client mode (the testee protocol)", Level::kMust,
        "a request with an unknown op gets ok:false with an error, sends nothing, and the next request works", "",
        [](Session& s) {
          const json r = s.Call({{"op", "frobnicate"}, {"key", std::string(kKey)}}, "frobnicate");
          ExpectError(r, "the unknown op 'frobnicate'", "the line protocol has no such op");
          if (!r.contains("error") || !r["error"].is_string() || r["error"].get<std::string>().empty()) {
            Fail("the result for an unknown op has no 'error' message");
          }
          s.server().Preload(kKey, Object("x"));
          if (!Found(s.Exist(kKey), "exist after the unknown op")) Fail("exist after the unknown op: reported absent");
          const auto seen = s.WaitRequests(1, "exist");
          if (seen.size() != 1 || seen[0].command != kExist) {
            Fail("the server received " + Commands(seen) + "; the unknown op must send nothing");
          }
        });

  b.Add("client/adapter/exits-zero-on-stdin-close", "docs/CONFORMANCE.md, client mode (the testee protocol)",
        Level::kMust, "the testee exits with status 0 within 2 s of its stdin closing", "", [](Session& s) {
          s.server().Preload(kKey, Object("x"));
          s.Exist(kKey);  // its outcome is other cases' business
          s.testee().CloseStdin();
          const std::optional<int> status = s.testee().WaitExit(Deadline::After(milliseconds(2000)));
          if (!status) Fail("the testee did not exit within 2 s of its stdin closing");
          if (*status != 0) Fail("the testee exited with status " + std::to_string(*status) + " when its stdin closed");
        });
}

}  // namespace

std::vector<Case> ClientCatalogue(const TesteeCommand& testee, const Profile& profile) {
  Builder b(std::make_shared<const Shared>(Shared{testee, profile}));
  AddPutCases(b);
  AddGetCases(b);
  AddExistCases(b);
  AddListCases(b);
  AddHealthCases(b);
  AddReplyCases(b);
  AddRetryCases(b);
  AddKeyCases(b);
  AddBodyCases(b);
  AddOrderAndAdapterCases(b);
  return b.Take();
}

}  // namespace lmc::conformance
