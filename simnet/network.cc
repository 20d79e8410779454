#include "simnet/network.h"

#include <algorithm>
#include <cstring>
#include <deque>

namespace lmc::simnet {

using net::NetError;

struct Network::Endpoint {
  Node* node = nullptr;
  World::Context ctx = 0;
  std::vector<std::byte> inbound;  // arrived, unread from `off`
  std::size_t off = 0;
  bool eof_in = false;  // the peer's sending side ended (after `inbound`)
  NetError fail = NetError::kOk;
  bool closed = false;
  bool send_shut = false;  // half-closed by a fault: writes fail
  // The read in flight.
  bool reading = false;
  std::span<std::byte> rbuf;
  net::ReadHandler rh;
  // The write in flight (the caller's spans; the bytes stay valid).
  bool writing = false;
  std::vector<std::span<const std::byte>> wbufs;
  std::size_t wbuf_i = 0, wbuf_off = 0, wtotal = 0, wdone = 0;
  net::WriteHandler wh;
  std::size_t in_flight = 0;  // sent by this side, not arrived
  Time last_arrival{};
  Time clogged_until{};  // the direction from this side
  // Segments of this direction held back by a clog or a partition, and the
  // time the last of them was rescheduled to: a later segment waits behind
  // them whatever the cut says now (a heal, or a shorter cut laid over a
  // longer one), so bytes arrive in the order they were sent, as TCP's do.
  std::size_t held = 0;
  Time held_until{};
  // Segment numbers of this direction: the last sent, the last arrived. An
  // arrival out of order is a violation of the model (checked always).
  std::uint64_t sent_seq = 0, arrived_seq = 0;
  std::size_t unread() const { return inbound.size() - off; }
};

struct Network::Conn {
  std::uint64_t id = 0;
  int capture = -1;                    // the connection in Network's capture
  std::uint64_t epoch = 0;             // bumped on reset: what is in flight is lost
  Endpoint side[2];                    // 0: the connecting side, 1: the accepting side
  World::Context dir_ctx[2] = {0, 0};  // arrivals, in order, per direction
};

struct Network::ListenState {
  Node* node = nullptr;
  std::string host;
  std::uint16_t port = 0;
  bool closed = false;
  std::deque<std::shared_ptr<Conn>> backlog;
  std::function<void(NetError, std::unique_ptr<net::Stream>)> accept;
};

namespace {

class SimTimer final : public net::Timer {
  using Handler = std::function<void(NetError)>;

 public:
  SimTimer(World& w, World::Context ctx) : w_(w), ctx_(ctx) {}
  ~SimTimer() override { Cancel(); }
  // The handler lives in the scheduled task only (the timer keeps a weak
  // reference, to cancel it), as an io_context holds a timer's handler:
  // a world that ends with the task unrun frees the handler, and with it
  // whatever it holds (often the timer's own owner).
  void AsyncWait(Clock::duration delay, Handler handler) override {
    Cancel();
    auto h = std::make_shared<Handler>(std::move(handler));
    pending_ = h;
    w_.Schedule(w_.Now() + std::max(delay, Clock::duration::zero()), ctx_, [h] {
      if (!*h) return;  // cancelled
      Handler run = std::move(*h);
      *h = nullptr;
      run(NetError::kOk);
    });
  }
  void Cancel() override {
    const std::shared_ptr<Handler> h = pending_.lock();
    pending_.reset();
    if (!h || !*h) return;
    Handler run = std::move(*h);
    *h = nullptr;
    w_.Soon(ctx_, [run = std::move(run)] { run(NetError::kCancelled); });
  }

 private:
  World& w_;
  World::Context ctx_;
  std::weak_ptr<Handler> pending_;
};

}  // namespace

std::unique_ptr<net::Timer> MakeSimTimer(World& world, World::Context ctx) {
  return std::make_unique<SimTimer>(world, ctx);
}

namespace {

class SimStream final : public net::Stream {
 public:
  SimStream(Network& net, std::shared_ptr<Network::Conn> c, int side) : net_(net), c_(std::move(c)), side_(side) {}
  ~SimStream() override { Close(); }

  void AsyncReadSome(std::span<std::byte> buffer, net::ReadHandler handler) override;
  void AsyncWrite(std::span<const std::span<const std::byte>> buffers, net::WriteHandler handler) override;
  void Close() override;
  void Dispatch(std::function<void()> fn) override {
    World& w = net_.world();
    if (w.current() == ep().ctx) return fn();
    w.Soon(ep().ctx, std::move(fn));
  }
  std::unique_ptr<net::Timer> MakeTimer() override { return MakeSimTimer(net_.world(), ep().ctx); }

