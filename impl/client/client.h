// The lm:// client library: blocking calls and pipelined asynchronous calls
// for every command, on the runtime seam (runtime::Env: its transport, its
// clock, its waits, so it runs unchanged in a simulated world), with a
// deadline on every call
// and the retry policy of LMCache's newest Python client (spec §6.3,
// "reconnect v2"):
// - up to `attempts` tries (3); before try n+1 it waits 100 ms, then 200 ms,
//   and reconnects (each connect with its own 5 s limit);
// - connection errors (reset, refused, EOF, a call's deadline) are retried;
//   a reply that breaks the protocol is not: the call fails and the
//   connection is discarded, so the next call reconnects;
// - a PUT may be replayed after a reset (delivery is at least once; the
//   server treats repeats as overwrites);
// - after Close() every call fails with kClientClosed.
// The whole call, retries included, ends by its deadline: against LMCache's
// Python server, which never answers LIST, a LIST fails then; nothing hangs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "net/transport.h"
#include "protocol/client_session.h"
#include "runtime/env.h"
#include "runtime/wait_list.h"

namespace lmc::client {

enum class [[nodiscard]] CallStatus : std::uint8_t{
    kOk,            // PUT sent; GET hit; EXIST present; LIST/HEALTH success
    kMiss,          // GET miss; EXIST absent; LIST/HEALTH answered FAIL
    kInvalidReply,  // the server broke the protocol (not retried)
    kTimedOut,      // the call's deadline passed
    kUnavailable,   // every attempt failed to connect or lost the connection
    kBadRequest,    // the request cannot be encoded (e.g. a key over 150 bytes)
    kClientClosed,  // Close() was called
};
[[nodiscard]] std::string_view CallStatusName(CallStatus s);

struct CallResult {
  CallStatus status = CallStatus::kOk;
  wire::ReplyHeader reply;         // GET hit: the stored length, fmt, dtype, shape
  std::vector<std::byte> body;     // GET hit payload; LIST body (empty if in place)
  std::size_t in_place_bytes = 0;  // GET into a caller buffer: payload size there
  int attempts = 0;
  std::string detail;  // kInvalidReply: what was wrong with the reply
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 65432;
  std::chrono::milliseconds call_timeout{10000};
  std::chrono::milliseconds connect_timeout{5000};
  int attempts = 3;
  std::vector<std::chrono::milliseconds> backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(200)};
  protocol::ClientLimits limits;
};

// Parses "lm://HOST:PORT" (HOST may be a bracketed IPv6 address); false for
// anything else, including a port outside 1..65535. Never throws.
[[nodiscard]] bool ParseLmUrl(std::string_view url, std::string* host, std::uint16_t* port);

class Client {
 public:
  // `env` outlives the client. The blocking calls wait on Env waiters:
  // never call them on an I/O loop.
  Client(runtime::Env& env, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Blocking calls with the retry policy above. The PUT payload is not copied.
  [[nodiscard]] CallResult Put(std::string_view key, const protocol::PutFields& fields,
                               std::span<const std::byte> payload);
  [[nodiscard]] CallResult Get(std::string_view key);
  // GET into a caller buffer (see ClientSession::Get); a payload larger than
  // `into` comes back in `body` instead.
  [[nodiscard]] CallResult Get(std::string_view key, std::span<std::byte> into);
  [[nodiscard]] CallResult Exist(std::string_view key);
  [[nodiscard]] CallResult List();
  [[nodiscard]] CallResult Health();

  // Pipelined calls: queued on the current connection at once, completed in
  // order, one attempt each (a lost connection completes them kUnavailable),
  // by running `done` on the connection's I/O thread: no thread hand-off
  // per call, and `done` may issue the next call at once (an event-driven
  // caller such as lmcache-bench). `done` must not block. These calls have
  // no deadline of their own: a caller that waits for them must bound its
  // wait, and Close() completes whatever is pending (kUnavailable). A GET's
  // `on_body` (optional) sees the body's pieces as they arrive, on the
  // connection's I/O thread (see protocol::BodyObserver).
  using Callback = std::function<void(CallResult)>;
  void GetAsync(std::string_view key, std::span<std::byte> into, protocol::BodyObserver on_body, Callback done);
  void ExistAsync(std::string_view key, Callback done);
  void PutAsync(std::string_view key, const protocol::PutFields& fields, std::span<const std::byte> payload,
                Callback done);

  void Close();

 private:
  class Connection;
  enum class Op : std::uint8_t { kPut, kGet, kExist, kList, kHealth };
  struct Request {
    Op op;
    std::string key;
    protocol::PutFields fields;
    std::span<const std::byte> payload;
    std::span<std::byte> into;  // GET destination, if any
    protocol::BodyObserver on_body;
  };
  [[nodiscard]] CallResult Call(const Request& r);
  void Start(const Request& r, net::Clock::time_point deadline, Callback done);
  std::shared_ptr<Connection> Connected(net::Clock::time_point deadline, CallStatus* error);

  runtime::Env& env_;
  ClientOptions options_;
  base::Mutex mu_;
  std::shared_ptr<Connection> connection_;
  bool closed_ = false;
  bool connecting_ = false;      // a caller is connecting (without mu_ held)
  runtime::WaitList connected_;  // the callers waiting for it
};

}  // namespace lmc::client
