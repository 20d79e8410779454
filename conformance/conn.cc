#include "conformance/conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lmc::conformance {

std::string_view ReadEndName(ReadEnd e) {
  switch (e) {
    case ReadEnd::kComplete: return "complete";
    case ReadEnd::kClosed: return "connection closed by the peer";
    case ReadEnd::kReset: return "connection reset";
    case ReadEnd::kTimedOut: return "deadline exceeded";
  }
  return "?";
}

namespace {

void SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Waits for `events` on fd until the deadline; false on timeout.
bool WaitFd(int fd, short events, const Deadline& d) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ms = d.RemainingMs();
    const int n = poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let the next call report the error
  }
}

std::int32_t LoadI32(std::string_view b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return static_cast<std::int32_t>(v);
}

void StoreI32(std::string* b, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (std::size_t i = 0; i < 4; ++i) b->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

}  // namespace

std::string Hex(std::string_view bytes, std::size_t max_bytes) { return HexWithMark(bytes, std::nullopt, max_bytes); }

std::string RequestBytes(std::int32_t command, std::string_view key, std::int32_t length, std::int32_t fmt,
                         std::int32_t dtype, wire::Shape shape, std::int32_t location, char pad) {
  std::string b;
  b.reserve(wire::kRequestHeaderBytes);
  StoreI32(&b, command);
  StoreI32(&b, length);
  StoreI32(&b, fmt);
  StoreI32(&b, dtype);
  StoreI32(&b, location);
  for (const std::int32_t s : shape) StoreI32(&b, s);
  std::string field(key.substr(0, wire::kKeyFieldBytes));
  field.resize(wire::kKeyFieldBytes, pad);
  return b + field;
}

std::string ReplyBytes(const wire::ReplyHeader& h) {
  std::string b;
  StoreI32(&b, h.code);
  StoreI32(&b, h.length);
  StoreI32(&b, h.fmt);
  StoreI32(&b, h.dtype);
  for (const std::int32_t s : h.shape) StoreI32(&b, s);
  StoreI32(&b, h.location);
  return b;
}

namespace {

std::string CommandName(std::int32_t c) {
  switch (c) {
    case 1: return "PUT";
    case 2: return "GET";
    case 3: return "EXIST";
    case 4: return "LIST";
    case 5: return "HEALTH";
    default: return "command " + std::to_string(c);
  }
}

// Printable form of key bytes: ASCII as is, anything else as \xNN.
std::string QuoteBytes(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "'";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += ch;
    } else {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out + "'";
}

}  // namespace

std::string DescribeRequest(std::string_view b) {
  if (b.size() < wire::kRequestHeaderBytes) return "(partial request header, " + std::to_string(b.size()) + " bytes)";
  std::string key(b.substr(36, wire::kKeyFieldBytes));
  while (!key.empty() && key.back() == ' ') key.pop_back();
  return CommandName(LoadI32(b, 0)) + " len=" + std::to_string(LoadI32(b, 4)) +
         " fmt=" + std::to_string(LoadI32(b, 8)) + " dtype=" + std::to_string(LoadI32(b, 12)) +
         " loc=" + std::to_string(LoadI32(b, 16)) + " shape=[" + std::to_string(LoadI32(b, 20)) + "," +
         std::to_string(LoadI32(b, 24)) + "," + std::to_string(LoadI32(b, 28)) + "," + std::to_string(LoadI32(b, 32)) +
         "] key=" + QuoteBytes(key);
}

std::string DescribeReply(std::string_view b) {
  if (b.size() < wire::kReplyHeaderBytes) return "(partial reply header, " + std::to_string(b.size()) + " bytes)";
  return "code=" + std::to_string(LoadI32(b, 0)) + " len=" + std::to_string(LoadI32(b, 4)) +
         " fmt=" + std::to_string(LoadI32(b, 8)) + " dtype=" + std::to_string(LoadI32(b, 12)) + " shape=[" +
         std::to_string(LoadI32(b, 16)) + "," + std::to_string(LoadI32(b, 20)) + "," + std::to_string(LoadI32(b, 24)) +
         "," + std::to_string(LoadI32(b, 28)) + "] loc=" + std::to_string(LoadI32(b, 32));
}

// --- Conn ---------------------------------------------------------------

Conn::Conn(int fd, TraceSink* trace, std::string label) : fd_(fd), trace_(trace), label_(std::move(label)) {}

Conn::~Conn() { Close(); }

Conn::Conn(Conn&& o) noexcept
    : fd_(o.fd_), trace_(o.trace_), label_(std::move(o.label_)), wire_(o.wire_), wire_conn_(o.wire_conn_) {
  o.fd_ = -1;
  o.wire_ = nullptr;
}

Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    trace_ = o.trace_;
    label_ = std::move(o.label_);
    wire_ = o.wire_;
    wire_conn_ = o.wire_conn_;
    o.fd_ = -1;
    o.wire_ = nullptr;
  }
  return *this;
}