 private:
  Network::Endpoint& ep() const;
  Network& net_;
  std::shared_ptr<Network::Conn> c_;
  int side_;
};

}  // namespace

// Endpoint is complete here; the stream's methods follow.
Network::Endpoint& SimStream::ep() const { return c_->side[side_]; }

void SimStream::AsyncReadSome(std::span<std::byte> buffer, net::ReadHandler handler) {
  Network::Endpoint& e = ep();
  World& w = net_.world();
  if (e.closed || e.reading) {
    w.Soon(e.ctx, [h = std::move(handler)] { h(NetError::kCancelled, 0); });
    return;
  }
  e.reading = true;
  e.rbuf = buffer;
  e.rh = std::move(handler);
  net_.TryRead(c_, side_);
}

void SimStream::AsyncWrite(std::span<const std::span<const std::byte>> buffers, net::WriteHandler handler) {
  Network::Endpoint& e = ep();
  World& w = net_.world();
  if (e.closed || e.writing || e.fail != NetError::kOk || e.send_shut) {
    const NetError err = e.closed || e.writing     ? NetError::kCancelled
                         : e.fail != NetError::kOk ? e.fail
                                                   : NetError::kReset;
    w.Soon(e.ctx, [h = std::move(handler), err] { h(err, 0); });
    return;
  }
  e.wbufs.assign(buffers.begin(), buffers.end());
  e.wbuf_i = e.wbuf_off = e.wdone = e.wtotal = 0;
  for (const auto& b : e.wbufs) e.wtotal += b.size();
  e.wh = std::move(handler);
  e.writing = true;
  net_.Pump(c_, side_);
}

void SimStream::Close() {
  Network::Endpoint& e = ep();
  if (e.closed) return;
  World& w = net_.world();
  e.closed = true;
  --e.node->open_streams;
  if (e.reading) {
    e.reading = false;
    w.Soon(e.ctx, [h = std::move(e.rh)] { h(NetError::kCancelled, 0); });
  }
  if (e.writing) {
    e.writing = false;
    w.Soon(e.ctx, [h = std::move(e.wh), n = e.wdone] { h(NetError::kCancelled, n); });
  }
  e.inbound.clear();
  e.off = 0;
  if (e.fail == NetError::kOk && !e.send_shut) net_.SendEof(c_, side_);
  if (e.fail == NetError::kOk) e.fail = NetError::kCancelled;
  net_.Pump(c_, 1 - side_);  // the peer's writer saw our unread bytes as its window
}

Network::Network(World& world, NetFaults faults) : world_(world), faults_(faults), rng_(world.sched_rng().Next()) {}

Network::~Network() = default;

// --- The capture ------------------------------------------------------------

namespace {
// The capture's clock: virtual time from 2026-01-01T00:00:00Z.
constexpr std::int64_t kCaptureEpochUs = 1'767'225'600'000'000;
}  // namespace

void Network::CaptureOpen(const std::shared_ptr<Conn>& c, std::uint16_t server_port) {
  if (capture_ == nullptr) return;
  // Nodes get 10.77.0.1, .2, ... in the order they first appear.
  const auto ip = [this](const std::string& name) {
    auto [it, added] = capture_ips_.try_emplace(name, 0);
    if (added) it->second = pcap::Ipv4(10, 77, 0, static_cast<std::uint8_t>(capture_ips_.size()));
    return it->second;
  };
  const auto client_port = static_cast<std::uint16_t>(20000 + c->id % 40000);
  const auto t = std::chrono::duration_cast<std::chrono::microseconds>(world_.Now().time_since_epoch()).count();
  c->capture = capture_->Open({ip(c->side[0].node->name), client_port}, {ip(c->side[1].node->name), server_port},
                              kCaptureEpochUs + t);
}

namespace {
std::int64_t CaptureTime(const World& w) {
  return kCaptureEpochUs + std::chrono::duration_cast<std::chrono::microseconds>(w.Now().time_since_epoch()).count();
}
pcap::Side SideOf(int side) { return side == 0 ? pcap::Side::kClient : pcap::Side::kServer; }
}  // namespace

void Network::CaptureData(const std::shared_ptr<Conn>& c, int from, const std::vector<std::byte>& bytes) {
  if (capture_ == nullptr || c->capture < 0) return;
  capture_->Data(c->capture, SideOf(from), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                 CaptureTime(world_));
}

void Network::CaptureFin(const std::shared_ptr<Conn>& c, int from) {
  if (capture_ != nullptr && c->capture >= 0) capture_->Fin(c->capture, SideOf(from), CaptureTime(world_));
}

void Network::CaptureReset(const std::shared_ptr<Conn>& c, int from) {
  if (capture_ != nullptr && c->capture >= 0) capture_->Reset(c->capture, SideOf(from), CaptureTime(world_));
}

Node& Network::AddNode(const std::string& name) {
  auto node = std::make_unique<Node>();
  node->name = name;
  node->loop = world_.NewContext();
  Node& n = *node;
  nodes_[name] = std::move(node);
  transports_[name] = std::make_unique<SimTransport>(*this, n);
  return n;
}

SimTransport& Network::TransportOf(const std::string& name) { return *transports_.at(name); }
Node& Network::NodeOf(const std::string& name) { return *nodes_.at(name); }

Duration Network::Latency(Rng& rng) {
  const auto lo = static_cast<std::uint64_t>(faults_.latency_min.count());
  const auto hi = static_cast<std::uint64_t>(std::max(faults_.latency_max, faults_.latency_min).count());
  auto d = static_cast<Duration::rep>(rng.Between(lo, hi));
  if (rng.Chance(faults_.tail_chance)) {
    // A long tail: most tail draws are short, a few near tail_max.
    const double u = rng.Unit();
    d += static_cast<Duration::rep>(u * u * u * static_cast<double>(faults_.tail_max.count()));
  }
  return Duration(d);
}

Time Network::PartitionedUntil(const std::string& a, const std::string& b) const {
  auto it = partitions_.find(a < b ? std::make_pair(a, b) : std::make_pair(b, a));
  return it == partitions_.end() ? Time{} : it->second;
}

void Network::TryRead(const std::shared_ptr<Conn>& c, int side) {
  Endpoint& e = c->side[side];
  if (!e.reading) return;
  NetError err = NetError::kOk;
  std::size_t n = 0;
  if (e.fail != NetError::kOk) {
    err = e.fail;
  } else if (e.unread() > 0) {
    n = std::min(e.unread(), e.rbuf.size());
    if (n > 1 && rng_.Chance(faults_.partial_read_chance)) n = rng_.Between(1, n);
    std::memcpy(e.rbuf.data(), e.inbound.data() + e.off, n);
    e.off += n;
    if (e.off == e.inbound.size()) {
      e.inbound.clear();
      e.off = 0;
    } else if (e.off > (std::size_t{64} << 10)) {
      e.inbound.erase(e.inbound.begin(), e.inbound.begin() + static_cast<std::ptrdiff_t>(e.off));
      e.off = 0;
    }
  } else if (e.eof_in) {
    err = NetError::kEof;
  } else {
    return;  // wait for bytes
  }
  e.reading = false;
  world_.trace().Add(3, c->id * 2 + static_cast<std::uint64_t>(side), n * 16 + static_cast<std::uint64_t>(err));
  world_.Soon(e.ctx, [h = std::move(e.rh), err, n] { h(err, n); });
  if (n > 0) Pump(c, 1 - side);
}

void Network::Pump(const std::shared_ptr<Conn>& c, int from) {
  Endpoint& e = c->side[from];
  Endpoint& peer = c->side[1 - from];
  while (e.writing && e.fail == NetError::kOk) {
    const std::size_t used = e.in_flight + peer.unread();
    if (used >= faults_.window_bytes) return;
    std::size_t seg = std::min(e.wtotal - e.wdone, faults_.window_bytes - used);
    if (seg > 1 && rng_.Chance(faults_.split_chance)) seg = rng_.Between(1, seg);
    std::vector<std::byte> bytes(seg);
    for (std::size_t got = 0; got < seg;) {
      const std::span<const std::byte> b = e.wbufs[e.wbuf_i];
      const std::size_t take = std::min(seg - got, b.size() - e.wbuf_off);
      std::memcpy(bytes.data() + got, b.data() + e.wbuf_off, take);
      got += take;
      e.wbuf_off += take;
      if (e.wbuf_off == b.size()) {
        ++e.wbuf_i;
        e.wbuf_off = 0;
      }
    }
    while (e.wbuf_i < e.wbufs.size() && e.wbufs[e.wbuf_i].empty()) ++e.wbuf_i;
    e.wdone += seg;
    e.in_flight += seg;
    const Time at = std::max(e.last_arrival, world_.Now() + Latency(rng_));
    e.last_arrival = at;
    const std::uint64_t seq = ++e.sent_seq;
    world_.Schedule(at, c->dir_ctx[from], [this, c, from, seq, epoch = c->epoch, bytes = std::move(bytes)]() mutable {
      Endpoint& src = c->side[from];
      Endpoint& to = c->side[1 - from];
      if (c->epoch != epoch) return;
      Time clog = std::max(src.clogged_until, PartitionedUntil(src.node->name, to.node->name));
      if (src.held > 0) clog = std::max(clog, src.held_until);  // behind the segments held before it
      if (clog > world_.Now() || src.held > 0) {
        ++src.held;
        src.held_until = std::max(clog, world_.Now());
        world_.Schedule(src.held_until, c->dir_ctx[from], [this, c, from, seq, epoch, bytes = std::move(bytes)] {
          Endpoint& held_src = c->side[from];
          --held_src.held;
          if (c->epoch == epoch) Arrive(c, from, seq, bytes);
        });
        return;
      }
      world_.trace().Add(4, c->id * 2 + static_cast<std::uint64_t>(from), bytes.size());
      Arrive(c, from, seq, bytes);
    });
    if (e.wdone == e.wtotal) {
      e.writing = false;
      e.wbufs.clear();
      world_.Soon(e.ctx, [h = std::move(e.wh), n = e.wtotal] { h(NetError::kOk, n); });
    }
  }
}

void Network::Arrive(const std::shared_ptr<Conn>& c, int from, std::uint64_t seq, const std::vector<std::byte>& bytes) {
  Endpoint& to = c->side[1 - from];
  if (seq <= c->side[from].arrived_seq) {
    world_.Violation("network model: segment " + std::to_string(seq) + " of connection " + std::to_string(c->id) +
                     " arrived after segment " + std::to_string(c->side[from].arrived_seq) +
                     " (a stream must deliver in order)");
  }
  c->side[from].arrived_seq = seq;
  c->side[from].in_flight -= bytes.size();
  // A closed reader answers with a reset, as a socket closed with unread
  // data does.
  if (to.closed) {
    CaptureReset(c, 1 - from);
    return Fail(c, from, NetError::kReset);
  }
  CaptureData(c, from, bytes);
  to.inbound.insert(to.inbound.end(), bytes.begin(), bytes.end());
  TryRead(c, 1 - from);
}

void Network::Fail(const std::shared_ptr<Conn>& c, int side, NetError err) {
  Endpoint& e = c->side[side];
  if (e.closed || e.fail != NetError::kOk) return;
  e.fail = err;
  e.inbound.clear();
  e.off = 0;
  world_.trace().Add(5, c->id * 2 + static_cast<std::uint64_t>(side), static_cast<std::uint64_t>(err));
  if (e.reading) TryRead(c, side);
  if (e.writing) {
    e.writing = false;
    world_.Soon(e.ctx, [h = std::move(e.wh), err, n = e.wdone] { h(err, n); });
  }
}

void Network::SendEof(const std::shared_ptr<Conn>& c, int from) {
  Endpoint& e = c->side[from];
  const Time at = std::max(e.last_arrival, world_.Now() + Latency(rng_));
  e.last_arrival = at;
  world_.Schedule(at, c->dir_ctx[from], [this, c, from, epoch = c->epoch] {
    if (c->epoch != epoch) return;
    CaptureFin(c, from);
    Endpoint& to = c->side[1 - from];
    to.eof_in = true;
    TryRead(c, 1 - from);
  });
}

void Network::DropUnaccepted(const std::shared_ptr<Conn>& c) {
  CaptureReset(c, 1);
  ++c->epoch;
  Endpoint& e = c->side[1];
  e.closed = true;
  --e.node->open_streams;
  Fail(c, 0, NetError::kReset);
}

bool Network::ResetOne(Rng& rng) {
  std::vector<std::shared_ptr<Conn>> live;
  for (const auto& w : conns)
    if (auto c = w.lock(); c && c->side[0].fail == NetError::kOk && c->side[1].fail == NetError::kOk) live.push_back(c);
  if (live.empty()) return false;
  const std::shared_ptr<Conn> c = live[rng.Below(live.size())];
  CaptureReset(c, 1);
  ++c->epoch;
  c->side[0].in_flight = c->side[1].in_flight = 0;
  Fail(c, 0, NetError::kReset);
  Fail(c, 1, NetError::kReset);
  return true;
}

bool Network::HalfCloseOne(Rng& rng) {
  std::vector<std::pair<std::shared_ptr<Conn>, int>> open;
  for (const auto& w : conns)
    if (auto c = w.lock())
      for (int s = 0; s < 2; ++s)
        if (!c->side[s].closed && !c->side[s].send_shut && c->side[s].fail == NetError::kOk) open.emplace_back(c, s);
  if (open.empty()) return false;
  auto [c, s] = open[rng.Below(open.size())];
  Endpoint& e = c->side[s];
  e.send_shut = true;
  SendEof(c, s);
  if (e.writing) {
    e.writing = false;
    world_.Soon(e.ctx, [h = std::move(e.wh), n = e.wdone] { h(NetError::kReset, n); });
  }
  return true;
}

bool Network::ClogOne(Rng& rng, Duration how_long) {
  std::vector<std::shared_ptr<Conn>> live;
  for (const auto& w : conns)
    if (auto c = w.lock(); c && !c->side[0].closed && !c->side[1].closed) live.push_back(c);
  if (live.empty()) return false;
  const std::shared_ptr<Conn> c = live[rng.Below(live.size())];
  Time& until = c->side[rng.Below(2)].clogged_until;
  until = std::max(until, world_.Now() + how_long);  // a shorter clog never cuts a longer one short
  return true;
}

void Network::Partition(const std::string& a, const std::string& b, Time until) {
  // Overlapping partitions of one pair hold until the last of them ends: a
  // shorter one laid over a longer one does not heal it early.
  Time& t = partitions_[a < b ? std::make_pair(a, b) : std::make_pair(b, a)];
  t = std::max(t, until);
}

void Network::Heal() {
  partitions_.clear();
  for (const auto& w : conns)
    if (auto c = w.lock()) c->side[0].clogged_until = c->side[1].clogged_until = Time{};
}

void Network::Crash(const std::string& name) {
  Node& n = NodeOf(name);
  n.alive = false;
  for (auto it = listeners.begin(); it != listeners.end();) {
    if (it->second->node == &n) {
      const std::shared_ptr<ListenState> l = it->second;
      l->closed = true;
      for (const auto& c : l->backlog) DropUnaccepted(c);
      l->backlog.clear();
      if (l->accept) world_.Soon(n.loop, [a = std::move(l->accept)] { a(NetError::kCancelled, nullptr); });
      l->accept = nullptr;
      it = listeners.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& w : conns) {
    auto c = w.lock();
    if (!c) continue;
    for (int s = 0; s < 2; ++s) {
      if (c->side[s].node != &n) continue;
      CaptureReset(c, s);
      ++c->epoch;
      c->side[0].in_flight = c->side[1].in_flight = 0;
      Fail(c, s, NetError::kReset);
      // The peer learns of it one trip later.
      world_.Schedule(world_.Now() + Latency(rng_), c->dir_ctx[s], [this, c, s] { Fail(c, 1 - s, NetError::kReset); });
    }
  }
}

void Network::Revive(const std::string& name) { NodeOf(name).alive = true; }

std::size_t Network::open_connections() const {
  std::size_t n = 0;
  for (const auto& w : conns)
    if (auto c = w.lock(); c && (!c->side[0].closed || !c->side[1].closed)) ++n;
  return n;
}

namespace {

class SimListener final : public net::Listener {
 public:
  SimListener(Network& net, std::shared_ptr<Network::ListenState> s) : net_(net), s_(std::move(s)) {}
  ~SimListener() override { Close(); }
  void AsyncAccept(std::function<void(NetError, std::unique_ptr<net::Stream>)> handler) override {
    World& w = net_.world();
    if (s_->closed || s_->accept) {
      w.Soon(s_->node->loop, [h = std::move(handler)] { h(NetError::kCancelled, nullptr); });
      return;
    }
    if (net_.rng().Chance(net_.faults().accept_fail_chance)) {
      net_.Count("accept failure");
      w.Soon(s_->node->loop, [h = std::move(handler)] { h(NetError::kOther, nullptr); });
      return;
    }
    if (!s_->backlog.empty()) {
      std::shared_ptr<Network::Conn> c = std::move(s_->backlog.front());
      s_->backlog.pop_front();
      w.Soon(s_->node->loop,
             [this, h = std::move(handler), c] { h(NetError::kOk, std::make_unique<SimStream>(net_, c, 1)); });
      return;
    }
    s_->accept = std::move(handler);
  }
  std::uint16_t port() const override { return s_->port; }
  void Close() override {
    if (s_->closed) return;
    s_->closed = true;
    auto it = net_.listeners.find({s_->host, s_->port});
    if (it != net_.listeners.end() && it->second == s_) net_.listeners.erase(it);
    for (const auto& c : s_->backlog) net_.DropUnaccepted(c);
    s_->backlog.clear();
    if (s_->accept)
      net_.world().Soon(s_->node->loop, [h = std::move(s_->accept)] { h(NetError::kCancelled, nullptr); });
  }

 private:
  Network& net_;
  std::shared_ptr<Network::ListenState> s_;
};

}  // namespace

std::unique_ptr<net::Listener> SimTransport::Listen(const std::string& host, std::uint16_t port, NetError* error) {
  if (!node_.alive || host != node_.name) {
    *error = NetError::kAddress;
    return nullptr;
  }
  if (port == 0) port = net_.next_port++;
  if (net_.listeners.count({host, port}) != 0) {
    *error = NetError::kAddress;
    return nullptr;
  }
  auto s = std::make_shared<Network::ListenState>();
  s->node = &node_;
  s->host = host;
  s->port = port;
  net_.listeners[{host, port}] = s;
  *error = NetError::kOk;
  return std::make_unique<SimListener>(net_, std::move(s));
}

void SimTransport::AsyncConnect(const std::string& host, std::uint16_t port,
                                std::function<void(NetError, std::unique_ptr<net::Stream>)> handler) {
  World& w = net_.world();
  const World::Context ctx = w.NewContext();  // the new stream's
  if (!node_.alive) {
    w.Soon(ctx, [h = std::move(handler)] { h(NetError::kRefused, nullptr); });
    return;
  }
  auto attempt = std::make_shared<std::function<void()>>();
  *attempt = [this, host, port, ctx, h = std::move(handler), attempt]() mutable {
    World& world = net_.world();
    const Time cut = net_.PartitionedUntil(node_.name, host);
    if (cut > world.Now()) {
      world.Schedule(cut + net_.Latency(net_.rng()), ctx, [attempt] { (*attempt)(); });
      return;
    }
    auto it = net_.listeners.find({host, port});
    const bool refuse = net_.rng().Chance(net_.faults().refuse_chance);
    if (refuse) net_.Count("refused connect");
    if (it == net_.listeners.end() || it->second->closed || !it->second->node->alive || !node_.alive || refuse) {
      world.Schedule(world.Now() + net_.Latency(net_.rng()), ctx, [h = std::move(h), attempt]() mutable {
        *attempt = nullptr;  // the cycle through the captured pointer ends here
        h(NetError::kRefused, nullptr);
      });
      return;
    }
    const std::shared_ptr<Network::ListenState> l = it->second;
    auto c = std::make_shared<Network::Conn>();
    c->id = net_.next_conn_id++;
    c->side[0].node = &node_;
    c->side[0].ctx = ctx;
    c->side[1].node = l->node;
    c->side[1].ctx = world.NewContext();
    c->dir_ctx[0] = world.NewContext();
    c->dir_ctx[1] = world.NewContext();
    ++node_.connects;
    ++node_.open_streams;
    ++l->node->open_streams;
    net_.conns.push_back(c);
    if (net_.conns.size() > 256)  // drop the dead references now and then
      std::erase_if(net_.conns, [](const std::weak_ptr<Network::Conn>& wc) { return wc.expired(); });
    world.trace().Add(6, c->id, port);
    net_.CaptureOpen(c, port);
    if (l->accept) {
      world.Soon(l->node->loop,
                 [this, a = std::move(l->accept), c] { a(NetError::kOk, std::make_unique<SimStream>(net_, c, 1)); });
      l->accept = nullptr;
    } else {
      l->backlog.push_back(c);
    }
    world.Schedule(world.Now() + net_.Latency(net_.rng()), ctx, [this, h = std::move(h), c, attempt]() mutable {
      *attempt = nullptr;
      h(NetError::kOk, std::make_unique<SimStream>(net_, c, 0));
    });
  };
  w.Schedule(w.Now() + net_.Latency(net_.rng()), ctx, [attempt] { (*attempt)(); });
}

std::unique_ptr<net::Timer> SimTransport::MakeTimer() { return MakeSimTimer(net_.world(), node_.loop); }

void SimTransport::Post(std::function<void()> fn) { net_.world().Soon(node_.loop, std::move(fn)); }

}  // namespace lmc::simnet
