#include "resp/client.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "runtime/connect.h"

namespace lmc::resp {

using net::NetError;
using runtime::Clock;

std::string_view StatusName(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kMiss: return "miss";
    case Status::kTooLarge: return "too large";
    case Status::kUnavailable: return "unavailable";
    case Status::kTimedOut: return "deadline exceeded";
    case Status::kServerError: return "server error";
    case Status::kProtocol: return "protocol error";
    case Status::kAuth: return "AUTH refused";
    case Status::kClosed: return "closed";
  }
  return "?";
}

namespace {
void Say(std::string* detail, std::string what) {
  if (detail != nullptr) *detail = std::move(what);
}
}  // namespace

// One call's answer, handed from the connection's loop to the caller. The
// loop side ends every call with exactly one Finish, after which it holds
// none of the caller's buffers.
struct Client::Exchange {
  base::Mutex mu;
  Status status = Status::kOk;
  Reply reply;
  std::string detail;
  bool finished = false;
  std::unique_ptr<runtime::Waiter> done;
  // A GET's value read straight into the caller's buffer (the loop's state
  // of it; `into_size` is SIZE_MAX unless the whole value landed there).
  std::span<std::byte> into;
  std::string head;  // "$<len>\r\n", as it arrives
  std::size_t len = 0, got = 0, trailer = 0;
  int phase = 0;  // 0: the header line, 1: the value, 2: its "\r\n", 3: handed to the reader
  std::size_t into_size = SIZE_MAX;

  void Finish(Status s, Reply r, std::string d) {
    {
      std::lock_guard lock(mu);
      if (finished) return;
      finished = true;
      status = s;
      reply = std::move(r);
      detail = std::move(d);
    }
    done->Notify();
  }
};

// One connection. Calls on it are made one at a time (its pool hands it to
// one caller); its reads and writes run on its stream's loop.
class Client::Link {
 public:
  Link(std::unique_ptr<net::Stream> stream, const ReaderLimits& limits, std::string node)
      : state_(std::make_shared<State>(std::move(stream), limits)), node_(std::move(node)) {}
  ~Link() { Close(); }

  // `into` (a GET's): a bulk string that fits goes straight there, with no
  // copy through the reply reader; *into_size is then its length (else
  // SIZE_MAX, and the reply is in *out).
  Status Call(runtime::Env& env, const Command& cmd, Clock::time_point deadline, Reply* out, std::string* detail,
              std::span<std::byte> into = {}, std::size_t* into_size = nullptr) {
    if (broken()) {
      Say(detail, node_ + ": connection lost");
      return Status::kUnavailable;
    }
    auto x = std::make_shared<Exchange>();
    x->done = env.MakeWaiter();
    x->into = into;
    x->phase = into.empty() ? 3 : 0;
    std::shared_ptr<State> st = state_;
    st->stream->Dispatch([st, x, &cmd] { Send(st, x, cmd); });
    if (!x->done->WaitUntil(deadline)) {
      // Out of step now: close it, and wait for the loop to let go of the
      // command's buffers (its handlers run at once, cancelled).
      Close();
      (void)x->done->WaitUntil(env.Now() + std::chrono::seconds(5));
      std::lock_guard lock(x->mu);
      LMC_CHECK(x->finished, "a RESP call's buffers still in use 5 s after its connection closed");
      Say(detail, node_ + ": no reply by the deadline");
      return Status::kTimedOut;
    }
    std::lock_guard lock(x->mu);
    if (x->status != Status::kOk) {
      state_->broken = true;
      Say(detail, node_ + ": " + x->detail);
      return x->status;
    }
    *out = std::move(x->reply);
    if (into_size != nullptr) *into_size = x->into_size;
    return Status::kOk;
  }

  bool broken() const { return state_->broken.load(); }
  void Close() {
    if (!state_->closed.exchange(true)) {
      state_->broken = true;
      state_->stream->Close();
    }
  }

 private:
  struct State {
    State(std::unique_ptr<net::Stream> s, const ReaderLimits& limits)
        : stream(std::move(s)), reader(limits), buffer(std::size_t{64} << 10) {}
    std::unique_ptr<net::Stream> stream;
    ReplyReader reader;  // on the loop only
    std::vector<std::byte> buffer;
    std::atomic<bool> broken{false};
    std::atomic<bool> closed{false};
  };

