// The Transport over Asio and real TCP sockets: a pool of event loops (one
// io_context each). Each accepted or connected stream is placed on one loop,
// round robin, and stays there, so its I/O never hops between threads (on
// this 2-core VM a cross-thread hand-off per event cost a 1-connection GET
// about 15% of its throughput). Every Stream also has a strand, so when
// several threads run one loop its handlers still never run at once.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "net/transport.h"

namespace lmc::net {

class AsioTransport final : public Transport {
 public:
  // `loops` event loops (at least 1).
  explicit AsioTransport(unsigned loops = 1);
  ~AsioTransport() override;

  [[nodiscard]] std::unique_ptr<Listener> Listen(const std::string& host, std::uint16_t port, NetError* error) override;
  void AsyncConnect(const std::string& host, std::uint16_t port,
                    std::function<void(NetError, std::unique_ptr<Stream>)> handler) override;
  std::unique_ptr<Timer> MakeTimer() override;
  Clock::time_point Now() const override { return Clock::now(); }
  void Post(std::function<void()> fn) override;

  // Runs the loops on the calling thread and `threads - 1` more until Stop()
  // (thread i runs loop i % loops); returns when all have finished.
  void Run(unsigned threads);
  // Runs the loops on `threads` background threads (for tests/clients).
  void Start(unsigned threads);
  // Ends the event loop; safe from any thread, a loop thread included.
  void Stop();
  // Waits for the background threads; never call it from a loop thread.
  void Join();
  // The first loop: listeners, timers, posts and signal handling live here.
  asio::io_context& context() { return *loops_.front(); }

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;
  // The loop for the next stream.
  asio::io_context& NextLoop();

  std::vector<std::unique_ptr<asio::io_context>> loops_;
  std::vector<WorkGuard> work_;
  std::atomic<unsigned> next_loop_{0};
  std::vector<std::thread> threads_;
};

[[nodiscard]] NetError FromAsio(const std::error_code& ec);

}  // namespace lmc::net
