#include "net/asio_transport.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace lmc::net {

std::string_view NetErrorName(NetError e) {
  switch (e) {
    case NetError::kOk: return "ok";
    case NetError::kEof: return "end of stream";
    case NetError::kReset: return "connection reset";
    case NetError::kRefused: return "connection refused";
    case NetError::kTimedOut: return "timed out";
    case NetError::kCancelled: return "cancelled";
    case NetError::kAddress: return "bad or busy address";
    case NetError::kOther: return "network error";
  }
  return "?";
}

NetError FromAsio(const std::error_code& ec) {
  if (!ec) return NetError::kOk;
  if (ec == asio::error::eof) return NetError::kEof;
  if (ec == asio::error::operation_aborted) return NetError::kCancelled;
  if (ec == asio::error::connection_refused) return NetError::kRefused;
  if (ec == asio::error::timed_out) return NetError::kTimedOut;
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
      ec == asio::error::not_connected || ec == asio::error::shut_down) {
    return NetError::kReset;
  }
  if (ec == asio::error::address_in_use || ec == std::errc::address_not_available ||
      ec == asio::error::host_not_found || ec == asio::error::invalid_argument) {
    return NetError::kAddress;
  }
  return NetError::kOther;
}

namespace {

using asio::ip::tcp;

class AsioTimer final : public Timer {
 public:
  template <typename Executor>
  explicit AsioTimer(const Executor& ex) : timer_(ex) {}
  void AsyncWait(Clock::duration delay, std::function<void(NetError)> handler) override {
    timer_.expires_after(delay);
    timer_.async_wait([h = std::move(handler)](std::error_code ec) { h(FromAsio(ec)); });
  }
  void Cancel() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// async_write's completion condition: go on until every byte is written
// (or an error), with no cap on the bytes of one write_some.
struct WholeWrites {
  std::size_t operator()(const std::error_code& ec, std::size_t /*written*/) const {
    return ec ? 0 : std::numeric_limits<std::size_t>::max();
  }
};

// The socket is shared with a Close() still queued on the strand: a stream
// may be closed from another thread and destroyed at once (the server does
// so when it refuses a connection), and the queued close must not reach
// into the destroyed stream.
class AsioStream final : public Stream {
 public:
  explicit AsioStream(tcp::socket socket)
      : strand_(asio::make_strand(socket.get_executor())),
        owned_(std::make_shared<tcp::socket>(std::move(socket))),
        socket_(*owned_) {
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
  }

  void AsyncReadSome(std::span<std::byte> buffer, ReadHandler handler) override {
    socket_.async_read_some(asio::buffer(buffer.data(), buffer.size()),
                            asio::bind_executor(strand_, [h = std::move(handler)](std::error_code ec, std::size_t n) {
                              h(FromAsio(ec), n);
                            }));
  }

  void AsyncReadSomeV(std::span<const std::span<std::byte>> buffers, ReadHandler handler) override {
    // One recvmsg into all of them: a PUT payload read into its next chunks
    // takes what the socket holds in one call instead of one call a chunk.
    scatter_.clear();
    for (const auto& b : buffers) scatter_.emplace_back(b.data(), b.size());
    socket_.async_read_some(
        scatter_, asio::bind_executor(
                      strand_, [h = std::move(handler)](std::error_code ec, std::size_t n) { h(FromAsio(ec), n); }));
  }

  void AsyncWrite(std::span<const std::span<const std::byte>> buffers, WriteHandler handler) override {
    gather_.clear();
    for (const auto& b : buffers) gather_.emplace_back(b.data(), b.size());
    // Unbounded steps: asio's default completion condition hands at most
    // 64 KiB to each sendmsg, so a 4 MiB reply took 64 sends and as many
    // trips through the loop; this way each send takes what the socket
    // buffer holds, and the loop is only waited on when the kernel is full.
    asio::async_write(socket_, gather_, WholeWrites{},
                      asio::bind_executor(strand_, [h = std::move(handler)](std::error_code ec, std::size_t n) {
                        h(FromAsio(ec), n);
                      }));
  }

  void Close() override {
    asio::dispatch(strand_, [socket = owned_] {
      std::error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    });
  }

  void Dispatch(std::function<void()> fn) override { asio::dispatch(strand_, std::move(fn)); }

  std::unique_ptr<Timer> MakeTimer() override { return std::make_unique<AsioTimer>(strand_); }

  // SO_RCVLOWAT: the kernel wakes the reader (and epoll reports it readable)
  // only once this many bytes are queued, or at EOF. Capped where the gain
  // levels off; set only when it changes, so it costs no syscall per read.
  void SetReadLowWater(std::size_t bytes) override {
    constexpr std::size_t kCap = 256 * 1024;
    const int want = static_cast<int>(std::clamp<std::size_t>(bytes, 1, kCap));
    if (want == low_water_) return;
    std::error_code ec;
    socket_.set_option(asio::socket_base::receive_low_watermark(want), ec);
    low_water_ = ec ? 1 : want;
  }