  static void Send(const std::shared_ptr<State>& st, const std::shared_ptr<Exchange>& x, const Command& cmd) {
    std::array<std::span<const std::byte>, 3> iov = {std::as_bytes(std::span(cmd.head())), cmd.payload(),
                                                     std::as_bytes(std::span(cmd.tail()))};
    st->stream->AsyncWrite(iov, [st, x](NetError e, std::size_t) {
      if (e != NetError::kOk) return x->Finish(Status::kUnavailable, {}, "send: " + std::string(NetErrorName(e)));
      ReadReply(st, x);
    });
  }

  // A GET's reply, read into its buffer: the header line, the value straight
  // into `into`, the trailer. Anything but a bulk string that fits goes to
  // the reply reader as it came (phase 3).
  static void ReadInto(const std::shared_ptr<State>& st, const std::shared_ptr<Exchange>& x,
                       std::span<const std::byte> bytes) {
    while (!bytes.empty() && x->phase < 3) {
      if (x->phase == 0) {
        x->head.push_back(static_cast<char>(bytes.front()));
        bytes = bytes.subspan(1);
        const std::string& h = x->head;
        if (h.size() < 2 || h.compare(h.size() - 2, 2, "\r\n") != 0) {
          if (h.size() > 24 || h[0] != '$') x->phase = 3;  // not a bulk header: the reader's
          continue;
        }
        std::size_t len = 0;
        bool ok = h.size() > 3 && h[0] == '$';
        for (std::size_t i = 1; ok && i + 2 < h.size(); ++i) {
          ok = h[i] >= '0' && h[i] <= '9' && len <= (SIZE_MAX - 9) / 10;
          len = len * 10 + static_cast<std::size_t>(h[i] - '0');
        }
        if (!ok || len > x->into.size()) {
          x->phase = 3;  // nil, or a value that does not fit: the reader's
          continue;
        }
        x->len = len;
        x->phase = 1;
      } else if (x->phase == 1) {
        const std::size_t n = std::min(bytes.size(), x->len - x->got);
        if (n > 0) std::memcpy(x->into.data() + x->got, bytes.data(), n);
        x->got += n;
        bytes = bytes.subspan(n);
        if (x->got == x->len) x->phase = 2;
      } else {
        if (bytes.front() != static_cast<std::byte>(x->trailer == 0 ? '\r' : '\n'))
          return x->Finish(Status::kProtocol, {}, "bad reply: a bulk string without its \\r\\n");
        bytes = bytes.subspan(1);
        if (++x->trailer == 2) {
          if (!bytes.empty()) return x->Finish(Status::kProtocol, {}, "bad reply: bytes after the reply");
          x->into_size = x->len;
          Reply r;
          r.type = Reply::Type::kString;
          return x->Finish(Status::kOk, std::move(r), {});
        }
      }
    }
    if (x->phase == 3) {
      const std::span<const std::byte> head = std::as_bytes(std::span(x->head));
      if (!st->reader.Feed(head) || !st->reader.Feed(bytes))
        return x->Finish(Status::kProtocol, {}, "bad reply: " + st->reader.error());
      return ReadReply(st, x);
    }
    // More to come: the value's rest straight into the buffer.
    const std::span<std::byte> dst = x->phase == 1 ? x->into.subspan(x->got, x->len - x->got) : std::span(st->buffer);
    // The hint holds for this read only: the next one sets its own.
    st->stream->SetReadLowWater(x->phase == 1 ? x->len - x->got : 0);
    st->stream->AsyncReadSome(dst, [st, x, in_place = x->phase == 1](NetError e, std::size_t n) {
      if (e != NetError::kOk) return x->Finish(Status::kUnavailable, {}, "receive: " + std::string(NetErrorName(e)));
      if (in_place) {
        x->got += n;
        if (x->got == x->len) x->phase = 2;
        return ReadInto(st, x, {});
      }
      ReadInto(st, x, std::span(st->buffer).first(n));
    });
  }

