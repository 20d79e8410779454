#include "protocol/client_session.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <map>
#include <stdexcept>

#include "protocol/server_session.h"

namespace lmc::protocol {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }
std::string Text(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// Moves bytes between a client and a server session in memory, at most
// `chunk` bytes per step, until neither has anything to move.
// The read low-water hints (net::Stream::SetReadLowWater) must never claim
// more than the peer still has to send, or a reader would wait forever.
void CheckLowWaterHints(const ClientSession& c, const ServerSession& s) {
  std::array<std::span<const std::byte>, 256> all;
  const std::size_t k = c.GatherWrites(all);
  if (k < all.size()) {
    std::size_t pending = 0;
    for (std::size_t i = 0; i < k; ++i) pending += all[i].size();
    if (s.CertainInputBytes() > std::max<std::size_t>(1, pending)) {
      throw std::logic_error("server expects " + std::to_string(s.CertainInputBytes()) + " bytes, client has " +
                             std::to_string(pending));
    }
  }
  if (c.CertainInputBytes() > std::max<std::size_t>(1, s.PendingOutputBytes())) {
    throw std::logic_error("client expects " + std::to_string(c.CertainInputBytes()) + " bytes, server has " +
                           std::to_string(s.PendingOutputBytes()));
  }
}

void Pump(ClientSession& c, ServerSession& s, std::size_t chunk = 1 << 20) {
  for (bool moved = true; moved;) {
    moved = false;
    CheckLowWaterHints(c, s);
    std::array<std::span<const std::byte>, 8> iov;
    if (std::size_t k = c.GatherWrites(iov); k > 0) {
      auto dst = s.ReadBuffer();
      const std::size_t n = std::min({iov[0].size(), dst.size(), chunk});
      if (n > 0) {
        std::memcpy(dst.data(), iov[0].data(), n);
        c.OnWritten(n);
        s.OnRead(n);
        moved = true;
      }
    }
    if (std::size_t k = s.GatherWrites(iov); k > 0) {
      auto dst = c.ReadBuffer();
      const std::size_t n = std::min({iov[0].size(), dst.size(), chunk});
      if (n > 0) {
        std::memcpy(dst.data(), iov[0].data(), n);
        s.OnWritten(n);
        c.OnRead(n);
        moved = true;
      }
    }
  }
}

TEST(ClientSession, TalksToTheServerSession) {
  store::L1Store store({1 << 20, 1 << 20});
  ServerCounters counters;
  ServerSession server(store, counters);
  ClientSession client;
  const std::string payload = "kv bytes";
  const auto put = client.Put("m@1@0@3039@bfloat16", {1, 3, {2, 1, 1, 4}}, Bytes(payload));
  const auto get = client.Get("m@1@0@0x3039@bfloat16");
  const auto miss = client.Get("m@1@0@1@half");
  const auto exist = client.Exist("m@1@0@3039@bfloat16");
  const auto list = client.List();
  const auto health = client.Health();
  Pump(client, server, 7);
  std::map<std::uint64_t, Completion> done;
  while (auto c = client.PopCompletion()) done[c->id] = std::move(*c);
  ASSERT_EQ(done.size(), 6u);
  EXPECT_EQ(done[put].status, ClientStatus::kOk);
  EXPECT_EQ(done[get].status, ClientStatus::kOk);
  EXPECT_EQ(Text(done[get].body), payload);
  EXPECT_EQ(done[get].reply.shape, (wire::Shape{2, 1, 1, 4}));
  EXPECT_EQ(done[get].reply.dtype, 3);
  EXPECT_EQ(done[miss].status, ClientStatus::kMiss);
  EXPECT_EQ(done[exist].status, ClientStatus::kOk);
  EXPECT_EQ(Text(done[list].body), "m@1@0@3039@bfloat16");
  EXPECT_EQ(done[health].status, ClientStatus::kOk);
  EXPECT_EQ(client.pending(), 0u);
}

// Feeds a hand-made reply to a client waiting for `command`.
ClientStatus AnswerWith(const wire::ReplyHeader& reply, bool get = true) {
  ClientSession c;
  const auto id1 = get ? c.Get("m@1@0@1@half") : c.Exist("m@1@0@1@half");
  const auto id2 = c.Health();
  std::array<std::span<const std::byte>, 8> iov;
  std::size_t total = 0;
  for (std::size_t k = c.GatherWrites(iov), i = 0; i < k; ++i) total += iov[i].size();
  c.OnWritten(total);
  std::array<std::byte, wire::kReplyHeaderBytes> bytes{};
  wire::EncodeReply(reply, bytes);
  auto dst = c.ReadBuffer();
  EXPECT_GE(dst.size(), bytes.size());
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  c.OnRead(bytes.size());
  auto first = c.PopCompletion();
  EXPECT_TRUE(first && first->id == id1);
  if (first->status == ClientStatus::kInvalidReply) {
    auto second = c.PopCompletion();  // everything pending fails with it
    EXPECT_TRUE(second && second->id == id2 && second->status == ClientStatus::kInvalidReply);
    EXPECT_TRUE(c.failed());
  }
  return first ? first->status : ClientStatus::kClosed;
}

TEST(ClientSession, GetIntoACallerBufferWhenItFits) {
  store::L1Store store({1 << 20, 1 << 20});
  ServerCounters counters;
  ServerSession server(store, counters);
  ClientSession client;
  const std::string payload(1000, 'q');
  client.Put("m@1@0@1@uint8", {}, Bytes(payload));
  std::vector<std::byte> roomy(4096), tight(10);
  const auto a = client.Get("m@1@0@1@uint8", roomy);
  const auto b = client.Get("m@1@0@1@uint8", tight);
  Pump(client, server, 333);
  std::map<std::uint64_t, Completion> done;
  while (auto c = client.PopCompletion()) done[c->id] = std::move(*c);
  ASSERT_TRUE(done[a].in_place);
  EXPECT_EQ(done[a].in_place_bytes, payload.size());
  EXPECT_TRUE(done[a].body.empty());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(roomy.data()), payload.size()), payload);
  EXPECT_FALSE(done[b].in_place);  // too small: a vector of its own
  EXPECT_EQ(Text(done[b].body), payload);
}