 private:
  asio::strand<tcp::socket::executor_type> strand_;
  std::shared_ptr<tcp::socket> owned_;
  tcp::socket& socket_;
  std::vector<asio::const_buffer> gather_;
  std::vector<asio::mutable_buffer> scatter_;
  int low_water_ = 1;
};

class AsioListener final : public Listener {
 public:
  // `place` picks the loop of each accepted stream.
  AsioListener(std::function<asio::io_context&()> place, tcp::acceptor acceptor)
      : place_(std::move(place)), acceptor_(std::move(acceptor)) {}

  void AsyncAccept(std::function<void(NetError, std::unique_ptr<Stream>)> handler) override {
    acceptor_.async_accept(asio::make_strand(place_()), [h = std::move(handler)](std::error_code ec, tcp::socket s) {
      if (ec) {
        h(FromAsio(ec), nullptr);
        return;
      }
      h(NetError::kOk, std::make_unique<AsioStream>(std::move(s)));
    });
  }

  std::uint16_t port() const override { return acceptor_.local_endpoint().port(); }

  void Close() override {
    std::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  std::function<asio::io_context&()> place_;
  tcp::acceptor acceptor_;
};

}  // namespace

AsioTransport::AsioTransport(unsigned loops) {
  for (unsigned i = 0; i < std::max(1u, loops); ++i) {
    loops_.push_back(std::make_unique<asio::io_context>());
    work_.push_back(asio::make_work_guard(*loops_.back()));
  }
}

asio::io_context& AsioTransport::NextLoop() {
  return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

AsioTransport::~AsioTransport() {
  Stop();
  Join();
  // Handlers still queued are destroyed with their loop. Those of loop 0
  // (accepts, posts, transport timers) may own streams of other loops, and
  // nothing on another loop refers to loop 0 (each stream's timers live on
  // its own loop), so loop 0 goes first.
  work_.clear();
  loops_.clear();
}

std::unique_ptr<Listener> AsioTransport::Listen(const std::string& host, std::uint16_t port, NetError* error) {
  std::error_code ec;
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    *error = NetError::kAddress;
    return nullptr;
  }
  tcp::acceptor acceptor(context());
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = FromAsio(ec) == NetError::kOther ? NetError::kAddress : FromAsio(ec);
    return nullptr;
  }
  *error = NetError::kOk;
  return std::make_unique<AsioListener>([this]() -> asio::io_context& { return NextLoop(); }, std::move(acceptor));
}

void AsioTransport::AsyncConnect(const std::string& host, std::uint16_t port,
                                 std::function<void(NetError, std::unique_ptr<Stream>)> handler) {
  asio::io_context& loop = NextLoop();
  auto resolver = std::make_shared<tcp::resolver>(loop);
  resolver->async_resolve(host, std::to_string(port),
                          [&loop, resolver, h = std::move(handler)](
                              std::error_code ec, const tcp::resolver::results_type& results) mutable {
                            if (ec) {
                              h(NetError::kAddress, nullptr);
                              return;
                            }
                            auto socket = std::make_shared<tcp::socket>(asio::make_strand(loop));
                            asio::async_connect(*socket, results,
                                                [socket, h = std::move(h)](std::error_code ec2, const tcp::endpoint&) {
                                                  if (ec2) {
                                                    h(FromAsio(ec2), nullptr);
                                                    return;
                                                  }
                                                  h(NetError::kOk, std::make_unique<AsioStream>(std::move(*socket)));
                                                });
                          });
}

std::unique_ptr<Timer> AsioTransport::MakeTimer() { return std::make_unique<AsioTimer>(context().get_executor()); }

void AsioTransport::Post(std::function<void()> fn) { asio::post(context(), std::move(fn)); }

void AsioTransport::Run(unsigned threads) {
  threads = std::max(threads, static_cast<unsigned>(loops_.size()));
  for (unsigned i = 1; i < threads; ++i) threads_.emplace_back([this, i] { loops_[i % loops_.size()]->run(); });
  loops_[0]->run();
  Join();
}

void AsioTransport::Start(unsigned threads) {
  threads = std::max(threads, static_cast<unsigned>(loops_.size()));
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, i] { loops_[i % loops_.size()]->run(); });
}

void AsioTransport::Stop() {
  for (auto& w : work_) w.reset();
  for (auto& l : loops_) l->stop();
}

void AsioTransport::Join() {
  for (auto& t : threads_) {
    assert(t.get_id() != std::this_thread::get_id());  // never from a loop thread
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace lmc::net