  static void ReadReply(const std::shared_ptr<State>& st, const std::shared_ptr<Exchange>& x) {
    if (x->phase < 3) return ReadInto(st, x, {});
    Reply r;
    switch (st->reader.Next(&r)) {
      case ReplyReader::Status::kReply:
        // One command, one reply: anything more is a peer out of step (its
        // next reply would answer the next call).
        if (st->reader.buffered() != 0) return x->Finish(Status::kProtocol, {}, "bad reply: bytes after the reply");
        return x->Finish(Status::kOk, std::move(r), {});
      case ReplyReader::Status::kError: return x->Finish(Status::kProtocol, {}, "bad reply: " + st->reader.error());
      case ReplyReader::Status::kNeedMore: break;
    }
    st->stream->SetReadLowWater(0);
    st->stream->AsyncReadSome(st->buffer, [st, x](NetError e, std::size_t n) {
      if (e != NetError::kOk) return x->Finish(Status::kUnavailable, {}, "receive: " + std::string(NetErrorName(e)));
      if (!st->reader.Feed(std::span(st->buffer).first(n)))
        return x->Finish(Status::kProtocol, {}, "bad reply: " + st->reader.error());
      ReadReply(st, x);
    });
  }

  std::shared_ptr<State> state_;
  std::string node_;
};

// The connections to one node.
class Client::Pool {
 public:
  Pool(runtime::Env& env, Node node, const ClientOptions& options, std::shared_ptr<ClientStats> stats,
       base::Mutex& stats_mu)
      : env_(env),
        node_(std::move(node)),
        options_(options),
        stats_(std::move(stats)),
        stats_mu_(stats_mu),
        backoff_(options.backoff_min) {}

  const Node& node() const { return node_; }

  std::shared_ptr<Link> Acquire(Clock::time_point deadline, Status* error, std::string* detail) {
    std::unique_lock lock(mu_);
    for (;;) {
      if (closed_) {
        *error = Status::kClosed;
        return nullptr;
      }
      if (!idle_.empty()) {
        std::shared_ptr<Link> link = std::move(idle_.back());
        idle_.pop_back();
        if (!link->broken()) return link;
        --open_;
        continue;
      }
      if (env_.Now() < down_until_) {
        Count(&ClientStats::fast_failures);
        *error = last_error_ == Status::kAuth ? Status::kAuth : Status::kUnavailable;
        Say(detail, node_.Name() + " is backing off after: " + last_detail_);
        return nullptr;
      }
      if (open_ < std::max(1u, options_.connections_per_node)) {
        ++open_;
        lock.unlock();
        std::string why;
        std::shared_ptr<Link> link = Connect(deadline, error, &why);
        lock.lock();
        if (link) {
          backoff_ = options_.backoff_min;
          all_.push_back(link);
          if (closed_) link->Close();
          return link;
        }
        --open_;
        if (*error != Status::kTimedOut) {
          down_until_ = env_.Now() + backoff_;
          backoff_ = std::min(backoff_ * 2, options_.backoff_max);
          last_error_ = *error;
          last_detail_ = why;
        }
        waiting_.NotifyAllLocked();
        Say(detail, why);
        return nullptr;
      }
      if (!waiting_.Wait(env_, lock, deadline)) {
        *error = Status::kTimedOut;
        Say(detail, node_.Name() + ": every connection busy until the deadline");
        return nullptr;
      }
    }
  }

  void Release(std::shared_ptr<Link> link) {
    std::lock_guard lock(mu_);
    if (link->broken() || closed_) {
      link->Close();
      --open_;
    } else {
      idle_.push_back(std::move(link));
    }
    waiting_.NotifyAllLocked();
  }

  // The node failed a call: no new connection before the back-off.
  void MarkDown(std::string why) {
    std::lock_guard lock(mu_);
    down_until_ = env_.Now() + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    last_error_ = Status::kUnavailable;
    last_detail_ = std::move(why);
  }

  bool Down() const {
    std::lock_guard lock(mu_);
    return env_.Now() < down_until_;
  }

