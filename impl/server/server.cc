#include "server/server.h"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <sstream>

#include "base/check.h"
#include "base/mutex.h"

namespace lmc::server {

using net::NetError;

// What connections share with the server. The registry holds weak
// references: a connection is owned by its pending I/O handlers. It is keyed
// by the connection's number in accept order, never by its address: Stop()
// walks it, and an order that follows the heap would make a simulated run
// depend on what ran before it in the process.
struct Server::Shared {
  Shared(std::shared_ptr<store::L1Store> s, ServerOptions o)
      : store(std::move(s)), options(std::move(o)), pins(options.max_pinned_bytes) {}
  std::shared_ptr<store::L1Store> store;
  ServerOptions options;
  store::PinBudget pins;
  protocol::ServerCounters counters;
  base::Mutex mu;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::uint64_t accepted = 0;        // connections registered so far: the next one's key
  std::size_t closing = 0;           // registered connections closed to make room, not yet gone
  std::size_t peak_connections = 0;  // the most registered at once since memory was last given back
  bool stopped = false;

  // Closes the registered connection idle the longest, if one is idle; true
  // then (it counts in `closing` until it is gone). Under `mu`; the
  // connections it looked at go into `seen`, to be released after `mu` (the
  // last reference's destructor takes `mu`).
  bool CloseLongestIdleLocked(std::vector<std::shared_ptr<Connection>>* seen);
};

// One accepted connection: the session plus its stream, a read and a write
// in flight at most, and a deadline timer. Every handler runs on the stream's
// context, so the session is never touched concurrently.
// Spans handed to one gather write: a reply header and a 32 MiB object of
// 1 MiB chunks go in one write (asio hands at most 64 to each sendmsg).
constexpr std::size_t kWriteSpans = 64;

class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Shared> shared, net::Transport& transport, std::unique_ptr<net::Stream> stream,
             std::uint64_t key)
      : key_(key),
        shared_(std::move(shared)),
        stream_(std::move(stream)),
        session_(*shared_->store, shared_->counters, shared_->options.limits, shared_->options.misses.get(),
                 &shared_->pins),
        transport_(transport),
        timer_(stream_->MakeTimer()),
        last_progress_(transport.Now()),
        idle_since_(transport.Now().time_since_epoch().count()) {
    if (const auto& log = shared_->options.request_log) {
      trace_ = std::make_unique<ConnectionTrace>(log, log->NextConnectionId());
    }
  }

  ~Connection() {
    bool trim = false;
    {
      std::lock_guard lock(shared_->mu);
      shared_->connections.erase(key_);
      if (idle_since() == kClosing) {
        LMC_CHECK(shared_->closing > 0, "a connection closed to make room that was not counted");
        --shared_->closing;
      }
      // After a flood of connections has mostly gone, the memory they took
      // (about 6.5 KiB each) goes back to the system instead of staying
      // with the allocator: once per fall to a quarter of a peak of 1024+.
      if (shared_->peak_connections >= 1024 && shared_->connections.size() <= shared_->peak_connections / 4) {
        shared_->peak_connections = shared_->connections.size();
        trim = true;
      }
    }
    if (trim) malloc_trim(0);
  }

  void Begin() {
    auto self = shared_from_this();
    stream_->Dispatch([self] { self->Pump(); });
  }

  void Shutdown() {
    auto self = shared_from_this();
    stream_->Dispatch([self] { self->Finish("server stopping"); });
  }

  // Since when the connection has had no request in flight and no reply to
  // write (transport clock, ns), or kBusy; kClosing once the accept loop
  // chose it to make room. Read by the accept loop on another thread.
  static constexpr std::int64_t kBusy = -1;
  static constexpr std::int64_t kClosing = -2;
  std::int64_t idle_since() const { return idle_since_.load(std::memory_order_acquire); }

  // Called by the accept loop at the connection cap: closes this connection
  // if it is still idle since `since`, and true then. A connection that
  // started a request meanwhile is left alone.
  bool CloseIfIdleSince(std::int64_t since) {
    if (!idle_since_.compare_exchange_strong(since, kClosing, std::memory_order_acq_rel)) return false;
    auto self = shared_from_this();
    stream_->Dispatch([self] { self->Finish("closed: idle the longest at --max-connections"); });
    return true;
  }

 private:
  void Pump() {
    if (finished_) return;
    if (std::string key; session_.TakeMissRequest(&key)) StartMiss(std::move(key));
    if (session_.Done()) {
      Finish("replies flushed; the session takes no more input");
      return;
    }
    if (!reading_ && !session_.Closing()) {
      read_buffers_ = session_.ReadBuffers(read_spans_);
      if (read_buffers_ != 0) {
        reading_ = true;
        stream_->SetReadLowWater(session_.CertainInputBytes());
        auto self = shared_from_this();
        stream_->AsyncReadSomeV(std::span(read_spans_).first(read_buffers_),
                                [self](NetError e, std::size_t n) { self->OnRead(e, n); });
      }
    }
    if (!writing_ && session_.HasOutput()) {
      std::array<std::span<const std::byte>, kWriteSpans> iov;
      const std::size_t k = session_.GatherWrites(iov);
      writing_ = true;
      auto self = shared_from_this();
      stream_->AsyncWrite(std::span(iov).first(k), [self](NetError e, std::size_t n) { self->OnWrite(e, n); });
    }
    MarkIdleOrBusy();
    ArmDeadline();
  }

  bool Idle() const { return !Waiting() && !session_.HasOutput(); }

  // Publishes Idle() for the accept loop; never undoes its kClosing.
  void MarkIdleOrBusy() {
    std::int64_t now = idle_since_.load(std::memory_order_relaxed);
    if (now == kClosing) return;
    const bool idle = Idle();
    if (idle == (now != kBusy)) return;  // unchanged
    const std::int64_t next = idle ? transport_.Now().time_since_epoch().count() : kBusy;
    (void)idle_since_.compare_exchange_strong(now, next, std::memory_order_acq_rel);
  }

  // A GET missed L1: the tier looks below, off this loop. The callback holds
  // the connection (no I/O may be pending meanwhile) and comes back to the
  // stream's loop; the tier answers within its load deadline.
  void StartMiss(std::string key) {
    LMC_CHECK(shared_->options.misses != nullptr && !missing_, "a miss for '", key, "' with ",
              missing_ ? "one in flight already" : "no MissSource");
    missing_ = true;
    auto self = shared_from_this();
    shared_->options.misses->FetchAsync(std::move(key), [self](store::L1Store::ObjectRef object) {
      self->stream_->Dispatch([self, object = std::move(object)]() mutable { self->OnMiss(std::move(object)); });
    });
  }

  void OnMiss(store::L1Store::ObjectRef object) {
    LMC_CHECK(missing_, "a miss answered that was not asked (or answered twice)");
    missing_ = false;
    last_progress_ = transport_.Now();
    if (finished_) return;
    session_.OnMissResult(std::move(object));
    Pump();
  }

  void OnRead(NetError e, std::size_t n) {
    if (idle_since() == kClosing && !finished_) {
      reading_ = false;
      return Finish("closed: idle the longest at --max-connections");  // its request is not started
    }
    std::size_t offered = 0;
    for (std::size_t i = 0; i < read_buffers_; ++i) offered += read_spans_[i].size();
    LMC_CHECK(reading_ && n <= offered, "a read of ", n, " bytes completed into ", offered,
              reading_ ? "" : " with no read in flight");
    reading_ = false;
    last_progress_ = transport_.Now();
    if (finished_) return;
    if (trace_) {
      if (e == NetError::kOk) {
        for (std::size_t i = 0, left = n; i < read_buffers_ && left > 0; ++i) {
          const std::size_t k = std::min(left, read_spans_[i].size());
          trace_->OnReceived(read_spans_[i].first(k));
          left -= k;
        }
      } else {
        trace_->OnReadEnd(e == NetError::kEof ? std::string_view{} : net::NetErrorName(e));
      }
    }
    if (e == NetError::kOk) {
      session_.OnRead(n);
    } else {
      session_.OnEof();  // EOF, reset or cancel: no more input
      if (e != NetError::kEof) {
        Finish("read failed");
        return;
      }
    }
    Pump();
  }

  void OnWrite(NetError e, std::size_t n) {
    LMC_CHECK(writing_, "a write of ", n, " bytes completed with no write in flight");
    writing_ = false;
    last_progress_ = transport_.Now();
    if (finished_) return;
    if (e != NetError::kOk) {
      Finish("write failed");
      return;
    }
    if (trace_) {
      // The spans of the write just completed: the session's output is
      // unchanged until OnWritten.
      std::array<std::span<const std::byte>, kWriteSpans> iov;
      const std::size_t k = session_.GatherWrites(iov);
      trace_->OnSent(std::span(iov).first(k), n);
    }
    session_.OnWritten(n);
    Pump();
  }

  // While a write is pending or a request is partly received, the connection
  // must make progress within the stall timeout. The timer is armed once and
  // re-armed only when it fires, for what is left of the deadline since the
  // last progress: no timer syscall per read.
  // With --idle-timeout-ms, an idle connection has a deadline too: the same
  // timer, for the idle limit.
  void ArmDeadline() {
    if (timer_armed_) return;
    if (Waiting()) {
      WaitFor(shared_->options.stall_timeout);
    } else if (shared_->options.idle_timeout.count() > 0) {
      WaitFor(shared_->options.idle_timeout);
    } else {
      return;
    }
    timer_armed_ = true;
  }

  bool Waiting() const { return writing_ || session_.MidRequest(); }

  void WaitFor(net::Clock::duration delay) {
    std::weak_ptr<Connection> weak = shared_from_this();
    timer_->AsyncWait(delay, [weak](NetError e) {
      if (e != NetError::kOk) return;
      if (auto self = weak.lock()) self->stream_->Dispatch([self] { self->OnDeadline(); });
    });
  }

  void OnDeadline() {
    if (finished_) return;
    const bool waiting = Waiting();
    const net::Clock::duration limit = waiting ? net::Clock::duration(shared_->options.stall_timeout)
                                               : net::Clock::duration(shared_->options.idle_timeout);
    if (!waiting && limit.count() <= 0) {
      timer_armed_ = false;
      return;
    }
    const auto quiet = transport_.Now() - last_progress_;
    if (quiet >= limit) {
      if (waiting) return Finish("stalled: no progress for --stall-timeout-ms");
      shared_->counters.idle_timeouts.fetch_add(1, std::memory_order_relaxed);
      return Finish("closed: idle for --idle-timeout-ms");
    }
    WaitFor(limit - quiet);
  }

  // `why` goes to the request log only.
  void Finish(std::string_view why) {
    if (finished_) return;
    finished_ = true;
    if (trace_) trace_->OnClose(why);
    timer_->Cancel();
    stream_->Close();
  }

  const std::uint64_t key_;  // in Shared::connections
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<net::Stream> stream_;
  protocol::ServerSession session_;
  net::Transport& transport_;
  std::unique_ptr<net::Timer> timer_;
  bool reading_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool timer_armed_ = false;
  bool missing_ = false;  // a FetchAsync is in flight
  net::Clock::time_point last_progress_;
  std::atomic<std::int64_t> idle_since_;
  std::array<std::span<std::byte>, 8> read_spans_;  // where the read in flight goes
  std::size_t read_buffers_ = 0;                    // how many of them
  std::unique_ptr<ConnectionTrace> trace_;          // null unless the request log is on
};