void Conn::RecordInto(WireLog* wire, bool runner_opened) {
  if (wire == nullptr || fd_ < 0) return;
  wire_ = wire;
  wire_conn_ = wire->Open(label_, runner_opened);
}

void Conn::Record(WireEvent::Kind kind, bool from_runner, std::string_view bytes) {
  if (wire_ != nullptr) wire_->Add(wire_conn_, kind, from_runner, bytes);
}

void Conn::RecordSent(std::string_view bytes) { Record(WireEvent::Kind::kData, true, bytes); }
void Conn::RecordReceived(std::string_view bytes) { Record(WireEvent::Kind::kData, false, bytes); }
void Conn::RecordPeerEnd(WireEvent::Kind how) { Record(how, false); }

Conn Conn::Dial(const std::string& host, std::uint16_t port, const Deadline& d, TraceSink* trace, std::string label) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    Fail("cannot resolve " + host);
  }
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    SetNonBlocking(fd);
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!WaitFd(fd, POLLOUT, d)) {
        error = "connect timed out";
      } else {
        int so = 0;
        socklen_t len = sizeof so;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
        rc = so == 0 ? 0 : -1;
        if (so != 0) error = std::strerror(so);
      }
    } else if (rc != 0) {
      error = std::strerror(errno);
    }
    if (rc != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) Fail("cannot connect to " + host + ":" + service + ": " + error);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (trace != nullptr) trace->Note(label + " connected to " + host + ":" + service);
  Conn conn(fd, trace, std::move(label));
  if (trace != nullptr) conn.RecordInto(trace->wire, true);
  return conn;
}

void Conn::Note(std::string_view dir, std::string_view bytes) {
  if (trace_ == nullptr) return;
  std::string line = label_ + " " + std::string(dir) + " " + std::to_string(bytes.size()) + " bytes";
  if (bytes.size() == wire::kRequestHeaderBytes && dir == ">>") line += "  " + DescribeRequest(bytes);
  if (bytes.size() == wire::kReplyHeaderBytes) line += "  " + DescribeReply(bytes);
  line += "\n    " + Hex(bytes, 256);
  trace_->Note(std::move(line));
}

bool Conn::Send(std::string_view bytes, const Deadline& d, bool allow_error) {
  if (fd_ < 0) {
    if (allow_error) return false;
    Fail("send on a closed connection");
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      Record(WireEvent::Kind::kData, true, bytes.substr(done, static_cast<std::size_t>(n)));
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd_, POLLOUT, d)) {
        Note(">> (partial)", bytes.substr(0, done));
        Fail("deadline exceeded while sending (" + std::to_string(done) + " of " + std::to_string(bytes.size()) +
             " bytes sent): the peer stopped reading");
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    Note(">> (failed)", bytes.substr(0, done));
    if (errno == ECONNRESET || errno == EPIPE) Record(WireEvent::Kind::kReset, false);
    if (allow_error) return false;
    Fail(std::string("send failed: ") + std::strerror(errno));
  }
  Note(">>", bytes);
  return true;
}

ReadEnd Conn::Read(std::size_t n, const Deadline& d, std::string* got) {
  got->clear();
  if (fd_ < 0) return ReadEnd::kClosed;
  // Received straight into `got`. The reservation is bounded: `n` may come
  // from a length the peer claimed.
  got->reserve(std::min<std::size_t>(n, std::size_t{64} << 20));
  ReadEnd end = ReadEnd::kComplete;
  while (got->size() < n) {
    const std::size_t have = got->size();
    const std::size_t want = std::min<std::size_t>(n - have, std::size_t{4} << 20);
    got->resize(have + want);
    const ssize_t r = ::recv(fd_, got->data() + have, want, 0);
    got->resize(have + (r > 0 ? static_cast<std::size_t>(r) : 0));
    if (r > 0) {
      Record(WireEvent::Kind::kData, false, std::string_view(*got).substr(have));
      continue;
    }
    if (r == 0) {
      Record(WireEvent::Kind::kFin, false);
      end = ReadEnd::kClosed;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitFd(fd_, POLLIN, d)) {
        end = ReadEnd::kTimedOut;
        break;
      }
      continue;
    }
    if (errno == EINTR) continue;
    Record(WireEvent::Kind::kReset, false);
    end = ReadEnd::kReset;
    break;
  }
  if (!got->empty() || end != ReadEnd::kComplete) {
    Note(end == ReadEnd::kComplete ? "<<" : "<< (" + std::string(ReadEndName(end)) + ")",
         std::string_view(*got).substr(0, std::min<std::size_t>(got->size(), 4096)));
  }
  return end;
}

