// The simulated world's parts on their own: the scheduler's order and
// waits, the network's streams and faults, the disk's durability model.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "client/client.h"
#include "simnet/disk.h"
#include "simnet/harness.h"
#include "simnet/network.h"
#include "simnet/scenario.h"
#include "simnet/sim_env.h"
#include "simnet/world.h"

namespace lmc::simnet {
namespace {

using namespace std::chrono_literals;
using net::NetError;

TEST(Rng, IsTheSameForTheSameSeedAndBelowStaysInRange) {
  Rng a(7), b(7), c(8), d(9);
  std::uint64_t differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differ += x != c.Next();
    EXPECT_LT(d.Below(10), 10u);
  }
  EXPECT_GT(differ, 990u);
}

TEST(World, AContextsTasksRunInOrderAndContextsInterleaveBySeed) {
  auto order = [](std::uint64_t seed) {
    World w(seed);
    std::string out;
    const World::Context a = w.NewContext(), b = w.NewContext();
    for (char ch : std::string("abcde")) w.Soon(a, [&out, ch] { out += ch; });
    for (char ch : std::string("12345")) w.Soon(b, [&out, ch] { out += ch; });
    w.RunQuiet(w.Now() + 1s);
    return out;
  };
  for (std::uint64_t seed = 1; seed < 20; ++seed) {
    const std::string o = order(seed);
    std::string letters, digits;
    for (char ch : o) (ch >= 'a' ? letters : digits) += ch;
    EXPECT_EQ(letters, "abcde");  // FIFO within a context
    EXPECT_EQ(digits, "12345");
    EXPECT_EQ(o, order(seed));  // the same interleaving for the same seed
  }
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed < 20; ++seed) seen.insert(order(seed));
  EXPECT_GT(seen.size(), 3u);  // and different ones across seeds
}

TEST(World, TimeJumpsToTheNextTaskAndRunUntilStopsAtItsLimit) {
  World w(1);
  const Time t0 = w.Now();
  bool ran = false;
  w.Schedule(t0 + 10s, w.NewContext(), [&] { ran = true; });
  EXPECT_FALSE(w.RunUntil([&] { return ran; }, t0 + 5s));
  EXPECT_EQ(w.Now(), t0 + 5s);
  EXPECT_TRUE(w.RunUntil([&] { return ran; }, t0 + 20s));
  EXPECT_EQ(w.Now(), t0 + 10s);
}

TEST(World, AJobBlocksInVirtualTimeWhileTheRestRuns) {
  World w(3);
  const Time t0 = w.Now();
  std::shared_ptr<runtime::Waiter> waiter = w.MakeWaiter();
  std::vector<std::string> log;
  bool notified = false, timed_out = true;
  Time done_at{};
  w.Schedule(
      t0, w.NewContext(),
      [&] {
        notified = waiter->WaitUntil(w.Now() + 5s);  // parks this job's thread
        log.push_back("job resumed");
        timed_out = !w.MakeWaiter()->WaitUntil(w.Now() + 1s);  // nobody notifies: 1 s passes
        log.push_back("job done");
        done_at = w.Now();
      },
      /*job=*/true);
  w.Schedule(t0 + 2s, w.NewContext(), [&] {
    log.push_back("notify");
    waiter->Notify();
  });
  w.RunQuiet(t0 + 60s);
  EXPECT_TRUE(notified);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(log, (std::vector<std::string>{"notify", "job resumed", "job done"}));
  EXPECT_EQ(done_at, t0 + 3s);  // notified at 2 s, then a 1 s wait that times out
  EXPECT_TRUE(w.violations().empty());
  EXPECT_EQ(w.parked(), 0u);
}