bool Server::Shared::CloseLongestIdleLocked(std::vector<std::shared_ptr<Connection>>* seen) {
  // A connection may turn busy between the scan and the close: then the
  // next longest idle is tried, a few times at most.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::shared_ptr<Connection> oldest;
    std::int64_t since = std::numeric_limits<std::int64_t>::max();
    seen->reserve(seen->size() + connections.size());
    for (const auto& [key, weak] : connections) {
      std::shared_ptr<Connection> c = weak.lock();
      if (!c) continue;
      const std::int64_t s = c->idle_since();
      if (s >= 0 && s < since) {
        since = s;
        oldest = c;
      }
      seen->push_back(std::move(c));
    }
    if (!oldest) return false;
    if (oldest->CloseIfIdleSince(since)) {
      ++closing;
      return true;
    }
  }
  return false;
}

Server::Server(net::Transport& transport, std::shared_ptr<store::L1Store> store, ServerOptions options)
    : transport_(transport), shared_(std::make_shared<Shared>(std::move(store), std::move(options))) {}

Server::~Server() { Stop(); }

const protocol::ServerCounters& Server::counters() const { return shared_->counters; }

NetError Server::Start(std::uint16_t* port) {
  NetError e = NetError::kOk;
  listener_ = transport_.Listen(shared_->options.host, shared_->options.port, &e);
  if (!listener_) return e;
  *port = listener_->port();
  LMC_CHECK(*port != 0, "listening on port 0 of ", shared_->options.host);
  AcceptLoop(std::make_shared<Acceptor>(shared_, listener_, transport_));
  return NetError::kOk;
}

