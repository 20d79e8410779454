// The simulated network: TCP as ordered byte streams between named nodes,
// implementing net::Transport (one SimTransport per node), with the faults
// of NetFaults drawn from the world's seed.
//
// A connection has two endpoints; each direction is a FIFO of segments in
// flight, each arriving after its own latency (never before the one ahead
// of it), under a window: a writer waits while the bytes in flight plus the
// reader's unread bytes fill it, so a reader that stops reading stalls its
// writer, as TCP does. Reads return at least one byte, and a random part of
// what has arrived when partial reads are on. Every handler runs in its
// endpoint's context, never inline in the call that started it.
//
// Faults the harness applies (each counted by name in fault_counts()):
// resetting a connection (both ends fail with kReset, bytes in flight are
// lost), half-closing one direction (the reader sees EOF, the writer's
// writes fail), clogging a direction for a while, partitioning two nodes
// (their connections clog, connects between them wait), and crashing a
// node (its listeners vanish, its connections reset).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/transport.h"
#include "pcap/pcap.h"
#include "simnet/world.h"

namespace lmc::simnet {

struct NetFaults {
  Duration latency_min = std::chrono::microseconds(20);
  Duration latency_max = std::chrono::microseconds(400);
  double tail_chance = 0.0;  // a segment or connect takes up to tail_max
  Duration tail_max = std::chrono::milliseconds(1500);
  double partial_read_chance = 0.0;  // a read takes a random part of what is there
  double split_chance = 0.0;         // a write leaves as random segments
  double refuse_chance = 0.0;        // a connect is refused
  double accept_fail_chance = 0.0;   // an accept fails (as out of descriptors)
  std::size_t window_bytes = std::size_t{256} << 10;
};

class Network;
class SimTransport;

// A process on the network: its name is its host address.
struct Node {
  std::string name;
  World::Context loop = 0;  // Post, transport timers, listener handlers
  bool alive = true;
  std::uint64_t connects = 0;  // connections this node opened (the oracle's epoch)
  std::size_t open_streams = 0;
};

class Network {
 public:
  Network(World& world, NetFaults faults);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  World& world() { return world_; }
  const NetFaults& faults() const { return faults_; }
  NetFaults& mutable_faults() { return faults_; }

  // A node and its transport (owned by the network).
  Node& AddNode(const std::string& name);
  SimTransport& TransportOf(const std::string& name);
  Node& NodeOf(const std::string& name);

  // Faults. Each returns false if there was nothing to apply it to.
  bool ResetOne(Rng& rng);
  bool HalfCloseOne(Rng& rng);
  bool ClogOne(Rng& rng, Duration how_long);
  void Partition(const std::string& a, const std::string& b, Time until);
  // The node's listeners close and its connections reset (the peer sees
  // kReset; the node's own handlers see kReset). Revive() lets it listen
  // and connect again.
  void Crash(const std::string& node);
  void Revive(const std::string& node);
  // Ends every clog and partition now.
  void Heal();

  // Records every connection into `capture` from now on (lmcache-sim
  // --pcap): the handshake when a connect reaches a listener, each segment
  // when it arrives, a FIN when a side's EOF arrives, an RST for a reset or
  // a crash; a partition or clog shows as a gap. Watching draws nothing
  // from the world's randomness and schedules nothing: a seed's trace is
  // the same with and without it.
  void SetCapture(pcap::TcpCapture* capture) { capture_ = capture; }

  std::size_t open_connections() const;
  const std::map<std::string, std::uint64_t>& fault_counts() const { return fault_counts_; }
  void Count(const std::string& fault) { ++fault_counts_[fault]; }

  // Internal (the transport's streams and listeners use these).
  struct Endpoint;
  struct Conn;
  struct ListenState;
  Duration Latency(Rng& rng);
  Rng& rng() { return rng_; }
  void Pump(const std::shared_ptr<Conn>& c, int from);
  void TryRead(const std::shared_ptr<Conn>& c, int side);
  void Fail(const std::shared_ptr<Conn>& c, int side, net::NetError e);
  // Segment `bytes` from side `from` reaches the other side.
  void Arrive(const std::shared_ptr<Conn>& c, int from, std::uint64_t seq, const std::vector<std::byte>& bytes);
  void SendEof(const std::shared_ptr<Conn>& c, int from);
  // A connection the listener never handed out (its listener closed).
  void DropUnaccepted(const std::shared_ptr<Conn>& c);
  Time PartitionedUntil(const std::string& a, const std::string& b) const;
  void CaptureOpen(const std::shared_ptr<Conn>& c, std::uint16_t server_port);
  void CaptureData(const std::shared_ptr<Conn>& c, int from, const std::vector<std::byte>& bytes);
  void CaptureFin(const std::shared_ptr<Conn>& c, int from);
  void CaptureReset(const std::shared_ptr<Conn>& c, int from);

  std::map<std::pair<std::string, std::uint16_t>, std::shared_ptr<ListenState>> listeners;
  std::vector<std::weak_ptr<Conn>> conns;
  std::uint64_t next_conn_id = 1;
  std::uint16_t next_port = 40000;

 private:
  World& world_;
  NetFaults faults_;
  Rng rng_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::string, std::unique_ptr<SimTransport>> transports_;
  std::map<std::pair<std::string, std::string>, Time> partitions_;
  std::map<std::string, std::uint64_t> fault_counts_;
  pcap::TcpCapture* capture_ = nullptr;
  std::map<std::string, std::uint32_t> capture_ips_;  // node name -> address in the capture
};

// One node's view of the network.
class SimTransport final : public net::Transport {
 public:
  SimTransport(Network& net, Node& node) : net_(net), node_(node) {}
  std::unique_ptr<net::Listener> Listen(const std::string& host, std::uint16_t port, net::NetError* error) override;
  void AsyncConnect(const std::string& host, std::uint16_t port,
                    std::function<void(net::NetError, std::unique_ptr<net::Stream>)> handler) override;
  std::unique_ptr<net::Timer> MakeTimer() override;
  Clock::time_point Now() const override { return net_.world().Now(); }
  void Post(std::function<void()> fn) override;
  Node& node() { return node_; }

 private:
  Network& net_;
  Node& node_;
};

// A timer in one context (a node's loop or a stream's).
std::unique_ptr<net::Timer> MakeSimTimer(World& world, World::Context ctx);

}  // namespace lmc::simnet