TEST(World, AWaitOnALoopIsAViolation) {
  World w(1);
  w.Soon(w.NewContext(), [&] { (void)w.MakeWaiter()->WaitUntil(w.Now() + 1s); });
  w.RunQuiet(w.Now() + 2s);
  ASSERT_EQ(w.violations().size(), 1u);
  EXPECT_NE(w.violations()[0].find("blocking wait on a loop"), std::string::npos);
}

TEST(World, AWaitWithoutADeadlineThatNothingEndsIsADeadlock) {
  World w(1);
  bool returned = false;
  w.Schedule(
      w.Now(), w.NewContext(),
      [&] {
        (void)w.MakeWaiter()->WaitUntil(Time::max());
        returned = true;
      },
      true);
  w.RunQuiet(w.Now() + 2s);
  EXPECT_TRUE(returned);
  ASSERT_FALSE(w.violations().empty());
  EXPECT_NE(w.violations()[0].find("deadlock"), std::string::npos);
}

// A server node echoing what it reads, and a client on another node.
struct Pair {
  World w{11};
  Network net{w, NetFaults{}};
  std::unique_ptr<net::Listener> listener;
  std::unique_ptr<net::Stream> server, client;
  Pair(const NetFaults& f = {}) {
    net.mutable_faults() = f;
    net.AddNode("s");
    net.AddNode("c");
    NetError e = NetError::kOther;
    listener = net.TransportOf("s").Listen("s", 9, &e);
    EXPECT_EQ(e, NetError::kOk);
    listener->AsyncAccept([this](NetError err, std::unique_ptr<net::Stream> s) {
      EXPECT_EQ(err, NetError::kOk);
      server = std::move(s);
    });
    net.TransportOf("c").AsyncConnect("s", 9, [this](NetError err, std::unique_ptr<net::Stream> s) {
      EXPECT_EQ(err, NetError::kOk);
      client = std::move(s);
    });
    EXPECT_TRUE(w.RunUntil([&] { return server && client; }, w.Now() + 1s));
  }
};