// The accept loop holds the shared state and the listener, never the Server:
// a handler may still run after the Server is gone (it then sees `stopped`).
// Its handlers and its retry timer run on the transport's loop.
struct Server::Acceptor {
  Acceptor(std::shared_ptr<Shared> s, std::shared_ptr<net::Listener> l, net::Transport& t)
      : shared(std::move(s)), listener(std::move(l)), transport(t), retry(t.MakeTimer()) {}
  std::shared_ptr<Shared> shared;
  std::shared_ptr<net::Listener> listener;
  net::Transport& transport;
  std::unique_ptr<net::Timer> retry;
  std::chrono::milliseconds backoff{0};  // 0 while accepts succeed
};

void Server::AcceptLoop(const std::shared_ptr<Acceptor>& a) {
  a->listener->AsyncAccept([a](NetError e, std::unique_ptr<net::Stream> stream) {
    if (e == NetError::kCancelled) return;
    Shared& shared = *a->shared;
    std::shared_ptr<Connection> c;
    std::vector<std::shared_ptr<Connection>> seen;  // released after the lock
    {
      std::lock_guard lock(shared.mu);
      if (shared.stopped) {
        if (stream) stream->Close();
        return;
      }
      // At the cap, the connection idle the longest (no request in flight)
      // is closed to admit this one; an active one never is.
      if (e == NetError::kOk && shared.connections.size() >= shared.options.max_connections + shared.closing &&
          shared.CloseLongestIdleLocked(&seen))
        shared.counters.connections_evicted.fetch_add(1, std::memory_order_relaxed);
      if (e == NetError::kOk && shared.connections.size() < shared.options.max_connections + shared.closing) {
        const std::uint64_t key = ++shared.accepted;
        c = std::make_shared<Connection>(a->shared, a->transport, std::move(stream), key);
        LMC_CHECK(shared.connections.emplace(key, c).second, "connection key ", key, " registered twice");
        shared.peak_connections = std::max(shared.peak_connections, shared.connections.size());
      } else if (stream) {
        shared.counters.connections_refused.fetch_add(1, std::memory_order_relaxed);
        stream->Close();
      }
    }
    if (c) c->Begin();
    if (e == NetError::kOk) {
      a->backoff = std::chrono::milliseconds(0);
      AcceptLoop(a);
      return;
    }
    // The pending connection stays queued in the kernel; try again later
    // instead of at once (an accept out of descriptors fails immediately).
    shared.counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
    a->backoff = std::clamp(a->backoff * 2, std::chrono::milliseconds(1), shared.options.accept_retry_max);
    a->retry->AsyncWait(a->backoff, [a](NetError te) {
      if (te == NetError::kOk) AcceptLoop(a);
    });
  });
}

