// The Transport over Asio and real TCP sockets. One io_context, run by as
// many threads as the owner asks for; every Stream has its own strand, so its
// handlers never run at once.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "net/transport.h"

namespace lmc::net {

class AsioTransport final : public Transport {
 public:
  explicit AsioTransport(std::uint64_t seed = 0);
  ~AsioTransport() override;

  std::unique_ptr<Listener> Listen(const std::string& host, std::uint16_t port, NetError* error) override;
  void AsyncConnect(const std::string& host, std::uint16_t port,
                    std::function<void(NetError, std::unique_ptr<Stream>)> handler) override;
  std::unique_ptr<Timer> MakeTimer() override;
  Clock::time_point Now() const override { return Clock::now(); }
  std::mt19937_64& Rng() override { return rng_; }
  void Post(std::function<void()> fn) override;

  // Runs the event loop on the calling thread and `threads - 1` more until
  // Stop(); returns when all have finished.
  void Run(unsigned threads);
  // Runs the event loop on `threads` background threads (for tests/clients).
  void Start(unsigned threads);
  // Ends the event loop; safe from any thread, a loop thread included.
  void Stop();
  // Waits for the background threads; never call it from a loop thread.
  void Join();
  asio::io_context& context() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::mt19937_64 rng_;
};

NetError FromAsio(const std::error_code& ec);

}  // namespace lmc::net
