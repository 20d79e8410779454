// A small RESP server on any net::Transport: the Redis the simulator runs
// (simnet's RESP node) and the unit tests' stand-in. It keeps the commands
// the kit's client sends (PING, AUTH, SET, GET, EXISTS, DEL, ASKING, plus
// DBSIZE and FLUSHALL, and CLUSTER SLOTS and redirects when a test sets
// them) in a map, and the faults a real one has: slow
// replies, and a restart that loses every write since the last Save() (a
// Redis whose RDB snapshot is older than its last writes).
// Not a Redis: no expiry, no other types, no cluster of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "net/transport.h"
#include "resp/reply.h"

namespace lmc::resp {

struct MiniServerOptions {
  std::string password;  // "" = no AUTH required
  std::chrono::microseconds reply_delay{0};
  std::size_t max_value_bytes = std::size_t{64} << 20;
  // For tests of a cluster client: the reply to CLUSTER SLOTS (raw RESP;
  // "" answers an error, as a node without cluster mode does), and an
  // error every key command gets instead of running ("MOVED 1 h:p",
  // "ASK 1 h:p"; for ASK, not on a connection that sent ASKING first).
  std::string cluster_slots;
  std::string redirect;
};

class MiniServer {
 public:
  MiniServer(net::Transport& net, MiniServerOptions options);
  ~MiniServer();
  MiniServer(const MiniServer&) = delete;
  MiniServer& operator=(const MiniServer&) = delete;

  [[nodiscard]] net::NetError Start(const std::string& host, std::uint16_t port, std::uint16_t* bound);
  // Closes the listener and every connection (the data stays).
  void Stop();
  // What a restart keeps: the data as it is now.
  void Save();
  // Drops every connection and every write since the last Save().
  void Restart();
  void SetReplyDelay(std::chrono::microseconds d);
  std::size_t size() const;
  std::uint64_t commands() const;

 private:
  struct Conn;
  void Accept();
  void Serve(const std::shared_ptr<Conn>& c);
  std::string Execute(Conn& c, const Reply& request);

  net::Transport& net_;
  mutable base::Mutex mu_;
  MiniServerOptions options_;
  std::unique_ptr<net::Listener> listener_;
  std::map<std::string, std::string> data_, saved_;
  std::vector<std::weak_ptr<Conn>> conns_;
  std::uint64_t commands_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lmc::resp
