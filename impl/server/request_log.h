// The server's request log (--log-level debug): one line per request header
// received and per reply header sent, with the connection id, the decoded
// fields and the header bytes as hex, so a client author sees exactly what
// went over the wire and how the server framed it.
//
//   conn=3 open
//   conn=3 recv PUT length=16 fmt=1 dtype=6 location=0 shape=[1,1,2,8] key="m@1@0@ded@uint8" hex=0100…
//   conn=3 recv GET length=0 fmt=1 dtype=2 location=0 shape=[0,0,0,0] key="m@1@0@ded@uint8" hex=0200…
//   conn=3 send reply-to=GET code=200 length=16 fmt=1 dtype=6 shape=[1,1,2,8] location=0 hex=c800…
//   conn=3 close: peer closed (eof)
//
// The trace follows the two byte streams as the wire frames them (a 186-byte
// header, then `length` payload bytes after a PUT; a 36-byte reply, then
// `length` body bytes after a SUCCESS with length > 0), independently of the
// session, from the bytes the I/O loop actually read and wrote. Payload
// bytes are counted, never copied or printed. It mirrors the session's one
// framing decision that depends on content: after an unknown command or a
// negative PUT length the session stops reading, so the trace stops too.
//
// Cost: a server without a log holds a null trace per connection and pays
// one pointer test per read and per write completion.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "wire/headers.h"

namespace lmc::server {

// Where the lines go. Shared by every connection; Write() may be called from
// any I/O thread and writes each line whole.
class RequestLog {
 public:
  // `sink` receives one line at a time, without a trailing newline, under
  // the log's lock.
  using Sink = std::function<void(std::string_view line)>;
  explicit RequestLog(Sink sink) : sink_(std::move(sink)) {}

  // Lines to stderr, each prefixed with `prefix` and flushed.
  static std::shared_ptr<RequestLog> ToStderr(std::string prefix = "lmcache-server: debug ");

  void Write(std::string_view line);
  // Connection ids: 1, 2, 3, ... in accept order.
  std::uint64_t NextConnectionId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  base::Mutex mu_;
  Sink sink_;
  std::atomic<std::uint64_t> next_id_{1};
};

// One connection's trace. Not thread-safe: the connection's loop drives it.
class ConnectionTrace {
 public:
  ConnectionTrace(std::shared_ptr<RequestLog> log, std::uint64_t id);

  std::uint64_t id() const { return id_; }
  // Bytes the server read from the peer, in order.
  void OnReceived(std::span<const std::byte> bytes);
  // The server wrote the first `n` bytes of `spans` (in order) to the peer.
  void OnSent(std::span<const std::span<const std::byte>> spans, std::size_t n);
  // The peer sent EOF (`error` empty) or the read failed with `error`; says
  // where in a request the stream stopped.
  void OnReadEnd(std::string_view error);
  // The server closes the connection; logged once.
  void OnClose(std::string_view why);

 private:
  void Line(const std::string& text);
  void OnRequestHeader();
  void OnReplyHeader();

  std::shared_ptr<RequestLog> log_;
  std::uint64_t id_;
  bool closed_ = false;

  // Request stream.
  std::array<std::byte, wire::kRequestHeaderBytes> request_{};
  std::size_t request_fill_ = 0;
  std::int64_t payload_left_ = 0;    // PUT payload bytes still to come
  std::int64_t payload_length_ = 0;  // of the PUT being received
  bool input_stopped_ = false;       // the session stopped reading (unknown command, length < 0)
  std::uint64_t ignored_bytes_ = 0;  // read after that, never handled

  // Reply stream: the commands whose replies are owed, in request order.
  std::deque<std::int32_t> owed_;
  std::array<std::byte, wire::kReplyHeaderBytes> reply_{};
  std::size_t reply_fill_ = 0;
  std::int64_t body_left_ = 0;
};

// "PUT length=16 fmt=1 dtype=6 location=0 shape=[1,1,2,8] key=\"m@1@0@ded@uint8\" hex=…".
// The key is shown as decoded (stripped); a key field that is not UTF-8 is
// shown raw, bytes outside printable ASCII escaped as \xNN.
std::string DescribeRequestHeader(std::span<const std::byte, wire::kRequestHeaderBytes> bytes);
// "code=200 length=16 fmt=1 dtype=6 shape=[1,1,2,8] location=0 hex=…".
std::string DescribeReplyHeader(std::span<const std::byte, wire::kReplyHeaderBytes> bytes);
// "PUT", "GET", ... or "command=N" for an unknown command.
std::string CommandName(std::int32_t command);

}  // namespace lmc::server
