// Client mode's server: an honest in-memory lm:// server with a struct of
// bug switches, after BoringSSL's BoGo runner. All misbehaviour lives here,
// in the runner; the client under test carries no test knobs. Internal to
// client mode.
//
// Honest behaviour: keys are canonicalised as LMCache's server compares them
// (wire::ParseCacheKey, then RenderCacheKey, era F); PUT stores length, fmt,
// dtype, shape and bytes and sends nothing back; GET answers a hit with the
// stored fields and bytes, a miss with the FAIL dummy header; EXIST and
// HEALTH answer with a dummy header; LIST answers as LMCache's asyncio server
// does (SUCCESS, then the canonical keys joined by '\n'). A key that does not
// parse, or an unknown command, closes the connection without a reply, as
// LMCache's server does (spec §5.5). A PUT cut short stores nothing.
//
// Every request is recorded (the exact bytes, the connection it came on, the
// time it arrived) so cases can check every byte the client sent. One thread
// accepts, one thread serves each connection; every wait is bounded by the
// case's deadline and by Stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conformance/conn.h"
#include "conformance/runner.h"
#include "wire/headers.h"

namespace lmc::conformance::client_mode {

// What the server does instead of (or around) the honest reply.
enum class Bug : std::uint8_t {
  kNone,
  kSplitBytes,        // the reply one byte at a time, 1 ms apart
  kShortThenClose,    // 20 bytes of the reply header, then FIN
  kResetMidBody,      // the header and half the body (or half a bare header), then RST
  kCode999,           // a dummy reply header with code 999 (the connection stays open)
  kLate,              // the honest reply, `late` after the request arrived
  kCloseBeforeReply,  // FIN without a reply
  kResetBeforeReply,  // RST without a reply (the request, PUT payload included, was read)
  kSilent,            // no reply at all; the connection stays open and usable
  kHugeClaim,         // GET: SUCCESS claiming 2^31-1 bytes, 64 KiB of them, then FIN
  kFail400,           // the FAIL dummy header instead of the honest reply
  kResetAfterReply,   // the honest reply, then RST
};
std::string_view BugName(Bug b);

struct Bugs {
  Bug bug = Bug::kNone;
  std::int32_t command = 0;  // the command it applies to (0: every command)
  int times = -1;            // how many requests it applies to (-1: all)
  std::chrono::milliseconds late{600};
  // The case sends GET replies whose metadata does not describe their body,
  // on purpose, and its requirement says so. Otherwise such a reply is a bug
  // in the catalogue, and fails the case (FakeServer::InconsistentReplies).
  bool inconsistent_metadata = false;
};

// The bytes the kHugeClaim reply sends after its header.
inline constexpr std::size_t kHugeClaimSentBytes = std::size_t{64} << 10;

struct StoredObject {
  std::int32_t length = 0;
  std::int32_t fmt = 0;
  std::int32_t dtype = 0;
  wire::Shape shape{};
  std::string bytes;
};

// One request as the server received it.
struct Seen {
  int conn = 0;        // connection index, from 0 in accept order
  std::string header;  // the 186 bytes, exactly
  std::int32_t command = 0;
  std::int32_t length = 0;
  std::string key;  // the stripped key text ("" when not UTF-8)
  bool key_utf8 = true;
  std::size_t payload_have = 0;      // PUT: how many payload bytes arrived so far
  bool complete = true;              // PUT: every announced payload byte arrived
  Bug bug = Bug::kNone;              // the misbehaviour applied to it
  Deadline::Clock::time_point at{};  // when its header was complete
  // PUT: the payload bytes that arrived (set when the read ended). Shared,
  // so that copying a request list never copies a large body.
  std::shared_ptr<const std::string> payload_bytes;
  std::string_view payload() const { return payload_bytes ? std::string_view(*payload_bytes) : std::string_view(); }
};

struct ConnInfo {
  Deadline::Clock::time_point accepted{};
  // When the server deliberately closed or reset it (a bug switch).
  std::optional<Deadline::Clock::time_point> dropped;
  bool ended = false;  // its serving thread has finished
};

class FakeServer {
 public:
  // Listens on 127.0.0.1, port 0; fails the case when it cannot. Nothing is
  // accepted before Start().
  explicit FakeServer(Deadline deadline);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  void Start();
  std::uint16_t port() const { return port_; }

