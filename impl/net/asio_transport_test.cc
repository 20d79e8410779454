// net::AsioTransport over loopback: listen on port 0, connect, gathered
// writes and reads, the end of the stream, Close() cancelling a pending read,
// timers of a stream firing on that stream's loop, the transport's own timer
// and Post(), the error mapping, and a clean stop (Run() returns once Stop()
// is called from a handler; what is still queued is destroyed, not run).
// Stream operations are started inside Dispatch(), on the stream's strand, as
// the server and client do. Every wait has a deadline.
#include "net/asio_transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lmc::net {
namespace {

using namespace std::chrono_literals;

// The value of `f` if it is ready within 5 s.
template <typename T>
std::optional<T> Within(std::future<T>& f) {
  if (f.wait_for(5s) != std::future_status::ready) return std::nullopt;
  return f.get();
}

std::span<const std::byte> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct Pair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Stream> accepted, connected;
};

// A listener on 127.0.0.1 port 0 and both ends of one connection to it.
::testing::AssertionResult Connect(AsioTransport& t, Pair* p) {
  NetError e = NetError::kOther;
  p->listener = t.Listen("127.0.0.1", 0, &e);
  if (!p->listener || e != NetError::kOk) return ::testing::AssertionFailure() << "listen: " << NetErrorName(e);
  if (p->listener->port() == 0) return ::testing::AssertionFailure() << "port 0 was not replaced";
  using Result = std::pair<NetError, std::unique_ptr<Stream>>;
  auto accepted = std::make_shared<std::promise<Result>>();
  auto connected = std::make_shared<std::promise<Result>>();
  p->listener->AsyncAccept([accepted](NetError err, std::unique_ptr<Stream> s) {
    accepted->set_value({err, std::move(s)});
  });
  t.AsyncConnect("127.0.0.1", p->listener->port(), [connected](NetError err, std::unique_ptr<Stream> s) {
    connected->set_value({err, std::move(s)});
  });
  auto fa = accepted->get_future(), fc = connected->get_future();
  auto a = Within(fa), c = Within(fc);
  if (!a || !c) return ::testing::AssertionFailure() << "accept or connect did not complete";
  if (a->first != NetError::kOk || c->first != NetError::kOk || !a->second || !c->second) {
    return ::testing::AssertionFailure() << "accept " << NetErrorName(a->first) << ", connect "
                                         << NetErrorName(c->first);
  }
  p->accepted = std::move(a->second);
  p->connected = std::move(c->second);
  return ::testing::AssertionSuccess();
}

// Reads from `s` until `n` bytes or an error; the bytes and the last status.
struct ReadState {
  Stream* stream;
  std::size_t want;
  std::string got;
  std::vector<std::byte> buf = std::vector<std::byte>(64);
  std::promise<std::pair<NetError, std::string>> done;
};
void ReadMore(std::shared_ptr<ReadState> r) {
  r->stream->AsyncReadSome(r->buf, [r](NetError e, std::size_t n) {
    r->got.append(reinterpret_cast<const char*>(r->buf.data()), n);
    if (e != NetError::kOk || r->got.size() >= r->want) {
      r->done.set_value({e, r->got});
      return;
    }
    ReadMore(r);
  });
}
std::future<std::pair<NetError, std::string>> ReadUpTo(Stream& s, std::size_t n) {
  auto r = std::make_shared<ReadState>();
  r->stream = &s;
  r->want = n;
  auto f = r->done.get_future();
  s.Dispatch([r] { ReadMore(r); });
  return f;
}

std::future<std::pair<NetError, std::size_t>> Write(Stream& s, std::vector<std::string> pieces) {
  auto done = std::make_shared<std::promise<std::pair<NetError, std::size_t>>>();
  auto keep = std::make_shared<std::vector<std::string>>(std::move(pieces));
  s.Dispatch([&s, done, keep] {
    auto spans = std::make_shared<std::vector<std::span<const std::byte>>>();
    for (const std::string& p : *keep) spans->push_back(Bytes(p));
    s.AsyncWrite(*spans, [done, keep, spans](NetError e, std::size_t n) { done->set_value({e, n}); });
  });
  return done->get_future();
}

