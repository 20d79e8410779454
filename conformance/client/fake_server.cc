#include "conformance/client/fake_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "wire/cache_key.h"

namespace lmc::conformance::client_mode {

namespace {

using Clock = Deadline::Clock;
using std::chrono::milliseconds;

// How often a server thread looks at the stop flag.
constexpr milliseconds kSlice{20};
// The bytes of a reply cut short by kShortThenClose.
constexpr std::size_t kShortReplyBytes = 20;
constexpr std::int32_t kPut = 1, kGet = 2, kExist = 3, kList = 4, kHealth = 5;

std::string Dummy(std::int32_t code) {
  wire::ReplyHeader h;
  h.code = code;
  return ReplyBytes(h);  // length 0, fmt 1, dtype 2, shape 0, location 0 (§1.5)
}

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

std::string_view BugName(Bug b) {
  switch (b) {
    case Bug::kNone: return "none";
    case Bug::kSplitBytes: return "reply split into single bytes";
    case Bug::kShortThenClose: return "short reply, then close";
    case Bug::kResetMidBody: return "reset in the middle of the reply";
    case Bug::kCode999: return "reply code 999";
    case Bug::kLate: return "late reply";
    case Bug::kCloseBeforeReply: return "close before replying";
    case Bug::kResetBeforeReply: return "reset before replying";
    case Bug::kSilent: return "no reply";
    case Bug::kHugeClaim: return "reply claiming 2^31-1 bytes, then close";
    case Bug::kFail400: return "FAIL instead of the honest reply";
    case Bug::kResetAfterReply: return "reset after the reply";
  }
  return "?";
}

std::string MetadataInconsistency(std::int32_t length, std::int32_t dtype, const wire::Shape& shape,
                                  std::uint64_t body_bytes) {
  static constexpr std::uint64_t kItemBytes[] = {1, 2, 2, 2, 4, 8, 1, 1, 1};  // dtype codes 0..8 (§2.3)
  const std::string fields = "length " + std::to_string(length) + ", dtype " + std::to_string(dtype) + ", shape [" +
                             std::to_string(shape[0]) + "," + std::to_string(shape[1]) + "," +
                             std::to_string(shape[2]) + "," + std::to_string(shape[3]) + "]";
  if (dtype < 0 || dtype > 8) return fields + ": dtype has no size";
  std::size_t dims = shape.size();
  while (dims > 0 && shape[dims - 1] == 0) --dims;
  std::uint64_t elements = dims == 0 ? 0 : 1;
  for (std::size_t i = 0; i < dims; ++i) {
    if (shape[i] < 0) return fields + ": a negative dimension";
    const auto dim = static_cast<std::uint64_t>(shape[i]);
    if (dim != 0 && elements > (std::uint64_t{1} << 40) / dim) return fields + ": the shape describes over 1 TiB";
    elements *= dim;
  }
  const std::uint64_t described = elements * kItemBytes[dtype];
  if (length < 0 || described != static_cast<std::uint64_t>(length)) {
    return fields + ": the shape and dtype describe " + std::to_string(described) + " bytes";
  }
  if (body_bytes != described) return fields + ": " + std::to_string(body_bytes) + " body bytes follow";
  return "";
}

std::optional<std::string> CanonicalKey(std::string_view key) {
  wire::CacheKey k;
  if (wire::ParseCacheKey(key, &k) != wire::KeyError::kOk) return std::nullopt;
  std::string out;
  if (wire::RenderCacheKey(k, &out) != wire::KeyError::kOk) return std::nullopt;
  return out;
}

FakeServer::FakeServer(Deadline deadline) : deadline_(deadline) {
  std::string error;
  if (!listener_.Listen(0, &error)) Fail("the runner cannot listen on 127.0.0.1: " + error);
  port_ = listener_.port();
  listening_ = true;
}

FakeServer::~FakeServer() { Stop(); }

void FakeServer::Start() {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void FakeServer::SetBugs(const Bugs& b) {
  std::lock_guard lock(mu_);
  bugs_ = b;
}

void FakeServer::Preload(std::string_view key, StoredObject o) {
  const std::optional<std::string> canonical = CanonicalKey(key);
  if (!canonical) Fail("the runner's own key '" + std::string(key) + "' does not parse");
  auto bytes = std::make_shared<const std::string>(std::move(o.bytes));
  o.bytes.clear();
  std::lock_guard lock(mu_);
  if (store_.find(*canonical) == store_.end()) order_.push_back(*canonical);
  store_[*canonical] = Entry{std::move(o), std::move(bytes)};
}

void FakeServer::Refuse() {
  std::lock_guard lock(listen_mu_);
  listener_.Close();
  listening_ = false;
  std::lock_guard trace_lock(mu_);
  accept_trace_.Note("server: listener closed: connects to port " + std::to_string(port_) + " are refused");
}

bool FakeServer::Reopen(std::string* error) {
  std::lock_guard lock(listen_mu_);
  if (!listener_.Listen(port_, error)) return false;
  listening_ = true;
  std::lock_guard trace_lock(mu_);
  accept_trace_.Note("server: listening on port " + std::to_string(port_) + " again");
  return true;
}

std::vector<Seen> FakeServer::Requests() const {
  std::lock_guard lock(mu_);
  return seen_;
}

std::vector<std::string> FakeServer::InconsistentReplies() const {
  std::lock_guard lock(mu_);
  return inconsistent_;
}

std::vector<ConnInfo> FakeServer::Connections() const {
  std::lock_guard lock(mu_);
  return conns_;
}

std::optional<StoredObject> FakeServer::Lookup(std::string_view key) const {
  const std::optional<std::string> canonical = CanonicalKey(key);
  if (!canonical) return std::nullopt;
  std::lock_guard lock(mu_);
  const auto it = store_.find(*canonical);
  if (it == store_.end()) return std::nullopt;
  StoredObject o = it->second.fields;
  o.bytes = *it->second.bytes;
  return o;
}

bool FakeServer::WaitFor(const std::function<bool(const std::vector<Seen>&, const std::vector<ConnInfo>&)>& ready,
                         const Deadline& d) const {
  std::unique_lock lock(mu_);
  return changed_.wait_until(lock, d.at(), [&] { return ready(seen_, conns_); });
}

void FakeServer::Stop() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  for (Connection& c : connections_) {
    if (c.thread.joinable()) c.thread.join();
  }
  std::lock_guard lock(listen_mu_);
  listener_.Close();
  listening_ = false;
}

void FakeServer::MoveTraceInto(TraceSink* into) {
  if (into == nullptr) return;
  std::lock_guard lock(mu_);
  for (std::string& line : accept_trace_.lines) into->Note(std::move(line));
  accept_trace_.lines.clear();
  for (Connection& c : connections_) {
    if (c.thread.joinable()) continue;  // still serving: its trace is its own
    for (std::string& line : c.trace.lines) into->Note(std::move(line));
    c.trace.lines.clear();
  }
}

void FakeServer::AcceptLoop() {
  while (!stop_ && !deadline_.expired()) {
    std::unique_lock lock(listen_mu_);
    if (!listening_) {
      lock.unlock();
      SleepFor(kSlice);
      continue;
    }
    Conn conn = listener_.Accept(deadline_.Within(kSlice), nullptr);
    lock.unlock();
    if (!conn.open()) continue;
    int index = 0;
    {
      std::lock_guard l(mu_);
      index = static_cast<int>(conns_.size());
      conns_.push_back(ConnInfo{Clock::now(), std::nullopt, false});
      changed_.notify_all();
    }
    Connection& c = connections_.emplace_back();
    c.index = index;
    c.conn = std::move(conn);
    c.conn.RecordInto(wire_, false);
    c.trace.Note("s" + std::to_string(index) + " accepted connection " + std::to_string(index));
    c.thread = std::thread([this, &c] { Serve(&c); });
  }
}

void FakeServer::Serve(Connection* c) {
  try {
    ServeLoop(c);
  } catch (...) {
    // A server thread never lets anything escape; the case sees what it
    // recorded.
    c->trace.Note("s" + std::to_string(c->index) + " stopped on an internal error");
  }
  c->conn.Close();
  std::lock_guard lock(mu_);
  conns_[static_cast<std::size_t>(c->index)].ended = true;
  changed_.notify_all();
}

FakeServer::End FakeServer::ReadFull(Connection* c, std::size_t n, std::string* out,
                                     const std::function<void(std::size_t)>& progress) {
  const std::size_t start = out->size();
  out->resize(start + n);
  std::size_t have = 0;
  End end = End::kComplete;
  while (have < n) {
    if (stop_ || deadline_.expired()) {
      end = End::kStopped;
      break;
    }
    pollfd p{c->conn.fd(), POLLIN, 0};
    const int k = ::poll(&p, 1, deadline_.Within(kSlice).RemainingMs());
    if (k <= 0) continue;
    const ssize_t r = ::recv(c->conn.fd(), out->data() + start + have, n - have, MSG_DONTWAIT);
    if (r > 0) {
      c->conn.RecordReceived(std::string_view(*out).substr(start + have, static_cast<std::size_t>(r)));
      have += static_cast<std::size_t>(r);
      if (progress) progress(have);
      continue;
    }
    if (r == 0) {
      c->conn.RecordPeerEnd(WireEvent::Kind::kFin);
      end = End::kClosed;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
    c->conn.RecordPeerEnd(WireEvent::Kind::kReset);
    end = End::kReset;
    break;
  }
  out->resize(start + have);
  return end;
}

bool FakeServer::SendAll(Connection* c, std::string_view bytes, bool note) {
  const std::string label = "s" + std::to_string(c->index);
  std::size_t done = 0;
  while (done < bytes.size()) {
    if (stop_ || deadline_.expired() || !c->conn.open()) break;
    const ssize_t n = ::send(c->conn.fd(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->conn.RecordSent(bytes.substr(done, static_cast<std::size_t>(n)));
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      pollfd p{c->conn.fd(), POLLOUT, 0};
      ::poll(&p, 1, deadline_.Within(kSlice).RemainingMs());
      continue;
    }
    break;
  }
  if (note || done < bytes.size()) {
    std::string line = label + " >> " + std::to_string(done) + " bytes";
    if (done < bytes.size()) line += " (of " + std::to_string(bytes.size()) + ": the client has gone)";
    if (bytes.size() >= wire::kReplyHeaderBytes) line += "  " + DescribeReply(bytes.substr(0, wire::kReplyHeaderBytes));
    line += "\n    " + Hex(bytes.substr(0, done), 256);
    c->trace.Note(std::move(line));
  }
  return done == bytes.size();
}

bool FakeServer::SleepFor(milliseconds d) {
  const Deadline until = deadline_.Within(d);
  while (!stop_ && !until.expired()) {
    std::this_thread::sleep_for(std::min<milliseconds>(milliseconds(until.RemainingMs()), kSlice));
  }
  return !stop_ && !deadline_.expired();
}

void FakeServer::Drop(Connection* c, bool reset) {
  if (reset) {
    c->conn.Reset();
  } else {
    c->conn.Close();
  }
  c->trace.Note("s" + std::to_string(c->index) +
                (reset ? " reset the connection (RST)" : " closed the connection (FIN)"));
  std::lock_guard lock(mu_);
  conns_[static_cast<std::size_t>(c->index)].dropped = Clock::now();
  changed_.notify_all();
}

Bug FakeServer::TakeBug(std::int32_t command, milliseconds* late) {
  std::lock_guard lock(mu_);
  if (bugs_.bug == Bug::kNone || bugs_.times == 0) return Bug::kNone;
  if (bugs_.command != 0 && bugs_.command != command) return Bug::kNone;
  // A PUT has no reply to misbehave with: only dropping it means anything.
  if (command == kPut && bugs_.bug != Bug::kResetBeforeReply && bugs_.bug != Bug::kCloseBeforeReply) {
    return Bug::kNone;
  }
  if (bugs_.times > 0) --bugs_.times;
  *late = bugs_.late;
  return bugs_.bug;
}

std::string FakeServer::HonestReply(const Seen& s, const std::optional<std::string>& canonical) {
  std::lock_guard lock(mu_);
  switch (s.command) {
    case kGet: {
      const auto it = store_.find(*canonical);
      if (it == store_.end()) return Dummy(400);
      const StoredObject& o = it->second.fields;
      if (std::string why = MetadataInconsistency(o.length, o.dtype, o.shape, it->second.bytes->size()); !why.empty()) {
        inconsistent_.push_back("GET " + *canonical + ": " + why);
      }
      wire::ReplyHeader h;
      h.code = 200;
      h.length = o.length;
      h.fmt = o.fmt;
      h.dtype = o.dtype;
      h.shape = o.shape;
      std::string reply = ReplyBytes(h);
      reply.reserve(reply.size() + it->second.bytes->size());
      reply += *it->second.bytes;
      return reply;
    }
    case kExist: return Dummy(store_.count(*canonical) != 0 ? 200 : 400);
    case kHealth: return Dummy(200);
    case kList: {
      std::string body;
      for (const std::string& k : order_) body += (body.empty() ? "" : "\n") + k;
      wire::ReplyHeader h;
      h.code = 200;
      h.length = static_cast<std::int32_t>(body.size());
      return ReplyBytes(h) + body;
    }
    default: return "";
  }
}

void FakeServer::ServeLoop(Connection* c) {
  const std::string label = "s" + std::to_string(c->index);
  for (;;) {
    std::string header;
    End end = ReadFull(c, wire::kRequestHeaderBytes, &header);
    if (end != End::kComplete) {
      if (!header.empty()) {
        c->trace.Note(label + " << " + std::to_string(header.size()) + " bytes of a request header, then " +
                      (end == End::kClosed  ? "EOF"
                       : end == End::kReset ? "a reset"
                                            : "the case ended") +
                      "\n    " + Hex(header, 256));
      } else if (end != End::kStopped) {
        c->trace.Note(label + (end == End::kClosed ? " << EOF" : " << connection reset"));
      }
      return;
    }
    Seen s;
    s.conn = c->index;
    s.header = header;
    s.at = Clock::now();
    wire::RequestView v;
    s.key_utf8 = wire::DecodeRequestView(Bytes(header), &v) == wire::WireError::kOk;
    s.command = v.command;
    s.length = v.length;
    if (s.key_utf8) s.key = std::string(v.key);
    c->trace.Note(label + " << 186 bytes  " + DescribeRequest(header) + "\n    " + Hex(header, 256));
    const bool has_payload = s.command == kPut && s.length > 0;
    s.complete = !has_payload;
    std::size_t index = 0;
    {
      std::lock_guard lock(mu_);
      index = seen_.size();
      seen_.push_back(s);
      changed_.notify_all();
    }
    if (has_payload) {
      std::string payload;
      end = ReadFull(c, static_cast<std::size_t>(s.length), &payload, [this, index](std::size_t have) {
        std::lock_guard lock(mu_);
        seen_[index].payload_have = have;
        changed_.notify_all();
      });
      c->trace.Note(label + " << " + std::to_string(payload.size()) + " payload bytes (of " + std::to_string(s.length) +
                    ")\n    " + Hex(payload, 64));
      s.payload_bytes = std::make_shared<const std::string>(std::move(payload));
      {
        std::lock_guard lock(mu_);
        seen_[index].payload_bytes = s.payload_bytes;
        seen_[index].payload_have = s.payload_bytes->size();
        seen_[index].complete = end == End::kComplete;
        changed_.notify_all();
      }
      if (end != End::kComplete) return;  // a PUT cut short stores nothing
    }

    milliseconds late{0};
    const Bug bug = TakeBug(s.command, &late);
    if (bug != Bug::kNone) {
      c->trace.Note(label + " misbehaves: " + std::string(BugName(bug)));
      std::lock_guard lock(mu_);
      seen_[index].bug = bug;
    }
    if (!wire::IsKnownCommand(s.command)) {
      c->trace.Note(label + ": unknown command, closed without a reply (as LMCache's IntEnum-era server)");
      Drop(c, false);
      return;
    }
    std::optional<std::string> canonical;
    if (s.command != kList) {
      if (s.key_utf8) canonical = CanonicalKey(s.key);
      if (!canonical) {
        c->trace.Note(label + ": the key is not an era F key; closed without a reply, as LMCache's server does");
        Drop(c, false);
        return;
      }
    }
    if (bug == Bug::kCloseBeforeReply || bug == Bug::kResetBeforeReply) {
      Drop(c, bug == Bug::kResetBeforeReply);
      return;
    }
    if (s.command == kPut) {
      std::lock_guard lock(mu_);
      if (store_.find(*canonical) == store_.end()) order_.push_back(*canonical);
      store_[*canonical] = Entry{StoredObject{s.length < 0 ? 0 : s.length, v.fmt, v.dtype, v.shape, {}},
                                 s.payload_bytes ? s.payload_bytes : std::make_shared<const std::string>()};
      continue;  // PUT has no reply
    }

    const std::string reply = HonestReply(s, canonical);
    switch (bug) {
      case Bug::kNone:
      case Bug::kCloseBeforeReply:
      case Bug::kResetBeforeReply:
        if (!SendAll(c, reply)) return;
        break;
      case Bug::kSplitBytes:
        for (std::size_t i = 0; i < reply.size(); ++i) {
          if (!SendAll(c, reply.substr(i, 1), /*note=*/false) || !SleepFor(milliseconds(1))) return;
        }
        c->trace.Note(label + " >> " + std::to_string(reply.size()) + " bytes, one at a time, 1 ms apart  " +
                      DescribeReply(reply.substr(0, wire::kReplyHeaderBytes)) + "\n    " + Hex(reply, 256));
        break;
      case Bug::kShortThenClose:
        SendAll(c, reply.substr(0, kShortReplyBytes));
        SleepFor(milliseconds(10));
        Drop(c, false);
        return;
      case Bug::kResetMidBody: {
        const std::size_t body = reply.size() - wire::kReplyHeaderBytes;
        const std::size_t cut = body > 0 ? wire::kReplyHeaderBytes + body / 2 : wire::kReplyHeaderBytes / 2;
        SendAll(c, reply.substr(0, cut));
        SleepFor(milliseconds(10));
        Drop(c, true);
        return;
      }
      case Bug::kCode999:
        if (!SendAll(c, Dummy(999))) return;
        break;
      case Bug::kLate:
        if (!SleepFor(std::chrono::duration_cast<milliseconds>(late - (Clock::now() - s.at)))) return;
        if (!SendAll(c, reply)) return;
        break;
      case Bug::kSilent: break;
      case Bug::kHugeClaim: {
        if (s.command != kGet) {
          if (!SendAll(c, reply)) return;
          break;
        }
        wire::ReplyHeader h;
        h.code = 200;
        h.length = INT32_MAX;
        h.fmt = 5;  // BINARY_BUFFER, dtype None, shape [n,0,0,0]: a consistent claim (§2.5)
        h.dtype = 0;
        h.shape = {INT32_MAX, 0, 0, 0};
        SendAll(c, ReplyBytes(h) + std::string(kHugeClaimSentBytes, '\x5a'));
        SleepFor(milliseconds(10));
        Drop(c, false);
        return;
      }
      case Bug::kFail400:
        if (!SendAll(c, Dummy(400))) return;
        break;
      case Bug::kResetAfterReply:
        SendAll(c, reply);
        SleepFor(milliseconds(10));
        Drop(c, true);
        return;
    }
  }
}

}  // namespace lmc::conformance::client_mode