  void Close() {
    std::vector<std::weak_ptr<Link>> all;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      idle_.clear();
      all.swap(all_);
      waiting_.NotifyAllLocked();
    }
    for (const auto& w : all)
      if (std::shared_ptr<Link> l = w.lock()) l->Close();
  }

 private:
  void Count(std::uint64_t ClientStats::*field) {
    std::lock_guard lock(stats_mu_);
    ++((*stats_).*field);
  }

  std::shared_ptr<Link> Connect(Clock::time_point deadline, Status* error, std::string* detail) {
    NetError e = NetError::kOk;
    std::unique_ptr<net::Stream> stream = runtime::ConnectUntil(
        env_, node_.host, node_.port, std::min(deadline, env_.Now() + options_.connect_timeout), &e);
    if (!stream) {
      Count(&ClientStats::connect_failures);
      *error = e == NetError::kTimedOut && env_.Now() >= deadline ? Status::kTimedOut : Status::kUnavailable;
      *detail = node_.Name() + ": connect: " + std::string(NetErrorName(e));
      return nullptr;
    }
    Count(&ClientStats::connects);
    auto link = std::make_shared<Link>(std::move(stream), options_.limits, node_.Name());
    if (options_.password.empty()) return link;
    Reply r;
    const Command auth = options_.username.empty() ? Command({"AUTH", options_.password})
                                                   : Command({"AUTH", options_.username, options_.password});
    const Status s = link->Call(env_, auth, deadline, &r, detail);
    if (s != Status::kOk) {
      *error = s;
      return nullptr;
    }
    if (!r.is_ok_status()) {
      *error = Status::kAuth;
      *detail = node_.Name() + ": AUTH refused: " + (r.is_error() ? r.str : std::string(ReplyTypeName(r.type)));
      return nullptr;
    }
    return link;
  }

  runtime::Env& env_;
  const Node node_;
  const ClientOptions& options_;
  std::shared_ptr<ClientStats> stats_;
  base::Mutex& stats_mu_;
  mutable base::Mutex mu_;
  std::vector<std::shared_ptr<Link>> idle_;
  std::vector<std::weak_ptr<Link>> all_;
  unsigned open_ = 0;
  bool closed_ = false;
  Clock::time_point down_until_{};
  std::chrono::milliseconds backoff_;
  Status last_error_ = Status::kOk;
  std::string last_detail_;
  runtime::WaitList waiting_;
};

Client::Client(runtime::Env& env, ClientOptions options)
    : env_(env), options_(std::move(options)), stats_(std::make_shared<ClientStats>()) {
  for (const Node& n : options_.nodes) (void)PoolFor(n.host, n.port);
}

Client::~Client() { Close(); }

void Client::Close() {
  std::vector<Pool*> pools;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [name, p] : pools_) pools.push_back(p.get());
  }
  for (Pool* p : pools) p->Close();
}

ClientStats Client::Stats() const {
  std::lock_guard lock(stats_mu_);
  return *stats_;
}

bool Client::Healthy() const {
  std::vector<const Pool*> pools;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, p] : pools_) pools.push_back(p.get());
  }
  return std::none_of(pools.begin(), pools.end(), [](const Pool* p) { return p->Down(); });
}

Client::Pool& Client::PoolFor(const std::string& host, std::uint16_t port) {
  std::lock_guard lock(mu_);
  const std::string name = Node{host, port}.Name();
  std::unique_ptr<Pool>& p = pools_[name];
  if (!p) p = std::make_unique<Pool>(env_, Node{host, port}, options_, stats_, stats_mu_);
  return *p;
}

