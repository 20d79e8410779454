// Raw TCP for the conformance runner: the runner must send exactly the
// bytes a case chooses (malformed ones included), split writes wherever it
// likes, and see exactly what comes back, so it talks through plain POSIX
// sockets rather than the kit's own client or server. Every wait is bounded
// by the case's Deadline; every byte in either direction goes to the case's
// trace as hex with the decoded header fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conformance/runner.h"
#include "wire/headers.h"

namespace lmc::conformance {

// What a bounded read ended with.
enum class ReadEnd : std::uint8_t {
  kComplete,  // all the bytes asked for arrived
  kClosed,    // the peer closed (EOF) first
  kReset,     // ECONNRESET or another socket error
  kTimedOut,  // the deadline passed first
};
std::string_view ReadEndName(ReadEnd e);

class Conn {
 public:
  Conn() = default;
  explicit Conn(int fd, TraceSink* trace, std::string label);
  ~Conn();
  Conn(Conn&& o) noexcept;
  Conn& operator=(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects to host:port within the deadline (TCP_NODELAY set). Fails the
  // case (CaseFailure) when it cannot.
  static Conn Dial(const std::string& host, std::uint16_t port, const Deadline& d, TraceSink* trace,
                   std::string label = "c");

  bool open() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `bytes` (fails the case on error or deadline). Returns
  // false instead of failing when `allow_error` and the peer has gone.
  bool Send(std::string_view bytes, const Deadline& d, bool allow_error = false);
  // Reads exactly n bytes, or up to the end. `*got` receives what arrived.
  ReadEnd Read(std::size_t n, const Deadline& d, std::string* got);
  // Reads exactly n bytes; fails the case with `what` otherwise.
  std::string ReadExact(std::size_t n, const Deadline& d, std::string_view what);
  // Reads a 36-byte reply header; fails the case with `what` otherwise.
  wire::ReplyHeader ReadReply(const Deadline& d, std::string_view what, std::string* raw = nullptr);
  // Waits until `d` for any byte. kTimedOut means the peer stayed silent
  // (and the connection open); `*got` receives anything that did arrive.
  ReadEnd ExpectSilence(const Deadline& d, std::string* got);
  // Waits for the peer to close; kClosed or kReset when it did.
  ReadEnd WaitClosed(const Deadline& d);

  void ShutdownWrite();
  // Closes with RST (SO_LINGER 0) instead of FIN.
  void Reset();
  void Close();

  // Records this connection into `wire` (--pcap, --html) from now on;
  // `runner_opened`: the runner connected, rather than accepted. Dial does
  // it by itself when the trace carries a WireLog.
  void RecordInto(WireLog* wire, bool runner_opened);
  // For code that reads and writes fd() itself: what went each way, and how
  // the peer ended (kFin: EOF; kReset: a reset).
  void RecordSent(std::string_view bytes);
  void RecordReceived(std::string_view bytes);
  void RecordPeerEnd(WireEvent::Kind how);

 private:
  void Note(std::string_view dir, std::string_view bytes);
  void Record(WireEvent::Kind kind, bool from_runner, std::string_view bytes = {});
  int fd_ = -1;
  TraceSink* trace_ = nullptr;
  std::string label_;
  WireLog* wire_ = nullptr;
  int wire_conn_ = -1;
};

// A listening socket on 127.0.0.1 (port 0: any free port).
class Listener {
 public:
  Listener() = default;
  ~Listener();
  Listener(Listener&& o) noexcept;
  Listener& operator=(Listener&& o) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // False (with *error) when it cannot listen.
  bool Listen(std::uint16_t port, std::string* error);
  std::uint16_t port() const { return port_; }
  // Accepts one connection within the deadline; an unopened Conn on timeout.
  Conn Accept(const Deadline& d, TraceSink* trace, std::string label = "s");
  void Close();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// --- Building and showing wire bytes ------------------------------------

// A request header's 186 bytes from its fields; the key is padded with 0x20
// (or `pad`) and never validated, so a case can send any key bytes it likes.
std::string RequestBytes(std::int32_t command, std::string_view key, std::int32_t length = 0,
                         std::int32_t fmt = wire::kDummyFmt, std::int32_t dtype = wire::kDummyDtype,
                         wire::Shape shape = {}, std::int32_t location = 0, char pad = ' ');
std::string ReplyBytes(const wire::ReplyHeader& h);
// "GET len=0 fmt=1 dtype=2 loc=0 shape=[0,0,0,0] key='m@1@0@3039@bfloat16'"
std::string DescribeRequest(std::string_view bytes186);
std::string DescribeReply(std::string_view bytes36);
std::string Hex(std::string_view bytes, std::size_t max_bytes = 64);

}  // namespace lmc::conformance
