// The reference lm:// server: accepts connections on a Transport and runs a
// ServerSession per connection against one L1Store. All protocol logic is in
// the session; this is the I/O loop around it, with the deadlines:
// - a write that makes no progress for `stall_timeout` closes the connection
//   (a client that never reads cannot hold the server's memory);
// - a request that stays partly received for `stall_timeout` closes it too.
// Idle connections between requests are kept: LMCache workers hold one open.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/transport.h"
#include "protocol/server_session.h"
#include "server/request_log.h"
#include "store/l1_store.h"

namespace lmc::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 65432;
  protocol::SessionLimits limits;
  std::chrono::milliseconds stall_timeout{30000};
  // At this many, a new connection closes the one idle the longest (no
  // request in flight, no reply being written); with none idle, the new one
  // is closed at once. lmcache-server's default follows its descriptor limit.
  std::size_t max_connections = 4096;
  // Closes a connection idle (no request in flight) this long; 0: never.
  // Off by default: an LMCache worker keeps one connection open between
  // requests.
  std::chrono::milliseconds idle_timeout{0};
  // After a failed accept (out of descriptors: EMFILE, ENFILE) the next one
  // waits, from 1 ms doubling up to this, so the loop does not spin while
  // the limit holds; the open connections are served meanwhile.
  std::chrono::milliseconds accept_retry_max{100};
  // Bytes of stored objects that replies being sent may pin at once, over
  // all connections (store/pin_budget.h): past it a GET hit is answered as a
  // miss. 0: no bound; lmcache-server's default is a quarter of L1. Each
  // connection also stops reading at 8 MiB of replies waiting
  // (SessionLimits::pending_output_bytes_max).
  std::size_t max_pinned_bytes = 0;
  // Where an L1 miss is looked up (the L2 tiers); none by default.
  std::shared_ptr<protocol::MissSource> misses;
  // One line per request and per reply (--log-level debug); null: none, at
  // the cost of one pointer test per read and write.
  std::shared_ptr<RequestLog> request_log;
};

// Connections share the store and the counters with the server (shared
// ownership), so a connection still finishing after the Server object is
// gone touches nothing that was freed.
class Server {
 public:
  Server(net::Transport& transport, std::shared_ptr<store::L1Store> store, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Returns the bound port in `*port`.
  [[nodiscard]] net::NetError Start(std::uint16_t* port);
  // Stops accepting and closes every connection.
  void Stop();

  const protocol::ServerCounters& counters() const;
  std::size_t open_connections() const;
  // Bytes of stored objects that replies being sent pin now.
  std::size_t pinned_bytes() const;

 private:
  class Connection;
  struct Shared;
  struct Acceptor;
  static void AcceptLoop(const std::shared_ptr<Acceptor>& a);

  net::Transport& transport_;  // must outlive the Server
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<net::Listener> listener_;
};

// The counters as a few lines of text (for --stats, SIGUSR1 and shutdown).
std::string FormatCounters(const protocol::ServerCounters& c, const store::StoreStats& s);

}  // namespace lmc::server
