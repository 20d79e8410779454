// The network half of the runtime seam (runtime/env.h holds the rest):
// byte streams, listeners, timers, the clock and posting to an event loop.
// The Asio implementation (asio_transport.h) talks to real sockets; the
// simulated network (simnet/) implements the same interface, so servers and
// clients run unchanged and every simulated run replays from its seed.
//
// Everything is callback-based, in the style of Asio.
//
// Loops and handlers. A transport runs one or more event loops. Every
// stream lives on one loop for its whole life, and every handler of a
// stream (reads, writes, its timers, Dispatch) runs on that loop, never two
// of them at once, never inline in the call that started the operation.
// Handlers must not block: no file calls, no waits (runtime::Env::Offload
// is for those). Listener handlers, transport timers and Post run on the
// transport's first loop.
//
// Failure. Every operation ends with exactly one handler call carrying a
// NetError; kCancelled after Close() or Cancel(), and nothing is lost
// silently: a stream that failed reports the failure to the read or write
// in flight. No method throws.
//
// Ownership. The caller owns streams, listeners and timers (unique_ptr).
// Buffers given to a read or write must stay valid until its handler runs.
// Destroying a stream, listener or timer cancels what is pending; its
// handlers still run (with kCancelled), so they must not rely on the
// destroyed object, only on what they captured.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace lmc::net {

enum class [[nodiscard]] NetError : std::uint8_t{
    kOk = 0,
    kEof,      // the peer closed its sending side
    kReset,    // connection reset / broken pipe
    kRefused,  // connection refused
    kTimedOut,
    kCancelled,  // the operation was cancelled (Close, Cancel)
    kAddress,    // bad address or port, or the address is in use
    kOther,
};
[[nodiscard]] std::string_view NetErrorName(NetError e);

using Clock = std::chrono::steady_clock;
using ReadHandler = std::function<void(NetError, std::size_t)>;
using WriteHandler = std::function<void(NetError, std::size_t)>;

class Timer {
 public:
  virtual ~Timer() = default;
  // Calls `handler(kOk)` after `delay`, or `handler(kCancelled)` on Cancel()
  // or destruction, on the timer's loop. One wait at a time. AsyncWait and
  // Cancel may be called from any thread, but not at once: the caller orders
  // them (the tier's deadline timer is only touched under its queue's lock).
  virtual void AsyncWait(Clock::duration delay, std::function<void(NetError)> handler) = 0;
  virtual void Cancel() = 0;
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least one byte into `buffer` (which must stay valid until the
  // handler runs). NetError::kEof with 0 bytes at the end of the stream.
  // One read in flight at a time.
  virtual void AsyncReadSome(std::span<std::byte> buffer, ReadHandler handler) = 0;
  // The same into `buffers` in order, as one scatter read (each buffer must
  // stay valid until the handler runs; the array need not). By default into
  // the first buffer only.
  virtual void AsyncReadSomeV(std::span<const std::span<std::byte>> buffers, ReadHandler handler) {
    AsyncReadSome(buffers.front(), std::move(handler));
  }
  // Writes every byte of `buffers` (gathered), then calls the handler with
  // the bytes written (all of them on kOk). One write in flight at a time;
  // a read and a write may be in flight together.
  virtual void AsyncWrite(std::span<const std::span<const std::byte>> buffers, WriteHandler handler) = 0;
  // Cancels pending operations (their handlers see kCancelled) and closes.
  // From any thread; the stream may be destroyed right after.
  virtual void Close() = 0;
  // Runs `fn` on this stream's loop, serialised with its handlers (at once
  // if called from one of them). From any thread: how work done elsewhere
  // (an L2 load on a worker) comes back to its connection.
  virtual void Dispatch(std::function<void()> fn) = 0;
  // A timer whose handlers run in this stream's handler context, on the same
  // event loop (so a connection's resources never span two loops).
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
  // A hint before a read: the peer is certain to send at least `bytes` more
  // (the rest of a payload), so the transport may wait for that many before
  // waking the reader; the end of the stream still wakes it at once. Waking
  // once per large batch instead of once per segment is most of loopback's
  // throughput (docs/BENCHMARKS.md). Never pass more than is certain to come.
  virtual void SetReadLowWater(std::size_t bytes) { (void)bytes; }
};

class Listener {
 public:
  virtual ~Listener() = default;
  // One accept at a time; the new stream is placed on one of the
  // transport's loops (round robin in production). An accept that fails
  // (kOther: out of descriptors, say) leaves the listener usable: the
  // caller decides when to try again (the server backs off).
  virtual void AsyncAccept(std::function<void(NetError, std::unique_ptr<Stream>)> handler) = 0;
  virtual std::uint16_t port() const = 0;
  virtual void Close() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Binds and listens; port 0 picks a free port (see Listener::port()).
  // Null with *error set (kAddress: bad or busy address) on failure.
  [[nodiscard]] virtual std::unique_ptr<Listener> Listen(const std::string& host, std::uint16_t port,
                                                         NetError* error) = 0;
  // Connects; the handler gets the stream, or null with the error (kRefused,
  // kAddress, kTimedOut...). No deadline of its own: the caller bounds its
  // wait (the client's connect_timeout) and drops a late stream.
  virtual void AsyncConnect(const std::string& host, std::uint16_t port,
                            std::function<void(NetError, std::unique_ptr<Stream>)> handler) = 0;
  // A timer on the first loop.
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
  // The clock of the whole seam (runtime::Env::Now is this one).
  virtual Clock::time_point Now() const = 0;
  // Runs `fn` on the first loop, never inline. From any thread.
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace lmc::net
