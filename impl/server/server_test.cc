// End to end over loopback (port 0): the server on AsioTransport, driven by
// plain blocking sockets that speak the wire format byte by byte.
#include "server/server.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <asio.hpp>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "net/asio_transport.h"

namespace lmc::server {
namespace {

using asio::ip::tcp;

class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // Every read gives up after 5 s (it then fails, never hangs the suite).
    const timeval limit{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    // A request is two writes (PUT header, payload) and the next request a
    // third: without this, Nagle holds each behind the server's delayed ACK.
    socket_.set_option(tcp::no_delay(true));
  }
  void Send(const std::vector<std::byte>& bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }
  void SendRequest(std::int32_t cmd, std::string_view key, std::string_view payload = {}, std::int32_t length = -2) {
    wire::RequestView v;
    v.command = cmd;
    v.length = length != -2 ? length : static_cast<std::int32_t>(payload.size());
    v.fmt = 1;
    v.dtype = 3;
    v.shape = {2, 1, 1, static_cast<std::int32_t>(payload.size())};
    v.key = key;
    std::vector<std::byte> out(wire::kRequestHeaderBytes);
    ASSERT_EQ(wire::EncodeRequest(v, std::span(out).first<wire::kRequestHeaderBytes>()), wire::WireError::kOk);
    const auto* p = reinterpret_cast<const std::byte*>(payload.data());
    out.insert(out.end(), p, p + payload.size());
    Send(out);
  }
  // Reads one reply (and its body); nullopt at EOF.
  std::optional<wire::ReplyHeader> Reply(std::string* body = nullptr) {
    std::array<std::byte, wire::kReplyHeaderBytes> buf{};
    std::error_code ec;
    asio::read(socket_, asio::buffer(buf.data(), buf.size()), ec);
    if (ec) return std::nullopt;
    wire::ReplyHeader h;
    EXPECT_EQ(wire::DecodeReply(buf, &h), wire::WireError::kOk);
    if (h.code == 200 && h.length > 0) {
      std::string b(static_cast<std::size_t>(h.length), '\0');
      asio::read(socket_, asio::buffer(b.data(), b.size()), ec);
      if (body) *body = std::move(b);
    }
    return h;
  }
  // True when the server closed the connection with no byte before the end.
  bool AtEof() {
    std::array<char, 1> b{};
    std::error_code ec;
    socket_.read_some(asio::buffer(b), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  void Close() { socket_.close(); }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    o.stall_timeout = std::chrono::milliseconds(300);
    server_ = std::make_unique<Server>(transport_, store_, o);
    ASSERT_EQ(server_->Start(&port_), net::NetError::kOk);
    transport_.Start(2);
  }
  void TearDown() override {
    server_->Stop();
    transport_.Stop();
    transport_.Join();
    server_.reset();
  }
  // Two event loops, as lmcache-server runs them: connections land on both.
  net::AsioTransport transport_{2};
  std::shared_ptr<store::L1Store> store_ =
      std::make_shared<store::L1Store>(store::L1Store::Options{64 << 20, 32 << 20});
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, PutGetExistHealthList) {
  RawClient c(port_);
  const std::string payload(1 << 20, 'p');
  c.SendRequest(1, "m@1@0@3039@bfloat16", payload);
  c.SendRequest(2, "m@1@0@0x3039@bfloat16");
  std::string body;
  auto r = c.Reply(&body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(body, payload);
  c.SendRequest(3, "m@1@0@3039@bfloat16");
  EXPECT_EQ(c.Reply()->code, 200);
  c.SendRequest(5, "@0@0@0@half");
  EXPECT_EQ(c.Reply()->code, 200);
  c.SendRequest(4, "");
  EXPECT_EQ(c.Reply(&body)->code, 200);
  EXPECT_EQ(body, "m@1@0@3039@bfloat16");
}

TEST_F(ServerTest, BadInputClosesOnlyItsOwnConnection) {
  RawClient good(port_);
  good.SendRequest(1, "m@1@0@1@half", "kept");
  {
    RawClient bad(port_);
    bad.SendRequest(9, "m@1@0@1@half");  // unknown command
    EXPECT_TRUE(bad.AtEof());
  }
  {
    RawClient bad(port_);
    bad.SendRequest(1, "m@1@0@1@half", "", -5);  // negative length
    EXPECT_TRUE(bad.AtEof());
  }
  {
    RawClient bad(port_);  // garbage, then a disconnect mid-header
    bad.Send(std::vector<std::byte>(100, std::byte{0x41}));
  }
  {
    RawClient bad(port_);  // a PUT cut short must never be stored
    bad.SendRequest(1, "m@1@0@2@half", std::string(10, 'x'), 1000);
  }
  std::string body;
  good.SendRequest(2, "m@1@0@1@half");
  EXPECT_EQ(good.Reply(&body)->code, 200);
  EXPECT_EQ(body, "kept");
  good.SendRequest(3, "m@1@0@2@half");
  EXPECT_EQ(good.Reply()->code, 400);
}

TEST_F(ServerTest, AStalledRequestIsClosedAtItsDeadline) {
  RawClient c(port_);
  c.SendRequest(1, "m@1@0@1@half", std::string(10, 'x'), 1000);  // 990 bytes never come
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.AtEof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ServerTest, ConcurrentClients) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      RawClient c(port_);
      for (int i = 0; i < 50; ++i) {
        const std::string key = "m@1@" + std::to_string(t) + "@" + std::to_string(i) + "@uint8";
        const std::string payload(static_cast<std::size_t>(1000 + i), static_cast<char>('a' + t));
        c.SendRequest(1, key, payload);
        c.SendRequest(2, key);
        std::string body;
        auto r = c.Reply(&body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->code, 200);
        EXPECT_EQ(body, payload);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(server_->counters().hits.load(), 200u);
}

// A MissSource whose lookups the test completes by hand.
class ManualBelow : public protocol::MissSource {
 public:
  void FetchAsync(std::string key, std::function<void(store::L1Store::ObjectRef)> done) override {
    std::lock_guard lock(mu_);
    waiting_.emplace_back(std::move(key), std::move(done));
    cv_.notify_all();
  }
  bool Contains(const std::string&) override { return false; }
  std::vector<std::string> Keys() override { return {}; }
  // Waits (at most 5 s) for one lookup and takes it.
  bool Take(std::string* key, std::function<void(store::L1Store::ObjectRef)>* done) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !waiting_.empty(); })) return false;
    *key = waiting_.front().first;
    *done = std::move(waiting_.front().second);
    waiting_.erase(waiting_.begin());
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::function<void(store::L1Store::ObjectRef)>>> waiting_;
};