std::string Conn::ReadExact(std::size_t n, const Deadline& d, std::string_view what) {
  std::string got;
  const ReadEnd end = Read(n, d, &got);
  if (end != ReadEnd::kComplete) {
    Fail(std::string(what) + ": " + std::string(ReadEndName(end)) + " after " + std::to_string(got.size()) + " of " +
             std::to_string(n) + " bytes",
         Evidence{{}, {}, got.substr(0, 4096)});
  }
  return got;
}

wire::ReplyHeader Conn::ReadReply(const Deadline& d, std::string_view what, std::string* raw) {
  std::string bytes = ReadExact(wire::kReplyHeaderBytes, d, what);
  wire::ReplyHeader h;
  const auto e = wire::DecodeReply(std::as_bytes(std::span(bytes.data(), bytes.size())), &h);
  if (e != wire::WireError::kOk) Fail(std::string(what) + ": undecodable reply header");
  if (raw != nullptr) *raw = std::move(bytes);
  return h;
}

ReadEnd Conn::ExpectSilence(const Deadline& d, std::string* got) {
  got->clear();
  if (fd_ < 0) return ReadEnd::kClosed;
  for (;;) {
    if (!WaitFd(fd_, POLLIN, d)) return ReadEnd::kTimedOut;
    char buf[4096];
    const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      got->append(buf, static_cast<std::size_t>(r));
      Note("<< (unexpected)", std::string_view(buf, static_cast<std::size_t>(r)));
      Record(WireEvent::Kind::kData, false, std::string_view(buf, static_cast<std::size_t>(r)));
      return ReadEnd::kComplete;
    }
    if (r == 0) {
      Record(WireEvent::Kind::kFin, false);
      return ReadEnd::kClosed;
    }
    if (errno == EAGAIN || errno == EINTR) continue;
    Record(WireEvent::Kind::kReset, false);
    return ReadEnd::kReset;
  }
}

ReadEnd Conn::WaitClosed(const Deadline& d) {
  if (fd_ < 0) return ReadEnd::kClosed;
  std::size_t drained = 0;
  for (;;) {
    if (!WaitFd(fd_, POLLIN, d)) return ReadEnd::kTimedOut;
    char buf[65536];
    const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      Record(WireEvent::Kind::kData, false, std::string_view(buf, static_cast<std::size_t>(r)));
      drained += static_cast<std::size_t>(r);
      if (drained > (std::size_t{64} << 20)) return ReadEnd::kTimedOut;  // a peer that streams forever
      continue;
    }
    if (r == 0) {
      Record(WireEvent::Kind::kFin, false);
      return ReadEnd::kClosed;
    }
    if (errno == EAGAIN || errno == EINTR) continue;
    Record(WireEvent::Kind::kReset, false);
    return ReadEnd::kReset;
  }
}

void Conn::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  Record(WireEvent::Kind::kFin, true);
  if (trace_ != nullptr) trace_->Note(label_ + " shut down its sending side");
}

void Conn::Reset() {
  if (fd_ < 0) return;
  const linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
  Record(WireEvent::Kind::kReset, true);
  wire_ = nullptr;
  if (trace_ != nullptr) trace_->Note(label_ + " reset the connection");
}

void Conn::Close() {
  if (fd_ < 0) return;
  // Bytes that arrived but were never read are part of what went over the
  // wire; and closing with them unread makes the kernel send RST, not FIN.
  // A peek records both without changing what the socket does.
  bool unread = false;
  if (wire_ != nullptr) {
    std::string pending(std::size_t{1} << 20, '\0');
    const ssize_t n = ::recv(fd_, pending.data(), pending.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      Record(WireEvent::Kind::kData, false, std::string_view(pending).substr(0, static_cast<std::size_t>(n)));
      unread = true;
    }
  }
  ::close(fd_);
  fd_ = -1;
  Record(unread ? WireEvent::Kind::kReset : WireEvent::Kind::kFin, true);
  wire_ = nullptr;
}

// --- Listener -----------------------------------------------------------

Listener::~Listener() { Close(); }

Listener::Listener(Listener&& o) noexcept : fd_(o.fd_), port_(o.port_) { o.fd_ = -1; }

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    port_ = o.port_;
    o.fd_ = -1;
  }
  return *this;
}

bool Listener::Listen(std::uint16_t port, std::string* error) {
  Close();
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *error = std::strerror(errno);
    return false;
  }
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0) {
    *error = std::strerror(errno);
    Close();
    return false;
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  SetNonBlocking(fd_);
  return true;
}

Conn Listener::Accept(const Deadline& d, TraceSink* trace, std::string label) {
  while (fd_ >= 0) {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (trace != nullptr) trace->Note(label + " accepted a connection");
      return Conn(fd, trace, std::move(label));
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;
    if (!WaitFd(fd_, POLLIN, d)) break;
  }
  return Conn();
}

void Listener::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace lmc::conformance