Status Client::RefreshSlots(Clock::time_point deadline, std::string* detail) {
  std::vector<Pool*> order;
  {
    {
      std::lock_guard stats(stats_mu_);
      ++stats_->slot_refreshes;
    }
    std::lock_guard lock(mu_);
    for (const Node& n : options_.nodes) order.push_back(pools_.at(n.Name()).get());
    for (auto& [name, p] : pools_)
      if (std::find(order.begin(), order.end(), p.get()) == order.end()) order.push_back(p.get());
  }
  Status last = Status::kUnavailable;
  std::string why = "no startup node";
  for (Pool* pool : order) {
    Status s = Status::kOk;
    std::shared_ptr<Link> link = pool->Acquire(deadline, &s, &why);
    if (!link) {
      if (s == Status::kAuth || last != Status::kAuth) last = s;
      continue;
    }
    Reply r;
    s = link->Call(env_, Command({"CLUSTER", "SLOTS"}), deadline, &r, &why);
    pool->Release(std::move(link));
    if (s != Status::kOk) {
      last = s;
      continue;
    }
    if (r.is_error()) {
      last = Status::kServerError;
      why = pool->node().Name() + ": CLUSTER SLOTS: " + r.str;
      continue;
    }
    // [[start, end, [host, port, ...], replicas...], ...]
    std::vector<std::pair<std::pair<long long, long long>, Node>> ranges;
    bool ok = r.type == Reply::Type::kArray;
    for (std::size_t i = 0; ok && i < r.elements.size(); ++i) {
      const Reply& e = r.elements[i];
      ok = e.type == Reply::Type::kArray && e.elements.size() >= 3 && e.elements[0].type == Reply::Type::kInteger &&
           e.elements[1].type == Reply::Type::kInteger && e.elements[2].type == Reply::Type::kArray &&
           e.elements[2].elements.size() >= 2 && e.elements[2].elements[0].type == Reply::Type::kString &&
           e.elements[2].elements[1].type == Reply::Type::kInteger;
      if (!ok) break;
      const long long lo = e.elements[0].integer, hi = e.elements[1].integer, port = e.elements[2].elements[1].integer;
      ok = lo >= 0 && lo <= hi && hi < kSlots && port > 0 && port <= 65535;
      if (!ok) break;
      std::string host = e.elements[2].elements[0].str;
      if (host.empty() || host == "?") host = pool->node().host;
      ranges.push_back({{lo, hi}, Node{host, static_cast<std::uint16_t>(port)}});
    }
    if (!ok) {
      last = Status::kProtocol;
      why = pool->node().Name() + ": CLUSTER SLOTS answered something else than a slot map";
      continue;
    }
    std::vector<Pool*> slots(kSlots, nullptr);
    for (const auto& [range, node] : ranges) {
      Pool* p = &PoolFor(node.host, node.port);
      for (long long s2 = range.first; s2 <= range.second; ++s2) slots[static_cast<std::size_t>(s2)] = p;
    }
    std::lock_guard lock(mu_);
    slots_ = std::move(slots);
    slots_stale_ = false;
    return Status::kOk;
  }
  Say(detail, why);
  return last;
}

Client::Pool* Client::PoolForSlot(std::uint16_t slot, Clock::time_point deadline) {
  bool refresh = false;
  {
    std::lock_guard lock(mu_);
    if (slots_stale_ && env_.Now() >= next_refresh_) {
      next_refresh_ = env_.Now() + options_.backoff_min;
      refresh = true;
    }
  }
  if (refresh) (void)RefreshSlots(deadline, nullptr);
  std::lock_guard lock(mu_);
  Pool* p = slot < slots_.size() ? slots_[slot] : nullptr;
  if (p == nullptr) slots_stale_ = true;
  return p;
}

Status Client::Routed(std::string_view key, const Command& cmd, std::span<std::byte> into, Reply* out,
                      std::string* detail, std::size_t* into_size) {
  const Clock::time_point deadline = env_.Now() + options_.call_timeout;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status::kClosed;
  }
  Pool* pool = nullptr;
  if (options_.cluster) {
    pool = PoolForSlot(KeySlot(key), deadline);
    if (pool == nullptr) {
      Say(detail, "no node serves slot " + std::to_string(KeySlot(key)) + " (the slot map is being fetched)");
      return Status::kUnavailable;
    }
  } else {
    if (options_.nodes.empty()) return Status::kUnavailable;
    pool = &PoolFor(options_.nodes[0].host, options_.nodes[0].port);
  }
  bool asking = false;
  for (int hop = 0;; ++hop) {
    Status s = Status::kOk;
    std::shared_ptr<Link> link = pool->Acquire(deadline, &s, detail);
    if (!link) {
      if (options_.cluster) {
        std::lock_guard lock(mu_);
        slots_stale_ = true;
      }
      return s;
    }
    if (asking) {
      Reply r;
      s = link->Call(env_, Command({"ASKING"}), deadline, &r, detail);
      if (s == Status::kOk && !r.is_ok_status()) {
        s = Status::kProtocol;
        Say(detail, pool->node().Name() + ": ASKING was not answered OK");
      }
    }
    if (s == Status::kOk) s = link->Call(env_, cmd, deadline, out, detail, into, into_size);
    const bool lost = link->broken();
    pool->Release(std::move(link));
    if (s != Status::kOk) {
      if (s == Status::kTimedOut) {
        std::lock_guard lock(stats_mu_);
        ++stats_->timeouts;
      }
      if (lost && s == Status::kUnavailable) pool->MarkDown(detail != nullptr ? *detail : "connection lost");
      if (options_.cluster) {
        std::lock_guard lock(mu_);
        slots_stale_ = true;
      }
      return s;
    }
    Redirect r;
    if (!options_.cluster || !out->is_error() || !ParseRedirect(out->str, &r)) return Status::kOk;
    if (hop >= options_.max_redirects) {
      Say(detail, "more than " + std::to_string(options_.max_redirects) + " redirects: " + out->str);
      return Status::kServerError;
    }
    Pool& next = PoolFor(r.host.empty() ? pool->node().host : r.host, r.port);
    {
      std::lock_guard stats(stats_mu_);
      ++(r.ask ? stats_->asked : stats_->moved);
    }
    {
      std::lock_guard lock(mu_);
      if (!r.ask) {
        if (slots_.size() == kSlots) slots_[r.slot] = &next;
        slots_stale_ = true;  // a slot moved: others may have too
      }
    }
    asking = r.ask;
    pool = &next;
  }
}