TEST(ClientSession, BodyObserverSeesEveryPieceInOrder) {
  store::L1Store store({1 << 20, 1 << 20});
  ServerCounters counters;
  ServerSession server(store, counters);
  ClientSession client;
  std::string payload(5000, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 23);
  client.Put("m@1@0@1@uint8", {}, Bytes(payload));
  std::vector<std::byte> roomy(8192), tight(10);
  std::string seen_roomy, seen_tight;
  int pieces = 0;
  const auto collect = [&pieces](std::string* into) {
    return [into, &pieces](std::span<const std::byte> piece) {
      into->append(reinterpret_cast<const char*>(piece.data()), piece.size());
      ++pieces;
    };
  };
  client.Get("m@1@0@1@uint8", roomy, collect(&seen_roomy));
  client.Get("m@1@0@1@uint8", tight, collect(&seen_tight));  // body lands in its own vector
  client.Get("m@1@0@9@uint8", roomy, collect(&seen_roomy));  // a miss: no body
  Pump(client, server, 777);
  EXPECT_EQ(seen_roomy, payload);
  EXPECT_EQ(seen_tight, payload);
  EXPECT_GT(pieces, 2);  // the pump delivered the bodies in several pieces
}

TEST(ClientSession, InvalidRepliesFailTheSessionAndAreNotRetried) {
  EXPECT_EQ(AnswerWith({999, 0, 1, 2, {}, 0}), ClientStatus::kInvalidReply);
  EXPECT_EQ(AnswerWith({200, -1, 1, 2, {}, 0}), ClientStatus::kInvalidReply);
  EXPECT_EQ(AnswerWith({400, 0, 1, 2, {}, 0}), ClientStatus::kMiss);
  EXPECT_EQ(AnswerWith({200, 0, 1, 2, {}, 0}, /*get=*/false), ClientStatus::kOk);
  ClientLimits small;
  small.body_bytes_max = 10;
  ClientSession c(small);
  c.Get("m@1@0@1@half");
  std::array<std::span<const std::byte>, 8> iov;
  c.OnWritten(c.GatherWrites(iov) > 0 ? iov[0].size() : 0);
  std::array<std::byte, wire::kReplyHeaderBytes> bytes{};
  wire::EncodeReply({200, 11, 1, 2, {}, 0}, bytes);
  std::memcpy(c.ReadBuffer().data(), bytes.data(), bytes.size());
  c.OnRead(bytes.size());
  EXPECT_EQ(c.PopCompletion()->status, ClientStatus::kInvalidReply);  // body over the limit
}

// A write's completion can be queued behind the read that fails the session
// (a reset or an invalid reply): by the time it runs, Fail has answered every
// call and cleared the output. It must count nothing and touch nothing (it
// read an empty deque before; found by lmcache-sim with assertions on).
TEST(ClientSession, AWriteThatCompletesAfterAFailureIsIgnored) {
  ClientSession c;
  c.Put("m@1@0@1@uint8", {1, 3, {2, 0, 0, 0}}, std::as_bytes(std::span("abcd", 4)));
  c.Exist("m@1@0@1@uint8");
  std::array<std::span<const std::byte>, 8> iov;
  std::size_t gathered = 0;
  for (std::size_t i = 0, k = c.GatherWrites(iov); i < k; ++i) gathered += iov[i].size();
  ASSERT_GT(gathered, 0u);
  c.OnClose();  // the read side failed first
  std::vector<ClientStatus> seen;
  while (auto done = c.PopCompletion()) seen.push_back(done->status);
  EXPECT_EQ(seen, (std::vector<ClientStatus>{ClientStatus::kClosed, ClientStatus::kClosed}));
  c.OnWritten(gathered);  // the write's completion, late
  EXPECT_FALSE(c.PopCompletion()) << "a call answered twice";
  EXPECT_FALSE(c.HasOutput());
}

