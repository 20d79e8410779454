// The one interface between the kit's protocol logic and the world: byte
// streams, listeners, timers, a clock and a seeded random generator. The
// Asio implementation (asio_transport.h) talks to real sockets; the simulated
// network (simnet/) will implement the same interface, so that servers and
// clients run unchanged and every simulated run replays from its seed.
//
// Everything is callback-based, in the style of Asio. Handlers of one Stream
// never run concurrently with each other; a Stream may have one read and one
// write in flight at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
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
  // Calls `handler(kOk)` after `delay`, or `handler(kCancelled)` on Cancel().
  virtual void AsyncWait(Clock::duration delay, std::function<void(NetError)> handler) = 0;
  virtual void Cancel() = 0;
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least one byte into `buffer` (which must stay valid until the
  // handler runs). NetError::kEof with 0 bytes at the end of the stream.
  virtual void AsyncReadSome(std::span<std::byte> buffer, ReadHandler handler) = 0;
  // Writes every byte of `buffers` (gathered), then calls the handler.
  virtual void AsyncWrite(std::span<const std::span<const std::byte>> buffers, WriteHandler handler) = 0;
  // Cancels pending operations (their handlers see kCancelled) and closes.
  virtual void Close() = 0;
  // Runs `fn` in this stream's handler context (serialised with its handlers).
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
  virtual void AsyncAccept(std::function<void(NetError, std::unique_ptr<Stream>)> handler) = 0;
  virtual std::uint16_t port() const = 0;
  virtual void Close() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Binds and listens; port 0 picks a free port (see Listener::port()).
  [[nodiscard]] virtual std::unique_ptr<Listener> Listen(const std::string& host, std::uint16_t port,
                                                         NetError* error) = 0;
  virtual void AsyncConnect(const std::string& host, std::uint16_t port,
                            std::function<void(NetError, std::unique_ptr<Stream>)> handler) = 0;
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
  virtual Clock::time_point Now() const = 0;
  // The one seeded generator every random choice draws from.
  virtual std::mt19937_64& Rng() = 0;
  // Runs `fn` on the transport's event loop.
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace lmc::net
