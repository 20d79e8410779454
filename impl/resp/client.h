// A RESP client for the kit's Redis tier (l2's RespBackend): blocking calls
// with a deadline each, made from the Env's workers, over the runtime seam
// (its transport, clock and waits), so the simulator runs it unchanged.
//
// - Standalone: one node, up to `connections_per_node` connections, each
//   used by one call at a time (LMCache's connector gives each worker its
//   own connection the same way).
// - Cluster (`cluster`): the slot map comes from CLUSTER SLOTS on the
//   startup nodes; a key goes to its slot's master; MOVED updates the map
//   and retries there, ASK retries once on the named node after ASKING (at
//   most max_redirects hops). A failed node, or a slot with no master,
//   makes the map stale: the next call fetches it again (at most once per
//   backoff_min).
// - Failure: a node that refused or dropped a connection is down for a
//   back-off (backoff_min, doubling to backoff_max) during which calls to it
//   fail at once (kUnavailable); the first call after it reconnects. A call
//   that passes its deadline closes its connection (it is out of step).
// - AUTH (username and password, or password alone) on every new
//   connection; a refused AUTH is kAuth, with the server's words.
// Replies are parsed by ReplyReader (hiredis), within `limits`.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "resp/reply.h"
#include "runtime/env.h"
#include "runtime/wait_list.h"

namespace lmc::resp {

enum class [[nodiscard]] Status : std::uint8_t{
    kOk,
    kMiss,         // GET: no such key (nil); EXISTS: 0
    kTooLarge,     // GET: the value does not fit (or, exact, is not dst's size)
    kUnavailable,  // no connection (refused, reset, the node is backing off)
    kTimedOut,     // the call's deadline passed
    kServerError,  // an error reply (other than a redirect)
    kProtocol,     // a reply that breaks RESP or the command's contract
    kAuth,         // AUTH refused
    kClosed,       // Close() was called
};
[[nodiscard]] std::string_view StatusName(Status s);

struct Node {
  std::string host;
  std::uint16_t port = 0;
  std::string Name() const { return host + ":" + std::to_string(port); }
};

struct ClientOptions {
  std::vector<Node> nodes;  // the node, or the cluster's startup nodes
  bool cluster = false;
  std::string username;
  std::string password;
  unsigned connections_per_node = 8;
  std::chrono::milliseconds call_timeout{2000};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  int max_redirects = 5;
  ReaderLimits limits;
};

struct ClientStats {
  std::uint64_t connects = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t fast_failures = 0;  // calls refused while a node backed off
  std::uint64_t timeouts = 0;
  std::uint64_t moved = 0;
  std::uint64_t asked = 0;
  std::uint64_t slot_refreshes = 0;
};

class Client {
 public:
  // `env` outlives the client. Calls block (never on an I/O loop).
  Client(runtime::Env& env, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // At start: connects to the node (every startup node answers or not;
  // one must), AUTHs and PINGs; a cluster also fetches its slot map.
  // kAuth and kServerError are configuration errors; kUnavailable is a
  // server not (yet) up. `detail` says which node said what.
  Status Check(std::string* detail);

  Status Set(std::string_view key, std::span<const std::byte> value);
  // The value into `dst`: kOk with *size; kMiss; kTooLarge when it does not
  // fit, or (exact) is not dst.size() bytes.
  Status Get(std::string_view key, std::span<std::byte> dst, bool exact, std::size_t* size);
  Status Exists(std::string_view key);  // kOk: present, kMiss: absent
  Status Del(std::string_view key);
  // Any command, routed by its second argument (a key) in a cluster.
  Status Call(const std::vector<std::string>& args, Reply* out, std::string* detail = nullptr);

  ClientStats Stats() const;
  bool Healthy() const;
  void Close();

 private:
  class Link;
  class Pool;
  struct Exchange;
  // `into`/`into_size`: a GET's buffer (Link::Call).
  Status Routed(std::string_view key, const Command& cmd, std::span<std::byte> into, Reply* out, std::string* detail,
                std::size_t* into_size = nullptr);
  Pool& PoolFor(const std::string& host, std::uint16_t port);
  Pool* PoolForSlot(std::uint16_t slot, runtime::Clock::time_point deadline);
  Status RefreshSlots(runtime::Clock::time_point deadline, std::string* detail);

  runtime::Env& env_;
  ClientOptions options_;
  mutable base::Mutex stats_mu_;  // taken alone: never with mu_ or a pool's lock
  std::shared_ptr<ClientStats> stats_;
  mutable base::Mutex mu_;
  std::map<std::string, std::unique_ptr<Pool>> pools_;  // by "host:port"; never removed
  std::vector<Pool*> slots_;                            // cluster: by slot (null: unknown)
  bool slots_stale_ = true;
  runtime::Clock::time_point next_refresh_{};
  bool closed_ = false;
};

}  // namespace lmc::resp
