#include <gtest/gtest.h>

#include <rapidcheck/gtest.h>

#include "resp/client.h"
#include "resp/mini_server.h"
#include "resp/reply.h"
#include "runtime/testing.h"

namespace lmc::resp {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

ReplyReader::Status FeedAll(ReplyReader& r, std::string_view s, Reply* out) {
  if (!r.Feed(Bytes(s))) return ReplyReader::Status::kError;
  return r.Next(out);
}

TEST(ReplyReader, ParsesEveryType) {
  ReplyReader r;
  Reply x;
  ASSERT_EQ(FeedAll(r, "+OK\r\n", &x), ReplyReader::Status::kReply);
  EXPECT_TRUE(x.is_ok_status());
  ASSERT_EQ(FeedAll(r, "-ERR bad\r\n", &x), ReplyReader::Status::kReply);
  EXPECT_TRUE(x.is_error());
  EXPECT_EQ(x.str, "ERR bad");
  ASSERT_EQ(FeedAll(r, ":-42\r\n", &x), ReplyReader::Status::kReply);
  EXPECT_EQ(x.type, Reply::Type::kInteger);
  EXPECT_EQ(x.integer, -42);
  ASSERT_EQ(FeedAll(r, "$-1\r\n", &x), ReplyReader::Status::kReply);
  EXPECT_EQ(x.type, Reply::Type::kNil);
  ASSERT_EQ(FeedAll(r, std::string_view("$5\r\na\0b\r\n\r\n", 11), &x), ReplyReader::Status::kReply);
  EXPECT_EQ(x.str, std::string("a\0b\r\n", 5));
  ASSERT_EQ(FeedAll(r, "*2\r\n*1\r\n:1\r\n$1\r\nz\r\n", &x), ReplyReader::Status::kReply);
  ASSERT_EQ(x.elements.size(), 2u);
  EXPECT_EQ(x.elements[0].elements[0].integer, 1);
  EXPECT_EQ(x.elements[1].str, "z");
  EXPECT_EQ(r.Next(&x), ReplyReader::Status::kNeedMore);
}

TEST(ReplyReader, ByteByByteGivesTheSameReplies) {
  const std::string wire = "*3\r\n$3\r\nabc\r\n:7\r\n*0\r\n+PONG\r\n";
  ReplyReader r;
  std::vector<Reply> got;
  for (char c : wire) {
    ASSERT_TRUE(r.Feed(Bytes(std::string_view(&c, 1))));
    Reply x;
    while (r.Next(&x) == ReplyReader::Status::kReply) got.push_back(std::move(x));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].elements[0].str, "abc");
  EXPECT_EQ(got[0].elements[2].elements.size(), 0u);
  EXPECT_EQ(got[1].str, "PONG");
}