// True once `server` holds `n` connections (checked for at most 5 s: a
// connection goes when its last handler has run, on the server's loop).
bool AwaitOpenConnections(const Server& server, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.open_connections() != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// An object of `bytes` published in `store` under `key`.
store::L1Store::ObjectRef Publish(store::L1Store& store, const std::string& key, std::string_view bytes) {
  store::L1Store::Reservation r;
  EXPECT_EQ(store.Reserve(bytes.size(), &r), store::L1Store::ReserveError::kOk);
  r.CopyFrom(std::as_bytes(std::span(bytes)));
  return store.PublishIfAbsent(key, {static_cast<std::int32_t>(bytes.size()), 1, 3, {2, 1, 1, 5}}, std::move(r));
}

TEST(ServerMiss, AGetWaitingBelowL1HoldsOnlyItsOwnConnection) {
  // One event loop: if the waiting GET blocked it, the other connection
  // could not be served until the lookup ended.
  net::AsioTransport transport(1);
  auto store = std::make_shared<store::L1Store>(store::L1Store::Options{1 << 20, 1 << 20});
  auto below = std::make_shared<ManualBelow>();
  ServerOptions o;
  o.port = 0;
  o.misses = below;
  Server server(transport, store, o);
  std::uint16_t port = 0;
  ASSERT_EQ(server.Start(&port), net::NetError::kOk);
  transport.Start(1);
  RawClient waiting(port), other(port);
  waiting.SendRequest(2, "m@1@0@7@bfloat16");
  waiting.SendRequest(5, "@0@0@0@half");  // behind the GET: answered after it
  std::string key;
  std::function<void(store::L1Store::ObjectRef)> done;
  ASSERT_TRUE(below->Take(&key, &done));
  EXPECT_EQ(key, "m@1@0@7@bfloat16");
  other.SendRequest(1, "m@1@0@1@bfloat16", "other");
  other.SendRequest(2, "m@1@0@1@bfloat16");
  std::string body;
  ASSERT_EQ(other.Reply(&body)->code, 200);  // served while the first GET waits
  EXPECT_EQ(body, "other");
  // The lookup ends (from this thread, as a tier's would from its own).
  done(Publish(*store, key, "below"));
  ASSERT_EQ(waiting.Reply(&body)->code, 200);
  EXPECT_EQ(body, "below");
  EXPECT_EQ(waiting.Reply()->code, 200);  // the HEALTH behind it
  // A connection whose client went away while its GET waited: the server
  // reads nothing meanwhile (it takes no input behind the GET), so it learns
  // of the close only when the answer comes; then the connection goes, and
  // with it the answer's pin on the object.
  ASSERT_TRUE(AwaitOpenConnections(server, 2));
  {
    RawClient gone(port);
    gone.SendRequest(2, "m@1@0@9@bfloat16");
    ASSERT_TRUE(below->Take(&key, &done));
    ASSERT_TRUE(AwaitOpenConnections(server, 3));
  }
  store::L1Store::ObjectRef late = Publish(*store, key, "late!");
  const long pins = late.use_count();
  std::exchange(done, nullptr)(late);  // the source lets go of the callback, as a tier does
  EXPECT_TRUE(AwaitOpenConnections(server, 2)) << server.open_connections();
  EXPECT_EQ(late.use_count(), pins) << "the answer is still held";
  // The loop and the other connections are unaffected.
  waiting.SendRequest(5, "@0@0@0@half");
  EXPECT_EQ(waiting.Reply()->code, 200);
  server.Stop();
  transport.Stop();
  transport.Join();
}

// A GET that waits below L1 longer than the stall timeout: the server closes
// the connection at the deadline without a reply (the client sees the end of
// the stream and no byte before it), and the answer that comes after is
// dropped: not written, not counted as a hit or a miss, and not held (the
// connection then goes, releasing its pin on the object).
TEST(ServerMiss, AnAnswerAfterTheConnectionsDeadlineIsDropped) {
  net::AsioTransport transport(1);
  auto store = std::make_shared<store::L1Store>(store::L1Store::Options{1 << 20, 1 << 20});
  auto below = std::make_shared<ManualBelow>();
  ServerOptions o;
  o.port = 0;
  o.misses = below;
  o.stall_timeout = std::chrono::milliseconds(150);
  Server server(transport, store, o);
  std::uint16_t port = 0;
  ASSERT_EQ(server.Start(&port), net::NetError::kOk);
  transport.Start(1);
  RawClient c(port);
  c.SendRequest(2, "m@1@0@9@bfloat16");
  std::string key;
  std::function<void(store::L1Store::ObjectRef)> done;
  ASSERT_TRUE(below->Take(&key, &done));
  EXPECT_TRUE(c.AtEof()) << "closed at the deadline, with no reply";
  // The pending lookup still holds the connection object (closed).
  EXPECT_EQ(server.open_connections(), 1u);
  store::L1Store::ObjectRef late = Publish(*store, key, "late!");
  const long pins = late.use_count();
  std::exchange(done, nullptr)(late);  // the source lets go of the callback, as a tier does
  EXPECT_TRUE(AwaitOpenConnections(server, 0)) << server.open_connections();
  EXPECT_EQ(late.use_count(), pins) << "the dropped answer is still held";
  EXPECT_EQ(server.counters().hits.load(), 0u) << "a dropped answer counted as served";
  EXPECT_EQ(server.counters().misses.load(), 0u);
  // The server goes on serving.
  RawClient next(port);
  next.SendRequest(2, key);
  std::string body;
  ASSERT_EQ(next.Reply(&body)->code, 200);
  EXPECT_EQ(body, "late!");
  EXPECT_EQ(server.counters().hits.load(), 1u);
  server.Stop();
  transport.Stop();
  transport.Join();
}

}  // namespace
}  // namespace lmc::server