TEST(Network, BytesArriveInOrderThroughPartialReadsAndSplitWrites) {
  NetFaults f;
  f.partial_read_chance = 0.9;
  f.split_chance = 0.9;
  f.window_bytes = 1000;
  Pair p(f);
  std::vector<std::byte> sent(50'000);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 31 + i / 256);
  bool wrote = false;
  const std::span<const std::byte> parts[1] = {sent};
  p.client->AsyncWrite(parts, [&](NetError e, std::size_t n) {
    EXPECT_EQ(e, NetError::kOk);
    EXPECT_EQ(n, sent.size());
    wrote = true;
  });
  std::vector<std::byte> got;
  std::array<std::byte, 777> buf{};
  std::size_t reads = 0;
  std::function<void()> read = [&] {
    p.server->AsyncReadSome(buf, [&](NetError e, std::size_t n) {
      ASSERT_EQ(e, NetError::kOk);
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      ++reads;
      if (got.size() < sent.size()) read();
    });
  };
  read();
  EXPECT_TRUE(p.w.RunUntil([&] { return wrote && got.size() == sent.size(); }, p.w.Now() + 60s));
  EXPECT_EQ(got, sent);
  EXPECT_GT(reads, sent.size() / buf.size());  // partial reads happened
}

// Writes `a` at t0 + 100 ms and `b` at t0 + 300 ms from the client, after
// `between` (at t0 + 200 ms) changes the cut; returns what the server read,
// in order, and when its first byte came.
std::pair<std::string, Time> ReadAcrossACut(Pair& p, const std::function<void()>& between) {
  const Time t0 = p.w.Now();
  static const std::string a(3000, 'a'), b(3000, 'b');
  const auto write = [&p](const std::string& s) {
    const std::span<const std::byte> parts[1] = {std::as_bytes(std::span(s))};
    p.client->AsyncWrite(parts, [](NetError e, std::size_t) { EXPECT_EQ(e, NetError::kOk); });
  };
  p.w.Schedule(t0 + 100ms, p.w.NewContext(), [&] { write(a); });
  p.w.Schedule(t0 + 200ms, p.w.NewContext(), between);
  p.w.Schedule(t0 + 300ms, p.w.NewContext(), [&] { write(b); });
  std::string got;
  Time first{};
  std::array<std::byte, 1000> buf{};
  std::function<void()> read = [&] {
    p.server->AsyncReadSome(buf, [&](NetError e, std::size_t n) {
      ASSERT_EQ(e, NetError::kOk);
      if (got.empty()) first = p.w.Now();
      got.append(reinterpret_cast<const char*>(buf.data()), n);
      if (got.size() < a.size() + b.size()) read();
    });
  };
  read();
  EXPECT_TRUE(p.w.RunUntil([&] { return got.size() == a.size() + b.size(); }, t0 + 60s));
  EXPECT_TRUE(p.w.violations().empty());
  return {got, first};
}

// Seed 3309455: a partition of 1125 ms laid over one of 1942 ms. The
// shorter one used to replace the longer, so bytes held by the first were
// overtaken by bytes sent later: a stream delivered out of order, and a
// client saw an old PUT land after its newer one.
TEST(Network, AShorterPartitionLaidOverALongerOneNeitherHealsItNorReordersTheStream) {
  Pair p;
  const Time t0 = p.w.Now();
  p.net.Partition("c", "s", t0 + 2500ms);
  const auto [got, first] = ReadAcrossACut(p, [&] { p.net.Partition("c", "s", t0 + 1000ms); });
  EXPECT_EQ(got, std::string(3000, 'a') + std::string(3000, 'b'));
  EXPECT_GE(first, t0 + 2500ms);  // the longer partition holds
}

TEST(Network, BytesHeldByACutStayAheadOfBytesSentAfterAHeal) {
  Pair p;
  const Time t0 = p.w.Now();
  p.net.Partition("c", "s", t0 + 2500ms);
  const auto [got, first] = ReadAcrossACut(p, [&] { p.net.Heal(); });
  EXPECT_EQ(got, std::string(3000, 'a') + std::string(3000, 'b'));
  (void)first;
}

TEST(Network, AWriterStallsWhileItsReaderDoesNotRead) {
  NetFaults f;
  f.window_bytes = 4096;
  Pair p(f);
  std::vector<std::byte> sent(100'000);
  bool wrote = false;
  const std::span<const std::byte> parts[1] = {sent};
  p.client->AsyncWrite(parts, [&](NetError, std::size_t) { wrote = true; });
  p.w.RunQuiet(p.w.Now() + 10s);
  EXPECT_FALSE(wrote);  // nothing reads: the window stays full
}

TEST(Network, AResetFailsBothEndsAndACrashedNodeRefusesConnects) {
  Pair p;
  NetError seen = NetError::kOk;
  std::array<std::byte, 8> buf{};
  p.server->AsyncReadSome(buf, [&](NetError e, std::size_t) { seen = e; });
  Rng r(1);
  ASSERT_TRUE(p.net.ResetOne(r));
  p.w.RunQuiet(p.w.Now() + 1s);
  EXPECT_EQ(seen, NetError::kReset);
  p.net.Crash("s");
  NetError connect = NetError::kOk;
  p.net.TransportOf("c").AsyncConnect("s", 9, [&](NetError e, std::unique_ptr<net::Stream>) { connect = e; });
  p.w.RunQuiet(p.w.Now() + 1s);
  EXPECT_EQ(connect, NetError::kRefused);
}

TEST(Network, AClosedStreamGivesItsPeerEofAfterTheBytesInFlight) {
  Pair p;
  const std::byte hello[5] = {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'}, std::byte{'o'}};
  const std::span<const std::byte> parts[1] = {hello};
  p.client->AsyncWrite(parts, [](NetError, std::size_t) {});
  p.client->Close();
  std::vector<NetError> results;
  std::array<std::byte, 16> buf{};
  std::function<void()> read = [&] {
    p.server->AsyncReadSome(buf, [&](NetError e, std::size_t) {
      results.push_back(e);
      if (e == NetError::kOk) read();
    });
  };
  read();
  p.w.RunQuiet(p.w.Now() + 1s);
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results.back(), NetError::kEof);
  EXPECT_EQ(results.front(), NetError::kOk);
}

// The kit's client in the world: while one call reconnects (slowly: the
// server is cut off), another call on the same client ends by its own
// deadline, and Close() is not held up either.
TEST(ClientInTheWorld, AReconnectHoldsUpNoOtherCallerPastItsDeadline) {
  World w(21);
  Network net(w, NetFaults{});
  net.AddNode("s");
  net.AddNode("c");
  NetError e = NetError::kOther;
  auto listener = net.TransportOf("s").Listen("s", 9, &e);
  ASSERT_EQ(e, NetError::kOk);
  listener->AsyncAccept([](NetError, std::unique_ptr<net::Stream>) {});
  SimEnv env(w, net.TransportOf("c"), nullptr, 1);
  client::ClientOptions o;
  o.host = "s";
  o.port = 9;
  o.call_timeout = 1000ms;
  o.connect_timeout = 10000ms;
  o.attempts = 1;
  client::Client client(env, o);
  const Time t0 = w.Now();
  net.Partition("c", "s", t0 + 30s);  // connects wait for the partition to end
  Time first_done{}, second_done{}, close_done{};
  client::CallStatus second = client::CallStatus::kOk;
  w.Schedule(
      t0, w.NewContext(),
      [&] {
        (void)client.Health();  // starts the connect, waits up to its 1 s deadline
        first_done = w.Now();
      },
      true);
  w.Schedule(
      t0 + 100ms, w.NewContext(),
      [&] {
        second = client.Health().status;  // waits for the first caller's connect
        second_done = w.Now();
      },
      true);
  w.Schedule(
      t0 + 1500ms, w.NewContext(),
      [&] {
        client.Close();
        close_done = w.Now();
      },
      true);
  w.RunQuiet(t0 + 60s);
  EXPECT_TRUE(w.violations().empty());
  EXPECT_EQ(first_done, t0 + 1000ms);
  EXPECT_EQ(second, client::CallStatus::kTimedOut);
  EXPECT_EQ(second_done, t0 + 1100ms);  // its own deadline, not the first caller's
  EXPECT_EQ(close_done, t0 + 1500ms);   // at once
}

TEST(Disk, ACrashKeepsWhatWasSyncedAndMayTearTheRest) {
  World w(5);
  Disk disk(w, DiskFaults{});
  DiskView v(disk);
  ASSERT_EQ(v.CreateDirectories("/d"), runtime::FsError::kOk);
  std::unique_ptr<runtime::WritableFile> f;
  const std::vector<std::byte> data(1000, std::byte{7});
  ASSERT_EQ(v.NewWritableFile("/d/synced.tmp", &f), runtime::FsError::kOk);
  ASSERT_EQ(f->Append(data), runtime::FsError::kOk);
  ASSERT_EQ(f->Sync(), runtime::FsError::kOk);
  ASSERT_EQ(f->Close(), runtime::FsError::kOk);
  ASSERT_EQ(v.RenameNoReplace("/d/synced.tmp", "/d/synced"), runtime::FsError::kOk);
  ASSERT_EQ(v.SyncDirectory("/d"), runtime::FsError::kOk);
  ASSERT_EQ(v.NewWritableFile("/d/unsynced", &f), runtime::FsError::kOk);
  ASSERT_EQ(f->Append(data), runtime::FsError::kOk);
  EXPECT_TRUE(v.created().count("/d/unsynced"));
  v.Kill();
  EXPECT_EQ(f->Append(data), runtime::FsError::kIo);  // the process is gone
  disk.Crash();
  DiskView after(disk);
  std::uint64_t size = 0;
  ASSERT_EQ(after.FileSize("/d/synced", &size), runtime::FsError::kOk);
  EXPECT_EQ(size, 1000u);
  // The unsynced file's entry was never made durable: gone, or (its
  // folder's entries reached the disk) torn to some prefix.
  const runtime::FsError e = after.FileSize("/d/unsynced", &size);
  EXPECT_TRUE(e == runtime::FsError::kNotFound || (e == runtime::FsError::kOk && size <= 1000));
}

TEST(Disk, ALyingFsyncMakesNothingDurableAndAFullDiskSaysSo) {
  World w(5);
  DiskFaults faults;
  faults.fsync_lie_chance = 1.0;
  faults.capacity_bytes = 100;
  Disk disk(w, faults);
  DiskView v(disk);
  ASSERT_EQ(v.CreateDirectories("/d"), runtime::FsError::kOk);
  std::unique_ptr<runtime::WritableFile> f;
  ASSERT_EQ(v.NewWritableFile("/d/x", &f), runtime::FsError::kOk);
  const std::vector<std::byte> data(150, std::byte{1});
  EXPECT_EQ(f->Append(data), runtime::FsError::kNoSpace);
  EXPECT_EQ(disk.used_bytes(), 100u);
  EXPECT_EQ(f->Sync(), runtime::FsError::kOk);              // a lie
  ASSERT_EQ(v.SyncDirectory("/d"), runtime::FsError::kOk);  // a lie too: the entry is not durable
  disk.Crash();
  DiskView after(disk);
  std::uint64_t size = 0;
  const runtime::FsError e = after.FileSize("/d/x", &size);
  EXPECT_TRUE(e == runtime::FsError::kNotFound || size < 100 || size == 100);
}

// lmcache-sim --pcap watches the network without touching it: the seed's
// trace is the same with the capture on, and the capture has its streams.
TEST(Capture, WatchingTheNetworkLeavesTheTraceAlone) {
  for (const std::uint64_t seed : {3ULL, 7ULL}) {
    const Outcome plain = simnet::Run(Draw(seed), RunConfig{});
    pcap::TcpCapture capture;
    RunConfig watched;
    watched.capture = &capture;
    const Outcome o = simnet::Run(Draw(seed), watched);
    EXPECT_EQ(o.trace_hash, plain.trace_hash) << "seed " << seed;
    EXPECT_EQ(o.failures, plain.failures);
    EXPECT_GT(capture.connection_count(), 0u);
    EXPECT_GT(capture.packet_count(), 3 * capture.connection_count());
  }
}

TEST(Scenario, DrawIsAFunctionOfTheSeedAndCutsReplayFromFlags) {
  const Scenario a = Draw(99), b = Draw(99);
  EXPECT_EQ(a.Describe(), b.Describe());
  EXPECT_NE(a.Describe(), Draw(100).Describe());
  Cut cut;
  cut.ops_limit = 3;
  cut.drop_ops = {0, 2};
  cut.drop_faults = {1};
  EXPECT_EQ(cut.Flags(), " --ops-limit 3 --drop-ops 0,2 --drop-faults 1");
  std::set<std::size_t> parsed;
  ASSERT_TRUE(ParseIndexSet("0,2,5-7", &parsed));
  EXPECT_EQ(parsed, (std::set<std::size_t>{0, 2, 5, 6, 7}));
  EXPECT_FALSE(ParseIndexSet("3-x", &parsed));
  EXPECT_FALSE(ParseIndexSet("7-3", &parsed));
  const Scenario c = Apply(a, cut);
  EXPECT_LE(c.ops[0].size(), 2u);
  EXPECT_EQ(c.faults.size(), a.faults.empty() ? 0 : a.faults.size() - (a.faults.size() > 1 ? 1 : 0));
}

}  // namespace
}  // namespace lmc::simnet