  void SetBugs(const Bugs& b);
  // Records every accepted connection into `wire` (--pcap, --html). Before Start().
  void SetWire(WireLog* wire) { wire_ = wire; }
  // Stores an object as an honest PUT would (the key is canonicalised).
  void Preload(std::string_view key, StoredObject o);
  // Closes the listening socket: connects are refused until Reopen().
  void Refuse();
  // Listens again on the same port; false (with *error) when it cannot.
  bool Reopen(std::string* error);

  std::vector<Seen> Requests() const;
  // The GET hit replies sent so far whose metadata does not describe their
  // body (MetadataInconsistency), each described.
  std::vector<std::string> InconsistentReplies() const;
  std::vector<ConnInfo> Connections() const;
  std::optional<StoredObject> Lookup(std::string_view key) const;
  // Waits until `ready(requests, connections)` holds (checked on every
  // change) or `d` passes; returns whether it holds.
  bool WaitFor(const std::function<bool(const std::vector<Seen>&, const std::vector<ConnInfo>&)>& ready,
               const Deadline& d) const;

  // Ends every thread (within a few milliseconds) and closes every socket.
  void Stop();
  // Appends the server's trace (per connection, in accept order) to `into`.
  void MoveTraceInto(TraceSink* into);

 private:
  struct Connection {
    int index = 0;
    TraceSink trace;
    Conn conn;
    std::thread thread;
  };
  enum class End : std::uint8_t { kComplete, kClosed, kReset, kStopped };

  void AcceptLoop();
  void Serve(Connection* c);
  void ServeLoop(Connection* c);
  // Reads n bytes into *out (appending), in slices so Stop() is noticed;
  // `progress` (optional) sees the running total.
  End ReadFull(Connection* c, std::size_t n, std::string* out, const std::function<void(std::size_t)>& progress = {});
  bool SendAll(Connection* c, std::string_view bytes, bool note = true);
  bool SleepFor(std::chrono::milliseconds d);
  void Drop(Connection* c, bool reset);
  Bug TakeBug(std::int32_t command, std::chrono::milliseconds* late);
  std::string HonestReply(const Seen& s, const std::optional<std::string>& canonical);

  Deadline deadline_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};

  std::mutex listen_mu_;  // the listener; held by the accept thread for one slice at a time
  Listener listener_;
  bool listening_ = false;
  std::thread accept_thread_;
  std::list<Connection> connections_;  // touched by the accept thread, then by Stop()

  mutable std::mutex mu_;  // everything below
  mutable std::condition_variable changed_;
  Bugs bugs_;
  WireLog* wire_ = nullptr;
  struct Entry {
    StoredObject fields;  // bytes left empty: they live in `bytes`
    std::shared_ptr<const std::string> bytes;
  };
  std::map<std::string, Entry> store_;
  std::vector<std::string> order_;  // canonical keys in first-PUT order, for LIST
  std::vector<Seen> seen_;
  std::vector<ConnInfo> conns_;
  std::vector<std::string> inconsistent_;
  TraceSink accept_trace_;
};

// Why a GET reply's metadata does not describe its body as an LMCache client
// reads it, or "" when it does. LMCache's connector sizes its buffer from
// the reply's shape and dtype (protocol.md §6.1), so a consistent reply has
// length = the elements of the shape (trailing zeros stripped, so a byte
// buffer's [n,0,0,0] holds n) times the dtype's size (§2.3; dtype 0, a
// byte buffer, counts 1), and exactly `length` body bytes.
std::string MetadataInconsistency(std::int32_t length, std::int32_t dtype, const wire::Shape& shape,
                                  std::uint64_t body_bytes);

// The canonical form of an era F key (how LMCache's server compares keys),
// or nullopt when it does not parse.
std::optional<std::string> CanonicalKey(std::string_view key);

}  // namespace lmc::conformance::client_mode