TEST(AsioTransport, ListenConnectWriteReadAndEndOfStream) {
  AsioTransport t(2);
  t.Start(2);
  {
    Pair p;
    ASSERT_TRUE(Connect(t, &p));
    auto wrote = Write(*p.connected, {"hel", "lo, ", "server"});  // gathered
    auto read = ReadUpTo(*p.accepted, 13);
    const auto w = Within(wrote);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->first, NetError::kOk);
    EXPECT_EQ(w->second, 13u);
    const auto r = Within(read);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, NetError::kOk);
    EXPECT_EQ(r->second, "hello, server");
    // And back the other way, then the client closes: the server reads the
    // end of the stream (kEof with 0 bytes) after the last byte.
    auto back = ReadUpTo(*p.connected, 2);
    auto sent = Write(*p.accepted, {"ok"});
    ASSERT_TRUE(Within(sent));
    const auto b = Within(back);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->second, "ok");
    auto end = ReadUpTo(*p.accepted, 1);
    p.connected->Close();
    const auto e = Within(end);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->first, NetError::kEof);
    EXPECT_EQ(e->second, "");
    t.Stop();
    t.Join();
  }
}

TEST(AsioTransport, CloseCancelsAPendingRead) {
  AsioTransport t(1);
  t.Start(1);
  Pair p;
  ASSERT_TRUE(Connect(t, &p));
  auto pending = ReadUpTo(*p.accepted, 1);
  p.accepted->Dispatch([&p] { p.accepted->Close(); });
  const auto r = Within(pending);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, NetError::kCancelled);
  // The peer sees the end of the stream.
  auto end = ReadUpTo(*p.connected, 1);
  const auto e = Within(end);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->first == NetError::kEof || e->first == NetError::kReset) << NetErrorName(e->first);
  t.Stop();
  t.Join();
}

// Two loops, one thread each: a stream's timer handlers run on the thread
// that runs the stream's own handlers, whichever loop it was placed on.
// The server refuses a connection by closing the stream on the accepting
// loop and destroying it at once, while the close is queued on the stream's
// own loop; that close must not touch the destroyed stream (ASan in
// ci/asan.sh reports it if it does) and must still reach the peer.
TEST(AsioTransport, AStreamClosedAndDestroyedOffItsLoopStillCloses) {
  AsioTransport t(2);
  t.Start(2);
  for (int round = 0; round < 50; ++round) {
    Pair p;
    ASSERT_TRUE(Connect(t, &p));
    auto end = ReadUpTo(*p.connected, 1);
    p.accepted->Close();  // on this thread, off the stream's strand
    p.accepted.reset();
    const auto e = Within(end);
    ASSERT_TRUE(e) << "round " << round;
    EXPECT_TRUE(e->first == NetError::kEof || e->first == NetError::kReset) << NetErrorName(e->first);
  }
  t.Stop();
  t.Join();
}

TEST(AsioTransport, AStreamsTimersFireOnThatStreamsLoop) {
  AsioTransport t(2);
  t.Start(2);
  Pair p;
  ASSERT_TRUE(Connect(t, &p));
  for (Stream* s : {p.accepted.get(), p.connected.get()}) {
    auto in_stream = std::make_shared<std::promise<std::thread::id>>();
    s->Dispatch([in_stream] { in_stream->set_value(std::this_thread::get_id()); });
    auto stream_thread = in_stream->get_future();
    const auto st = Within(stream_thread);
    ASSERT_TRUE(st);
    std::unique_ptr<Timer> timer = s->MakeTimer();
    auto fired = std::make_shared<std::promise<std::pair<NetError, std::thread::id>>>();
    const auto start = Clock::now();
    timer->AsyncWait(20ms, [fired](NetError e) { fired->set_value({e, std::this_thread::get_id()}); });
    auto f = fired->get_future();
    const auto r = Within(f);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, NetError::kOk);
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(r->second, *st) << "the timer fired off the stream's loop";
    // Cancel: the handler is told so, at once.
    auto cancelled = std::make_shared<std::promise<NetError>>();
    s->Dispatch([&timer, cancelled] {
      timer->AsyncWait(1h, [cancelled](NetError e) { cancelled->set_value(e); });
      timer->Cancel();
    });
    auto c = cancelled->get_future();
    EXPECT_EQ(Within(c), std::optional<NetError>(NetError::kCancelled));
  }
  t.Stop();
  t.Join();
}

