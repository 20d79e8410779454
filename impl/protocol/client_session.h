// The client side of one lm:// connection, without I/O (the counterpart of
// ServerSession): requests are queued and encoded, replies are matched to
// them in order (the protocol has no request ids), and each request ends as
// a Completion. Blocking and asynchronous clients, on Asio or on the
// simulated network, wrap this.
//
// A reply that breaks the protocol (a return code other than 200/400, a
// negative or oversized length) fails the session: every pending request
// completes with kInvalidReply and nothing more is accepted, as LMCache's
// newest client discards such a connection without retrying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/headers.h"

namespace lmc::protocol {

struct ClientLimits {
  // The largest GET or LIST body accepted; a reply claiming more is invalid.
  std::size_t body_bytes_max = std::size_t{1} << 31;
  // A body that does not fit the caller's buffer is received into one that
  // starts this large and doubles as bytes arrive, so a reply that claims a
  // huge length costs memory only for the bytes actually sent (a peer can
  // claim 2 GiB - 1 and then close).
  std::size_t body_first_alloc_bytes = std::size_t{1} << 20;
};

enum class [[nodiscard]] ClientStatus : std::uint8_t{
    kOk,            // PUT written; GET hit; EXIST present; HEALTH/LIST success
    kMiss,          // GET miss; EXIST absent; HEALTH/LIST answered FAIL
    kInvalidReply,  // the server broke the protocol (never retried)
    kClosed,        // the connection ended before this request completed
    kBadRequest,    // the request itself cannot be encoded (key too long, ...)
};
[[nodiscard]] std::string_view ClientStatusName(ClientStatus s);

struct Completion {
  std::uint64_t id = 0;
  std::int32_t command = 0;
  ClientStatus status = ClientStatus::kOk;
  wire::ReplyHeader reply;      // as received (not for PUT)
  std::vector<std::byte> body;  // GET hit payload, LIST body (unless `in_place`)
  // A GET given a caller buffer big enough: the payload is its first
  // `in_place_bytes` bytes and `body` stays empty.
  bool in_place = false;
  std::size_t in_place_bytes = 0;
};

// Sees each piece of a GET hit's body as it arrives, in order, right after
// it was received (while it is still in cache): a caller can hash or stream
// the body without a second pass over it.
using BodyObserver = std::function<void(std::span<const std::byte>)>;

struct PutFields {
  std::int32_t fmt = 1;
  std::int32_t dtype = 0;
  wire::Shape shape{};
};

class ClientSession {
 public:
  explicit ClientSession(ClientLimits limits = {});

  // Queue a request; returns its id (ids increase from 1). A PUT's payload
  // is not copied: it must stay valid until the PUT completes.
  std::uint64_t Put(std::string_view key, const PutFields& fields, std::span<const std::byte> payload);
  std::uint64_t Get(std::string_view key);
  // A GET whose payload is received straight into `into` when it fits (no
  // allocation: pooled buffers stay warm); a larger payload gets its own
  // vector. `into` must stay valid until the GET completes.
  std::uint64_t Get(std::string_view key, std::span<std::byte> into, BodyObserver on_body = {});
  std::uint64_t Exist(std::string_view key);
  std::uint64_t List();
  std::uint64_t Health(std::string_view probe_key = "@0@0@0@half");

  // Output, as ServerSession: spans to write in order, then OnWritten (which
  // ignores what completes after the session failed: a write's completion
  // may be queued behind the read that failed it).
  std::size_t GatherWrites(std::span<std::span<const std::byte>> out) const;
  bool HasOutput() const { return !out_.empty(); }
  void OnWritten(std::size_t n);

  // Input: where received bytes go (empty when no reply is expected).
  std::span<std::byte> ReadBuffer();
  void OnRead(std::size_t n);
  // The connection ended: pending requests complete with kClosed.
  void OnClose();

  // Bytes the server is certain to send next: the rest of the reply body
  // being received, else 1 (see net::Stream::SetReadLowWater).
  std::size_t CertainInputBytes() const { return body_for_ ? body_target_.size() - body_have_ : 1; }

  [[nodiscard]] std::optional<Completion> PopCompletion();
  std::size_t pending() const { return awaiting_.size() + unsent_puts_; }
  bool failed() const { return failed_; }
  // Why the last invalid reply was refused ("" before any): for messages.
  const std::string& failure_detail() const { return failure_detail_; }

 private:
  struct Out {
    std::array<std::byte, wire::kRequestHeaderBytes> header{};
    std::span<const std::byte> payload;
    std::size_t written = 0;
    std::uint64_t put_id = 0;  // non-zero: completes when fully written
    std::size_t size() const { return header.size() + payload.size(); }
  };
  struct Awaiting {
    std::uint64_t id;
    std::int32_t command;
    std::span<std::byte> into;
    BodyObserver on_body;
  };

  std::uint64_t Queue(std::int32_t command, std::string_view key, const PutFields& fields,
                      std::span<const std::byte> payload, std::int32_t length);
  void Fail(ClientStatus status);
  // Every request completes exactly once: the ids issued and not yet
  // completed are those awaiting a reply plus the PUTs not yet sent.
  void Complete(Completion c);
  void CheckOutstanding() const;
  std::uint64_t completed_ = 0;

  ClientLimits limits_;
  std::uint64_t next_id_ = 1;
  bool failed_ = false;
  std::string failure_detail_;
  std::deque<Out> out_;
  std::size_t unsent_puts_ = 0;
  std::deque<Awaiting> awaiting_;
  std::deque<Completion> done_;
  // Reply being received.
  std::array<std::byte, wire::kReplyHeaderBytes> header_{};
  std::size_t header_have_ = 0;
  std::optional<Completion> body_for_;
  std::span<std::byte> body_target_;  // where body_for_'s payload is read
  std::size_t body_have_ = 0;
  std::size_t body_total_ = 0;  // the reply's length (body_target_ may be shorter while it grows)
};

}  // namespace lmc::protocol