void Server::Stop() {
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopped) return;
    shared_->stopped = true;
    for (auto& [ptr, weak] : shared_->connections) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
  }
  if (listener_) listener_->Close();
  for (const auto& c : open) c->Shutdown();
}

std::size_t Server::pinned_bytes() const { return shared_->pins.in_use_bytes(); }

std::size_t Server::open_connections() const {
  std::lock_guard lock(shared_->mu);
  return shared_->connections.size();
}

std::string FormatCounters(const protocol::ServerCounters& c, const store::StoreStats& s) {
  std::ostringstream o;
  const auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  o << "connections " << v(c.connections) << "\n"
    << "commands put " << v(c.commands[1]) << " get " << v(c.commands[2]) << " exist " << v(c.commands[3]) << " list "
    << v(c.commands[4]) << " health " << v(c.commands[5]) << "\n"
    << "bytes_in " << v(c.bytes_in) << " bytes_out " << v(c.bytes_out) << "\n"
    << "hits " << v(c.hits) << " misses " << v(c.misses) << " evictions " << s.evictions << "\n"
    << "accept_errors " << v(c.accept_errors) << " connections_refused " << v(c.connections_refused)
    << " connections_evicted " << v(c.connections_evicted) << " idle_timeouts " << v(c.idle_timeouts) << "\n"
    << "rejects";
  for (int r = 0; r < static_cast<int>(protocol::Reject::kCount); ++r) {
    o << " " << protocol::RejectName(static_cast<protocol::Reject>(r)) << " " << v(c.rejects[r]);
  }
  o << "\nstore objects " << s.objects << " used_bytes " << s.used_bytes << " capacity_bytes " << s.capacity_bytes
    << " chunk_bytes " << s.chunk_bytes << " free_chunks " << s.free_chunks << " pages " << s.pages << "\n"
    << "store reserved_bytes " << s.reserved_bytes << " early_evictions " << s.early_evictions << " pinned_skipped "
    << s.pinned_skipped << " reserve_failures " << s.reserve_failures << "\n";
  return o.str();
}

}  // namespace lmc::server