TEST(AsioTransport, PostRunsInOrderOnALoopAndTheTransportTimerFires) {
  AsioTransport t(2);
  t.Start(2);
  auto order = std::make_shared<std::vector<int>>();
  auto all = std::make_shared<std::promise<std::thread::id>>();
  for (int i = 0; i < 100; ++i) {
    t.Post([order, all, i] {
      order->push_back(i);  // posts run one after another on loop 0's thread
      if (i == 99) all->set_value(std::this_thread::get_id());
    });
  }
  auto f = all->get_future();
  const auto runner = Within(f);
  ASSERT_TRUE(runner);
  EXPECT_NE(*runner, std::this_thread::get_id());
  std::vector<int> want(100);
  for (int i = 0; i < 100; ++i) want[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(*order, want);
  for (int i = 0; i < 3; ++i) {  // each of them, not only the first
    std::unique_ptr<Timer> timer = t.MakeTimer();
    auto fired = std::make_shared<std::promise<std::pair<NetError, std::thread::id>>>();
    timer->AsyncWait(10ms, [fired](NetError e) { fired->set_value({e, std::this_thread::get_id()}); });
    auto ff = fired->get_future();
    const auto r = Within(ff);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, NetError::kOk);
    EXPECT_EQ(r->second, *runner) << "the transport's timers live on loop 0, as its posts do";
  }
  t.Stop();
  t.Join();
}

TEST(AsioTransport, ErrorsAreNamedAndMapped) {
  AsioTransport t(1);
  t.Start(1);
  NetError e = NetError::kOk;
  EXPECT_EQ(t.Listen("not an address", 0, &e), nullptr);
  EXPECT_EQ(e, NetError::kAddress);
  auto busy = t.Listen("127.0.0.1", 0, &e);
  ASSERT_NE(busy, nullptr);
  const std::uint16_t taken = busy->port();
  EXPECT_EQ(t.Listen("127.0.0.1", taken, &e), nullptr);
  EXPECT_EQ(e, NetError::kAddress);
  // Nothing listens on a port just given up: refused.
  auto gone = t.Listen("127.0.0.1", 0, &e);
  ASSERT_NE(gone, nullptr);
  const std::uint16_t closed_port = gone->port();
  gone->Close();
  gone.reset();
  auto refused = std::make_shared<std::promise<std::pair<NetError, bool>>>();
  t.AsyncConnect("127.0.0.1", closed_port, [refused](NetError err, std::unique_ptr<Stream> s) {
    refused->set_value({err, s != nullptr});
  });
  auto f = refused->get_future();
  const auto r = Within(f);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, NetError::kRefused);
  EXPECT_FALSE(r->second);
  EXPECT_EQ(FromAsio({}), NetError::kOk);
  EXPECT_EQ(FromAsio(asio::error::eof), NetError::kEof);
  EXPECT_EQ(FromAsio(asio::error::operation_aborted), NetError::kCancelled);
  EXPECT_EQ(FromAsio(asio::error::connection_reset), NetError::kReset);
  EXPECT_EQ(FromAsio(asio::error::broken_pipe), NetError::kReset);
  EXPECT_EQ(FromAsio(asio::error::timed_out), NetError::kTimedOut);
  EXPECT_EQ(FromAsio(asio::error::address_in_use), NetError::kAddress);
  EXPECT_EQ(FromAsio(asio::error::no_buffer_space), NetError::kOther);
  for (int i = 0; i <= static_cast<int>(NetError::kOther); ++i) {
    EXPECT_NE(NetErrorName(static_cast<NetError>(i)), "?") << i;
  }
  t.Stop();
  t.Join();
}

// Run() on this thread returns once a handler calls Stop(); work posted after
// that is never run, and is destroyed with the transport.
TEST(AsioTransport, StopFromAHandlerEndsRunAndLeftoversAreDestroyedNotRun) {
  auto leftover = std::make_shared<int>(0);
  std::weak_ptr<int> watch = leftover;
  bool ran_late = false;
  {
    AsioTransport t(2);
    auto ran = std::async(std::launch::async, [&t] { t.Run(3); });
    t.Post([&t, &ran_late, leftover = std::move(leftover)] {
      t.Stop();
      t.Post([&ran_late, leftover] { ran_late = true; });
    });
    if (ran.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "Run() did not return after Stop()";
      std::abort();  // its thread cannot be joined; do not hang the suite
    }
    EXPECT_FALSE(watch.expired()) << "the late post is still queued";
  }
  EXPECT_FALSE(ran_late);
  EXPECT_TRUE(watch.expired()) << "queued work leaked";
}

}  // namespace
}  // namespace lmc::net
