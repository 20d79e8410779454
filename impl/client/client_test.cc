#include "client/client.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <future>
#include <thread>

#include "net/asio_transport.h"
#include "runtime/process_env.h"
#include "server/server.h"

namespace lmc::client {
namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }
std::string Text(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// A scripted peer on loopback, like LMCache's reconnect test server: each
// accepted connection runs `script` on a blocking socket.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(tcp::socket&, int)> script)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)) {
    thread_ = std::thread([this] {
      for (int n = 0;; ++n) {
        tcp::socket s(io_);
        std::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stop_) return;
        workers_.emplace_back([this, n, sock = std::move(s)]() mutable { script_(sock, n); });
      }
    });
  }
  ~ScriptedServer() {
    stop_ = true;
    std::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    for (auto& w : workers_) w.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::function<void(tcp::socket&, int)> script_;
  std::thread thread_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
};

// Reads one request header; false at EOF.
bool ReadRequest(tcp::socket& s, wire::RequestHeader* h) {
  std::array<std::byte, wire::kRequestHeaderBytes> buf{};
  std::error_code ec;
  asio::read(s, asio::buffer(buf.data(), buf.size()), ec);
  return !ec && wire::DecodeRequest(buf, h) == wire::WireError::kOk;
}

void SendReply(tcp::socket& s, const wire::ReplyHeader& r) {
  std::array<std::byte, wire::kReplyHeaderBytes> buf{};
  wire::EncodeReply(r, buf);
  std::error_code ec;
  asio::write(s, asio::buffer(buf.data(), buf.size()), ec);
}

ClientOptions Options(std::uint16_t port, std::chrono::milliseconds timeout = 2000ms) {
  ClientOptions o;
  o.port = port;
  o.call_timeout = timeout;
  o.connect_timeout = 1000ms;
  return o;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { transport_.Start(2); }
  void TearDown() override {
    transport_.Stop();
    transport_.Join();
  }
  net::AsioTransport transport_;
  runtime::ProcessEnv env_{transport_, {1, 0}};
};

TEST_F(ClientTest, EveryCommandAgainstTheReferenceServer) {
  auto store = std::make_shared<store::L1Store>(store::L1Store::Options{16 << 20, 16 << 20});
  server::ServerOptions so;
  so.port = 0;
  server::Server server(transport_, store, so);
  std::uint16_t port = 0;
  ASSERT_EQ(server.Start(&port), net::NetError::kOk);
  Client c(env_, Options(port));
  const std::string payload(4 << 20, 'z');
  EXPECT_EQ(c.Put("m@1@0@3039@bfloat16", {1, 3, {2, 1, 1, 4}}, Bytes(payload)).status, CallStatus::kOk);
  CallResult r = c.Get("m@1@0@0x3039@bfloat16");
  EXPECT_EQ(r.status, CallStatus::kOk);
  EXPECT_EQ(r.body.size(), payload.size());
  EXPECT_EQ(r.reply.shape, (wire::Shape{2, 1, 1, 4}));
  EXPECT_EQ(c.Get("m@1@0@1@half").status, CallStatus::kMiss);
  EXPECT_EQ(c.Exist("m@1@0@3039@bfloat16").status, CallStatus::kOk);
  EXPECT_EQ(Text(c.List().body), "m@1@0@3039@bfloat16");
  EXPECT_EQ(c.Health().status, CallStatus::kOk);
  // Pipelined: several calls in flight on one connection, answered in order.
  std::vector<std::future<CallResult>> fs;
  for (int i = 0; i < 20; ++i) {
    auto promise = std::make_shared<std::promise<CallResult>>();
    fs.push_back(promise->get_future());
    c.ExistAsync(i % 2 ? "m@1@0@3039@bfloat16" : "m@1@0@2@half",
                 [promise](CallResult got) { promise->set_value(std::move(got)); });
  }
  for (std::size_t i = 0; i < fs.size(); ++i) {
    ASSERT_EQ(fs[i].wait_for(5s), std::future_status::ready);
    EXPECT_EQ(fs[i].get().status, i % 2 ? CallStatus::kOk : CallStatus::kMiss);
  }
  EXPECT_EQ(c.Put(std::string(151, 'k'), {}, {}).status, CallStatus::kBadRequest);
  server.Stop();
}

TEST_F(ClientTest, ListAgainstAServerThatNeverAnswersFailsAtItsDeadline) {
  // LMCache's Python server ignores LIST and keeps the connection open.
  ScriptedServer py([](tcp::socket& s, int) {
    wire::RequestHeader h;
    while (ReadRequest(s, &h)) {
      if (h.command == 5) SendReply(s, {200, 0, 1, 2, {}, 0});
    }
  });
  Client c(env_, Options(py.port(), 500ms));
  const auto start = net::Clock::now();
  const CallResult r = c.List();
  EXPECT_EQ(r.status, CallStatus::kTimedOut);
  EXPECT_LT(net::Clock::now() - start, 2s);
  EXPECT_EQ(c.Health().status, CallStatus::kOk);  // a new connection works
  c.Close();
}

TEST_F(ClientTest, InvalidReplyIsNotRetriedAndTheNextCallReconnects) {
  std::atomic<int> connections{0};
  ScriptedServer bad([&](tcp::socket& s, int n) {
    connections++;
    wire::RequestHeader h;
    while (ReadRequest(s, &h)) SendReply(s, {n == 0 ? 999 : 200, 0, 1, 2, {}, 0});
  });
  Client c(env_, Options(bad.port()));
  const CallResult r = c.Exist("m@1@0@1@half");
  EXPECT_EQ(r.status, CallStatus::kInvalidReply);
  EXPECT_EQ(r.detail, "reply code 999 to EXIST (200 and 400 are the codes)");  // says what was wrong
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(c.Exist("m@1@0@1@half").status, CallStatus::kOk);
  EXPECT_EQ(connections.load(), 2);
  c.Close();
}