TEST(ReplyReader, RefusesWhatBreaksItsLimits) {
  ReaderLimits limits{16, 4, 64};
  Reply x;
  {
    ReplyReader r(limits);
    EXPECT_EQ(FeedAll(r, "$17\r\n01234567890123456\r\n", &x), ReplyReader::Status::kError);
    EXPECT_NE(r.error().find("over the limit"), std::string::npos) << r.error();
  }
  {
    ReplyReader r(limits);
    EXPECT_EQ(FeedAll(r, "*5\r\n", &x), ReplyReader::Status::kError);
  }
  {
    ReplyReader r(limits);
    EXPECT_EQ(FeedAll(r, "*-7\r\n", &x), ReplyReader::Status::kError);
  }
  {
    ReplyReader r(limits);  // a huge declared length is never allocated: it waits, within max_buffered
    EXPECT_EQ(FeedAll(r, "$9223372036854775807\r\nabc", &x), ReplyReader::Status::kNeedMore);
    EXPECT_FALSE(r.Feed(Bytes(std::string(41, 'x'))));  // 24 held + 41 > 64
    EXPECT_EQ(r.Next(&x), ReplyReader::Status::kError);
  }
  {
    ReplyReader r(limits);
    EXPECT_FALSE(r.Feed(Bytes(std::string(65, '+'))));
    EXPECT_EQ(r.Next(&x), ReplyReader::Status::kError);
  }
  {
    ReplyReader r;
    EXPECT_EQ(FeedAll(r, "?what\r\n", &x), ReplyReader::Status::kError);
    EXPECT_FALSE(r.Feed(Bytes("+OK\r\n")));  // failed for good
  }
  {
    ReplyReader r;  // hiredis's depth limit
    EXPECT_EQ(FeedAll(r, "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &x),
              ReplyReader::Status::kError);
  }
}

// Any bytes: the reader answers, never crashes (the fuzz target goes further).
RC_GTEST_PROP(ReplyReaderProperty, AnyBytesEndInAnAnswer, (const std::string& bytes)) {
  ReplyReader r(ReaderLimits{1024, 16, 4096});
  Reply x;
  if (r.Feed(Bytes(bytes)))
    for (int i = 0; i < 1000 && r.Next(&x) == ReplyReader::Status::kReply; ++i) {
    }
}

TEST(Command, EncodesArraysOfBulkStrings) {
  const std::string v = "xyz";
  const Command c({"SET", "k"}, Bytes(v));
  EXPECT_EQ(c.head(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n");
  EXPECT_EQ(c.tail(), "\r\n");
  EXPECT_EQ(c.size(), c.head().size() + 5);
  EXPECT_EQ(Command({"PING"}).head(), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(Command({"PING"}).tail(), "");
}

TEST(KeySlot, MatchesRedisCluster) {
  // The cluster specification's examples and redis-cli CLUSTER KEYSLOT.
  EXPECT_EQ(KeySlot("123456789"), 0x31C3 % kSlots);
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("foo{}{bar}"), KeySlot("foo{}{bar}"));
  EXPECT_NE(KeySlot("foo{}{bar}"), KeySlot("bar"));  // an empty tag: the whole key
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot(""), 0);
}

TEST(Redirect, ParsesMovedAndAsk) {
  Redirect r;
  ASSERT_TRUE(ParseRedirect("MOVED 3999 127.0.0.1:6381", &r));
  EXPECT_FALSE(r.ask);
  EXPECT_EQ(r.slot, 3999);
  EXPECT_EQ(r.host, "127.0.0.1");
  EXPECT_EQ(r.port, 6381);
  ASSERT_TRUE(ParseRedirect("ASK 1 [::1]:7000", &r));
  EXPECT_TRUE(r.ask);
  EXPECT_EQ(r.host, "::1");
  ASSERT_TRUE(ParseRedirect("MOVED 5 :7001", &r));
  EXPECT_EQ(r.host, "");
  for (const char* bad :
       {"MOVED", "MOVED 16384 a:1", "MOVED x a:1", "ASK 1 a:0", "ASK 1 a:70000", "ERR x", "MOVED 1 a"})
    EXPECT_FALSE(ParseRedirect(bad, &r)) << bad;
}

class ClientTest : public ::testing::Test {
 protected:
  void Start(MiniServerOptions o = {}) {
    server_ = std::make_unique<MiniServer>(runtime::TestEnv().Net(), o);
    ASSERT_EQ(server_->Start("127.0.0.1", 0, &port_), net::NetError::kOk);
  }
  ClientOptions Options() {
    ClientOptions o;
    o.nodes = {{"127.0.0.1", port_}};
    o.connections_per_node = 2;
    o.call_timeout = std::chrono::milliseconds(1000);
    return o;
  }
  std::unique_ptr<MiniServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ClientTest, SetGetExistsDel) {
  Start();
  Client c(runtime::TestEnv(), Options());
  std::string detail;
  ASSERT_EQ(c.Check(&detail), Status::kOk) << detail;
  std::vector<std::byte> value(100000);
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<std::byte>(i * 7);
  ASSERT_EQ(c.Set("k", value), Status::kOk);
  EXPECT_EQ(c.Exists("k"), Status::kOk);
  EXPECT_EQ(c.Exists("nope"), Status::kMiss);
  std::vector<std::byte> back(value.size());
  std::size_t n = 0;
  ASSERT_EQ(c.Get("k", back, true, &n), Status::kOk);
  EXPECT_EQ(n, value.size());
  EXPECT_EQ(back, value);
  std::vector<std::byte> small(10);
  EXPECT_EQ(c.Get("k", small, false, &n), Status::kTooLarge);
  std::vector<std::byte> big(value.size() + 1);
  EXPECT_EQ(c.Get("k", big, true, &n), Status::kTooLarge);
  ASSERT_EQ(c.Get("k", big, false, &n), Status::kOk);
  EXPECT_EQ(n, value.size());
  EXPECT_EQ(c.Get("nope", back, true, &n), Status::kMiss);
  EXPECT_EQ(c.Del("k"), Status::kOk);
  EXPECT_EQ(c.Exists("k"), Status::kMiss);
  ASSERT_EQ(c.Set("empty", {}), Status::kOk);
  ASSERT_EQ(c.Get("empty", back, false, &n), Status::kOk);
  EXPECT_EQ(n, 0u);
}

// A peer that answers the first command it reads with `reply`, in one write.
class RawPeer {
 public:
  explicit RawPeer(std::string reply) : reply_(std::move(reply)) {
    net::NetError e = net::NetError::kOk;
    listener_ = runtime::TestEnv().Net().Listen("127.0.0.1", 0, &e);
    EXPECT_TRUE(listener_);
    listener_->AsyncAccept([this](net::NetError ae, std::unique_ptr<net::Stream> s) {
      if (ae != net::NetError::kOk) return;
      stream_ = std::move(s);
      stream_->AsyncReadSome(buffer_, [this](net::NetError re, std::size_t) {
        if (re != net::NetError::kOk) return;
        const std::span<const std::byte> one[] = {Bytes(reply_)};
        stream_->AsyncWrite(one, [](net::NetError, std::size_t) {});
      });
    });
  }
  ~RawPeer() {
    listener_->Close();
    if (stream_) stream_->Close();
  }
  std::uint16_t port() const { return listener_->port(); }

 private:
  std::string reply_;
  std::unique_ptr<net::Listener> listener_;
  std::unique_ptr<net::Stream> stream_;
  std::vector<std::byte> buffer_ = std::vector<std::byte>(4096);
};

// One command, one reply: a second reply would answer the next call, so the
// connection is out of step: a protocol error, and the connection goes.
TEST(ClientOutOfStep, BytesAfterAReplyAreAProtocolError) {
  for (const char* reply : {"+OK\r\n+OK\r\n", "$1\r\nx\r\n:1\r\n", "$-1\r\n$1\r\nx\r\n"}) {
    RawPeer peer(reply);
    ClientOptions o;
    o.nodes = {{"127.0.0.1", peer.port()}};
    o.call_timeout = std::chrono::milliseconds(1000);
    Client c(runtime::TestEnv(), o);
    std::vector<std::byte> out(1);
    std::size_t n = 0;
    const Status s = reply[0] == '+' ? c.Set("k", Bytes("v")) : c.Get("k", out, true, &n);
    EXPECT_EQ(s, Status::kProtocol) << reply;
  }
}

TEST_F(ClientTest, AuthRefusedIsAClearError) {
  MiniServerOptions so;
  so.password = "sesame";
  Start(so);
  ClientOptions o = Options();
  o.password = "wrong";
  Client c(runtime::TestEnv(), o);
  std::string detail;
  EXPECT_EQ(c.Check(&detail), Status::kAuth);
  EXPECT_NE(detail.find("WRONGPASS"), std::string::npos) << detail;
  o.password = "sesame";
  Client good(runtime::TestEnv(), o);
  EXPECT_EQ(good.Check(&detail), Status::kOk) << detail;
  ClientOptions none = Options();
  Client anonymous(runtime::TestEnv(), none);
  EXPECT_EQ(anonymous.Check(&detail), Status::kAuth) << detail;
}

TEST_F(ClientTest, UnreachableFailsFastThenReconnects) {
  Start();
  ClientOptions o = Options();
  server_->Stop();
  server_.reset();
  o.backoff_min = std::chrono::milliseconds(300);
  Client c(runtime::TestEnv(), o);
  std::string detail;
  EXPECT_EQ(c.Check(&detail), Status::kUnavailable) << detail;
  EXPECT_FALSE(c.Healthy());
  const auto t0 = runtime::TestEnv().Now();
  EXPECT_EQ(c.Set("k", Bytes("v")), Status::kUnavailable);  // backing off: at once
  EXPECT_LT(runtime::TestEnv().Now() - t0, std::chrono::milliseconds(100));
  EXPECT_GE(c.Stats().fast_failures, 1u);
  // It comes back on the same port: after the back-off, calls go through.
  server_ = std::make_unique<MiniServer>(runtime::TestEnv().Net(), MiniServerOptions{});
  std::uint16_t again = 0;
  ASSERT_EQ(server_->Start("127.0.0.1", port_, &again), net::NetError::kOk);
  runtime::TestEnv().SleepUntil(runtime::TestEnv().Now() + std::chrono::milliseconds(350));
  EXPECT_EQ(c.Set("k", Bytes("v")), Status::kOk);
  EXPECT_TRUE(c.Healthy());
}

TEST_F(ClientTest, SlowRepliesTimeOutAndTheConnectionIsReplaced) {
  Start();
  ClientOptions o = Options();
  o.call_timeout = std::chrono::milliseconds(100);
  Client c(runtime::TestEnv(), o);
  ASSERT_EQ(c.Set("k", Bytes("v")), Status::kOk);
  server_->SetReplyDelay(std::chrono::milliseconds(400));
  const auto t0 = runtime::TestEnv().Now();
  EXPECT_EQ(c.Exists("k"), Status::kTimedOut);
  EXPECT_LT(runtime::TestEnv().Now() - t0, std::chrono::milliseconds(300));
  server_->SetReplyDelay(std::chrono::microseconds(0));
  EXPECT_EQ(c.Exists("k"), Status::kOk);  // a fresh connection, in step
  EXPECT_EQ(c.Stats().timeouts, 1u);
}

TEST_F(ClientTest, RestartLosesUnsavedWrites) {
  Start();
  Client c(runtime::TestEnv(), Options());
  ASSERT_EQ(c.Set("saved", Bytes("1")), Status::kOk);
  server_->Save();
  ASSERT_EQ(c.Set("unsaved", Bytes("2")), Status::kOk);
  server_->Restart();
  // The dropped connection fails one call; the node backs off, then answers.
  (void)c.Exists("saved");
  runtime::TestEnv().SleepUntil(runtime::TestEnv().Now() + std::chrono::milliseconds(100));
  EXPECT_EQ(c.Exists("saved"), Status::kOk);
  EXPECT_EQ(c.Exists("unsaved"), Status::kMiss);
}

// A MiniServer whose CLUSTER SLOTS names itself, as `announced` (its host,
// or "" for "the node you asked"), for every slot, on *port; when that is 0,
// on a free port found by a first start (the map must name it).
std::unique_ptr<MiniServer> StartOwningEverySlot(MiniServerOptions o, const std::string& announced,
                                                 std::uint16_t* port) {
  if (*port == 0) {
    MiniServer probe(runtime::TestEnv().Net(), {});
    EXPECT_EQ(probe.Start("127.0.0.1", 0, port), net::NetError::kOk);
    probe.Stop();
  }
  o.cluster_slots = "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$" + std::to_string(announced.size()) + "\r\n" + announced +
                    "\r\n:" + std::to_string(*port) + "\r\n";
  auto s = std::make_unique<MiniServer>(runtime::TestEnv().Net(), o);
  EXPECT_EQ(s->Start("127.0.0.1", *port, port), net::NetError::kOk);
  return s;
}

// A cluster of MiniServers: A serves every slot by the map, but answers
// every key command with a redirect to B (MOVED, or ASK once a slot is
// migrating); the client follows it, updates its map on MOVED, and sends
// ASKING before the command on ASK.
TEST(ClusterClient, FollowsMovedAndAsk) {
  for (const bool ask : {false, true}) {
    auto b = std::make_unique<MiniServer>(runtime::TestEnv().Net(), MiniServerOptions{});
    std::uint16_t pb = 0;
    ASSERT_EQ(b->Start("127.0.0.1", 0, &pb), net::NetError::kOk);
    MiniServerOptions ao;
    ao.redirect =
        std::string(ask ? "ASK " : "MOVED ") + std::to_string(KeySlot("k")) + " 127.0.0.1:" + std::to_string(pb);
    std::uint16_t pa = 0;
    const auto a = StartOwningEverySlot(ao, "127.0.0.1", &pa);
    ClientOptions o;
    o.nodes = {{"127.0.0.1", pa}};
    o.cluster = true;
    o.call_timeout = std::chrono::milliseconds(1000);
    Client c(runtime::TestEnv(), o);
    std::string detail;
    ASSERT_EQ(c.Check(&detail), Status::kOk) << detail;
    ASSERT_EQ(c.Set("k", Bytes("v1")), Status::kOk);
    EXPECT_EQ(b->size(), 1u);  // it landed on B
    EXPECT_EQ(a->size(), 0u);
    std::vector<std::byte> out(2);
    std::size_t n = 0;
    ASSERT_EQ(c.Get("k", out, true, &n), Status::kOk);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), n), "v1");
    const ClientStats s = c.Stats();
    if (ask) {
      EXPECT_EQ(s.asked, 2u);  // ASK each time: the map still names A
      EXPECT_EQ(s.moved, 0u);
    } else {
      // Each MOVED updates the slot and marks the map stale; the map A gives
      // back still names A (a real cluster's would name B), so the next call
      // is moved again.
      EXPECT_EQ(s.moved, 2u);
      EXPECT_GE(s.slot_refreshes, 2u);
      EXPECT_EQ(s.asked, 0u);
    }
  }
}

TEST(ClusterClient, RedirectLoopsEndAtTheHopLimit) {
  // Redirected to itself, forever: its port is found first, so that the
  // redirect can name it.
  std::uint16_t pa = 0;
  StartOwningEverySlot({}, "", &pa)->Stop();
  MiniServerOptions o;
  o.redirect = "MOVED 1 127.0.0.1:" + std::to_string(pa);
  const auto a = StartOwningEverySlot(o, "", &pa);
  ClientOptions co;
  co.nodes = {{"127.0.0.1", pa}};
  co.cluster = true;
  Client c(runtime::TestEnv(), co);
  std::string detail;
  ASSERT_EQ(c.Check(&detail), Status::kOk) << detail;  // an empty host: the node asked
  EXPECT_EQ(c.Set("k", Bytes("v")), Status::kServerError);
  EXPECT_EQ(c.Stats().moved, 5u);
}

}  // namespace
}  // namespace lmc::resp