// A reply may claim 2 GiB - 1 bytes and then send a few: the buffer grows
// with what arrives, never to the claimed size up front.
TEST(ClientSession, HugeClaimedLengthCostsOnlyWhatArrives) {
  ClientSession c;
  c.Get("m@1@0@1@half");
  std::array<std::span<const std::byte>, 8> iov;
  c.OnWritten(c.GatherWrites(iov) > 0 ? iov[0].size() : 0);
  std::array<std::byte, wire::kReplyHeaderBytes> bytes{};
  wire::EncodeReply({200, 2147483647, 1, 2, {}, 0}, bytes);
  std::memcpy(c.ReadBuffer().data(), bytes.data(), bytes.size());
  c.OnRead(bytes.size());
  std::size_t received = 0;
  std::size_t largest = 0;
  while (received < (std::size_t{3} << 20) + 5) {
    const auto dst = c.ReadBuffer();
    ASSERT_FALSE(dst.empty());
    largest = std::max(largest, received + dst.size());
    const std::size_t n = std::min<std::size_t>(dst.size(), 100000);
    std::memset(dst.data(), 7, n);
    c.OnRead(n);
    received += n;
  }
  // Doubling from 1 MiB: at most twice what arrived (and at least the 1 MiB start).
  EXPECT_LE(largest, 2 * received + (std::size_t{1} << 20));
  EXPECT_FALSE(c.PopCompletion().has_value());
  c.OnClose();
  EXPECT_EQ(c.PopCompletion()->status, ClientStatus::kClosed);
}

TEST(ClientSession, CloseCompletesEverythingPendingAndLaterCallsFail) {
  ClientSession c;
  const std::string payload = "x";
  c.Put("m@1@0@1@half", {}, Bytes(payload));
  c.Get("m@1@0@1@half");
  c.OnClose();
  int closed = 0;
  while (auto d = c.PopCompletion()) closed += d->status == ClientStatus::kClosed;
  EXPECT_EQ(closed, 2);
  c.Exist("m@1@0@1@half");
  EXPECT_EQ(c.PopCompletion()->status, ClientStatus::kClosed);
  EXPECT_EQ(c.Get(std::string(151, 'k')), 4u);
}

TEST(ClientSession, RefusesKeysThatCannotBeEncoded) {
  ClientSession c;
  c.Get(std::string(151, 'k'));
  EXPECT_EQ(c.PopCompletion()->status, ClientStatus::kBadRequest);
  EXPECT_FALSE(c.HasOutput());
}

// Client and server agree: random pipelined operations through both
// sessions, in random chunk sizes, against a model map.
RC_GTEST_PROP(ClientSessionProp, PipelinedOperationsMatchAModel, ()) {
  store::L1Store store({1 << 22, 1 << 22});
  ServerCounters counters;
  ServerSession server(store, counters);
  ClientSession client;
  std::map<std::string, std::string> model;
  std::vector<std::string> payloads;  // PUT payloads must outlive the writes
  payloads.reserve(64);
  struct Expect {
    int command;
    std::string key;
    std::optional<std::string> value;
  };
  std::map<std::uint64_t, Expect> expect;
  const int steps = *rc::gen::inRange(1, 50);
  for (int i = 0; i < steps; ++i) {
    const std::string key = "m@1@0@" + std::to_string(*rc::gen::inRange(0, 4)) + "@uint8";
    switch (*rc::gen::inRange(0, 3)) {
      case 0: {
        payloads.push_back(std::string(*rc::gen::inRange<std::size_t>(0, 500), static_cast<char>('a' + i % 26)));
        client.Put(key, {1, 6, {}}, Bytes(payloads.back()));
        model[key] = payloads.back();
        break;
      }
      case 1: {
        const auto id = client.Get(key);
        expect[id] = {2, key, model.count(key) ? std::optional(model[key]) : std::nullopt};
        break;
      }
      default: {
        const auto id = client.Exist(key);
        expect[id] = {3, key, model.count(key) ? std::optional(std::string()) : std::nullopt};
        break;
      }
    }
  }
  Pump(client, server, *rc::gen::inRange<std::size_t>(1, 300));
  while (auto c = client.PopCompletion()) {
    if (c->command == 1) {
      RC_ASSERT(c->status == ClientStatus::kOk);
      continue;
    }
    const Expect& e = expect.at(c->id);
    RC_ASSERT((c->status == ClientStatus::kOk) == e.value.has_value());
    if (e.command == 2 && e.value) RC_ASSERT(Text(c->body) == *e.value);
    expect.erase(c->id);
  }
  RC_ASSERT(expect.empty());
}

}  // namespace
}  // namespace lmc::protocol