TEST_F(ClientTest, DroppedReplyIsRetriedOnANewConnection) {
  // The first connection reads the request and closes without replying.
  ScriptedServer flaky([](tcp::socket& s, int n) {
    wire::RequestHeader h;
    while (ReadRequest(s, &h)) {
      if (n == 0) return;
      SendReply(s, {200, 0, 1, 2, {}, 0});
    }
  });
  Client c(env_, Options(flaky.port()));
  const CallResult r = c.Exist("m@1@0@1@half");
  EXPECT_EQ(r.status, CallStatus::kOk);
  EXPECT_EQ(r.attempts, 2);
  c.Close();
}

TEST_F(ClientTest, RefusedConnectionsGiveUpAfterThreeAttempts) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: connecting is refused
  Client c(env_, Options(port));
  const auto start = net::Clock::now();
  const CallResult r = c.Health();
  EXPECT_EQ(r.status, CallStatus::kUnavailable);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_GE(net::Clock::now() - start, 300ms);  // waited 100 ms, then 200 ms
}

TEST(ParseLmUrl, AcceptsOnlyLmUrls) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(ParseLmUrl("lm://127.0.0.1:65432", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 65432);
  EXPECT_TRUE(ParseLmUrl("lm://[::1]:1", &host, &port));
  EXPECT_EQ(host, "::1");
  for (const char* bad : {"http://x:1", "lm://x", "lm://:1", "lm://x:", "lm://x:0", "lm://x:65536", "lm://x:abc",
                          "lm://x:1a", "lm://x:999999999999"}) {
    EXPECT_FALSE(ParseLmUrl(bad, &host, &port)) << bad;
  }
}

TEST_F(ClientTest, CallsAfterCloseFail) {
  Client c(env_, Options(1));
  c.Close();
  EXPECT_EQ(c.Health().status, CallStatus::kClientClosed);
  CallStatus async = CallStatus::kOk;
  c.ExistAsync("m@1@0@1@half", [&async](CallResult r) { async = r.status; });  // at once, on this thread
  EXPECT_EQ(async, CallStatus::kClientClosed);
}

}  // namespace
}  // namespace lmc::client

namespace lmc::client {
namespace {

// State-machine property over loopback: random PUT/GET/EXIST/LIST/HEALTH,
// through the client library and the live server, on keys drawn from a small
// pool in several spellings (so they collide), against a model map.
RC_GTEST_PROP(LiveServerProp, MatchesAModelMap, ()) {
  net::AsioTransport transport;
  transport.Start(2);
  auto store = std::make_shared<store::L1Store>(store::L1Store::Options{8 << 20, 8 << 20});
  server::ServerOptions so;
  so.port = 0;
  auto srv = std::make_unique<server::Server>(transport, store, so);
  std::uint16_t port = 0;
  RC_ASSERT(srv->Start(&port) == net::NetError::kOk);
  {
    runtime::ProcessEnv env(transport, {1, 0});
    Client c(env, Options(port));
    const std::vector<std::vector<std::string>> spellings = {
        {"m@1@0@3039@bfloat16", "m@1@0@0x3039@bfloat16", "m@1@0@3_039@bfloat16"},
        {"m@2@1@ff@half@7@t%v", "m@2@1@0XFF@half@007@t%v"},
        {"Qwen/Qwen3-4B@1@0@-5d1b8de6da1b6d09@bfloat16@0"}};
    std::map<std::string, std::string> model;
    std::vector<std::string> payloads;
    payloads.reserve(64);
    const int steps = *rc::gen::inRange(1, 40);
    for (int i = 0; i < steps; ++i) {
      const std::size_t k = *rc::gen::inRange<std::size_t>(0, spellings.size());
      const std::string& key = *rc::gen::elementOf(spellings[k]);
      const std::string& canonical = spellings[k][0];
      switch (*rc::gen::inRange(0, 5)) {
        case 0:
          payloads.push_back(std::string(*rc::gen::inRange<std::size_t>(0, 70000), static_cast<char>('a' + i % 26)));
          RC_ASSERT(c.Put(key, {1, 3, {}}, Bytes(payloads.back())).status == CallStatus::kOk);
          model[canonical] = payloads.back();
          break;
        case 1: {
          const CallResult r = c.Get(key);
          RC_ASSERT(r.status == (model.count(canonical) ? CallStatus::kOk : CallStatus::kMiss));
          if (model.count(canonical)) RC_ASSERT(Text(r.body) == model[canonical]);
          break;
        }
        case 2: RC_ASSERT(c.Exist(key).status == (model.count(canonical) ? CallStatus::kOk : CallStatus::kMiss)); break;
        case 3: {
          const CallResult r = c.List();
          RC_ASSERT(r.status == CallStatus::kOk);
          std::set<std::string> listed;
          std::string body = Text(r.body);
          for (std::size_t at = 0; !body.empty();) {
            const std::size_t nl = body.find('\n', at);
            listed.insert(body.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
            if (nl == std::string::npos) break;
            at = nl + 1;
          }
          std::set<std::string> want;
          for (const auto& [key2, v] : model) want.insert(key2);
          RC_ASSERT(listed == want);
          break;
        }
        default: RC_ASSERT(c.Health().status == CallStatus::kOk);
      }
    }
    c.Close();
  }
  srv->Stop();
  transport.Stop();
  transport.Join();
}

}  // namespace
}  // namespace lmc::client