Status Client::Check(std::string* detail) {
  if (options_.nodes.empty()) {
    Say(detail, "no node to connect to");
    return Status::kUnavailable;
  }
  const Clock::time_point deadline = env_.Now() + options_.call_timeout;
  if (options_.cluster) return RefreshSlots(deadline, detail);
  Reply r;
  const Status s = Routed("", Command({"PING"}), {}, &r, detail);
  if (s != Status::kOk) return s;
  if (r.type != Reply::Type::kStatus || r.str != "PONG") {
    Say(detail,
        options_.nodes[0].Name() + ": PING answered " + (r.is_error() ? r.str : std::string(ReplyTypeName(r.type))));
    return r.is_error() && r.str.rfind("NOAUTH", 0) == 0 ? Status::kAuth : Status::kServerError;
  }
  return Status::kOk;
}

Status Client::Set(std::string_view key, std::span<const std::byte> value) {
  static const std::byte kEmpty{};
  if (value.data() == nullptr) value = std::span(&kEmpty, 0);  // an empty value is still an argument
  Reply r;
  const Status s = Routed(key, Command({"SET", key}, value), {}, &r, nullptr);
  if (s != Status::kOk) return s;
  if (r.is_ok_status()) return Status::kOk;
  return r.is_error() ? Status::kServerError : Status::kProtocol;
}

Status Client::Get(std::string_view key, std::span<std::byte> dst, bool exact, std::size_t* size) {
  Reply r;
  std::size_t in_place = SIZE_MAX;
  const Status s = Routed(key, Command({"GET", key}), dst, &r, nullptr, &in_place);
  if (s != Status::kOk) return s;
  if (in_place != SIZE_MAX) {  // read straight into dst
    if (exact && in_place != dst.size()) return Status::kTooLarge;
    *size = in_place;
    return Status::kOk;
  }
  if (r.type == Reply::Type::kNil) return Status::kMiss;
  if (r.is_error()) return Status::kServerError;
  if (r.type != Reply::Type::kString) return Status::kProtocol;
  if (r.str.size() > dst.size() || (exact && r.str.size() != dst.size())) return Status::kTooLarge;
  if (!r.str.empty()) std::memcpy(dst.data(), r.str.data(), r.str.size());
  *size = r.str.size();
  return Status::kOk;
}

Status Client::Exists(std::string_view key) {
  Reply r;
  const Status s = Routed(key, Command({"EXISTS", key}), {}, &r, nullptr);
  if (s != Status::kOk) return s;
  if (r.is_error()) return Status::kServerError;
  if (r.type != Reply::Type::kInteger || r.integer < 0 || r.integer > 1) return Status::kProtocol;
  return r.integer == 1 ? Status::kOk : Status::kMiss;
}

Status Client::Del(std::string_view key) {
  Reply r;
  const Status s = Routed(key, Command({"DEL", key}), {}, &r, nullptr);
  if (s != Status::kOk) return s;
  if (r.is_error()) return Status::kServerError;
  if (r.type != Reply::Type::kInteger) return Status::kProtocol;
  return r.integer > 0 ? Status::kOk : Status::kMiss;
}

Status Client::Call(const std::vector<std::string>& args, Reply* out, std::string* detail) {
  if (args.empty()) return Status::kProtocol;
  return Routed(args.size() > 1 ? std::string_view(args[1]) : std::string_view(), Command(args), {}, out, detail);
}

}  // namespace lmc::resp
