#include "protocol/server_session.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>

namespace lmc::protocol {
namespace {

using wire::ReplyHeader;
using wire::RequestView;

std::vector<std::byte> Request(std::int32_t command, std::string_view key, std::string_view payload = {},
                               std::int32_t length_override = -2, std::int32_t dtype = 3) {
  RequestView v;
  v.command = command;
  v.length = length_override != -2 ? length_override : static_cast<std::int32_t>(payload.size());
  v.fmt = 1;
  v.dtype = dtype;
  v.shape = {2, 1, 1, static_cast<std::int32_t>(payload.size())};
  v.key = key;
  std::vector<std::byte> out(wire::kRequestHeaderBytes);
  EXPECT_EQ(wire::EncodeRequest(v, std::span(out).first<wire::kRequestHeaderBytes>()), wire::WireError::kOk);
  const auto* p = reinterpret_cast<const std::byte*>(payload.data());
  out.insert(out.end(), p, p + payload.size());
  return out;
}

// Drives a session like a transport: feeds input in chunks of at most
// `chunk` bytes, writes everything the session offers, and collects it.
class Harness {
 public:
  explicit Harness(store::L1Store& store, SessionLimits limits = {}, MissSource* misses = nullptr,
                   store::PinBudget* pins = nullptr)
      : session_(store, counters_, limits, misses, pins) {}

  // Feeds `bytes`; returns how many the session took (it may stop early
  // under backpressure when `drain` is false).
  std::size_t Feed(std::span<const std::byte> bytes, std::size_t chunk = 1 << 20, bool drain = true) {
    std::size_t fed = 0;
    while (fed < bytes.size()) {
      auto buf = session_.ReadBuffer();
      if (buf.empty()) {
        if (!drain || !session_.HasOutput()) break;
        Drain();
        continue;
      }
      const std::size_t n = std::min({buf.size(), bytes.size() - fed, chunk});
      std::memcpy(buf.data(), bytes.data() + fed, n);
      session_.OnRead(n);
      fed += n;
      if (drain) Drain();
    }
    return fed;
  }
  void Drain() {
    std::array<std::span<const std::byte>, 8> iov;
    while (std::size_t k = session_.GatherWrites(iov)) {
      std::size_t n = 0;
      for (std::size_t i = 0; i < k; ++i) {
        out_.insert(out_.end(), iov[i].begin(), iov[i].end());
        n += iov[i].size();
      }
      session_.OnWritten(n);
    }
  }
  // Pops one reply header (and its body, if any) from what was written.
  std::optional<ReplyHeader> NextReply(std::string* body = nullptr) {
    if (out_.size() - pos_ < wire::kReplyHeaderBytes) return std::nullopt;
    ReplyHeader h;
    EXPECT_EQ(wire::DecodeReply(std::span(out_).subspan(pos_, wire::kReplyHeaderBytes), &h), wire::WireError::kOk);
    pos_ += wire::kReplyHeaderBytes;
    const bool has_body = h.code == 200 && h.length > 0;
    if (has_body) {
      const auto len = static_cast<std::size_t>(h.length);
      EXPECT_LE(pos_ + len, out_.size());
      if (body) body->assign(reinterpret_cast<const char*>(out_.data() + pos_), len);
      pos_ += len;
    } else if (body) {
      body->clear();
    }
    return h;
  }
  bool AllRead() const { return pos_ == out_.size(); }
  ServerSession& session() { return session_; }
  ServerCounters& counters() { return counters_; }

 private:
  ServerCounters counters_;
  ServerSession session_;
  std::vector<std::byte> out_;
  std::size_t pos_ = 0;
};

std::vector<std::byte> Cat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

TEST(ServerSession, PutGetExistHealthList) {
  store::L1Store store({1 << 20, 1 << 20});
  Harness h(store);
  h.Feed(Cat({Request(1, "m@1@0@3039@bfloat16", "payload!"),  // PUT: no reply
              Request(2, "m@1@0@0x3039@bfloat16"),            // same key, other spelling
              Request(3, "m@1@0@3039@bfloat16"), Request(3, "m@1@0@ff@bfloat16"), Request(5, "@0@0@0@half"),
              Request(4, "")}));
  std::string body;
  auto r = h.NextReply(&body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(r->length, 8);
  EXPECT_EQ(r->dtype, 3);
  EXPECT_EQ(r->shape, (wire::Shape{2, 1, 1, 8}));
  EXPECT_EQ(body, "payload!");
  EXPECT_EQ(h.NextReply()->code, 200);  // EXIST present
  EXPECT_EQ(h.NextReply()->code, 400);  // EXIST absent
  EXPECT_EQ(h.NextReply()->code, 200);  // HEALTH
  r = h.NextReply(&body);               // LIST: canonical key strings
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(body, "m@1@0@3039@bfloat16");
  EXPECT_TRUE(h.AllRead());
  EXPECT_FALSE(h.session().Closing());
  EXPECT_EQ(h.counters().hits.load(), 1u);
}

// A GET hit past the pin budget is answered as a miss, at once; once the
// first reply is written its pin goes back and the next GET is a hit. With
// nothing pinned, an object larger than the whole budget still passes.
TEST(ServerSession, AGetHitPastThePinBudgetIsAMiss) {
  store::L1Store store({1 << 20, 1 << 20});
  store::PinBudget pins(100);
  Harness h(store, {}, nullptr, &pins);
  h.Feed(Request(1, "m@1@0@1@half", std::string(300, 'x')));
  // Two GETs fed without draining: the first pins its object's page (a
  // pinned tail holds it: more than the budget, but nothing was pinned),
  // the second finds no room.
  std::vector<std::byte> two = Cat({Request(2, "m@1@0@1@half"), Request(2, "m@1@0@1@half")});
  h.Feed(two, 1 << 20, /*drain=*/false);
  EXPECT_EQ(pins.in_use_bytes(), store.chunk_bytes());
  h.Drain();
  EXPECT_EQ(pins.in_use_bytes(), 0u);  // written: the pin went back
  std::string body;
  EXPECT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_EQ(body.size(), 300u);
  EXPECT_EQ(h.NextReply()->code, 400);
  EXPECT_EQ(h.counters().rejects[static_cast<int>(Reject::kPinnedFull)].load(), 1u);
  EXPECT_EQ(h.counters().misses.load(), 1u);
  h.Feed(Request(2, "m@1@0@1@half"));  // nothing pinned now: a hit again
  EXPECT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_TRUE(h.AllRead());
}

TEST(PinBudget, TicketsGiveTheirBytesBackOnce) {
  store::PinBudget pins(1000);
  std::optional<store::PinBudget::Ticket> a = pins.TryTake(600);
  ASSERT_TRUE(a);
  EXPECT_FALSE(pins.TryTake(401));
  std::optional<store::PinBudget::Ticket> b = pins.TryTake(400);
  ASSERT_TRUE(b);
  EXPECT_EQ(pins.in_use_bytes(), 1000u);
  store::PinBudget::Ticket moved = std::move(*b);
  b.reset();  // the moved-from ticket gives nothing back
  EXPECT_EQ(pins.in_use_bytes(), 1000u);
  a.reset();
  EXPECT_EQ(pins.in_use_bytes(), 400u);
  moved = {};
  EXPECT_EQ(pins.in_use_bytes(), 0u);
  store::PinBudget unbounded(0);
  EXPECT_TRUE(unbounded.TryTake(std::size_t{1} << 40));
}

TEST(ServerSession, MissIsTheDummyFailHeader) {
  store::L1Store store({1 << 20, 1 << 20});
  Harness h(store);
  h.Feed(Request(2, "m@1@0@1@half"));
  const auto r = h.NextReply();
  EXPECT_EQ(*r, (ReplyHeader{400, 0, 1, 2, {0, 0, 0, 0}, 0}));
}

// A MissSource that knows one key; the test plays its completion.
class OneKeyBelow : public MissSource {
 public:
  void FetchAsync(std::string, std::function<void(store::L1Store::ObjectRef)>) override {
    ADD_FAILURE() << "the session must not call the source itself";
  }
  bool Contains(const std::string& key) override { return key == "m@1@0@7@bfloat16"; }
  std::vector<std::string> Keys() override { return {"m@1@0@7@bfloat16"}; }
};

TEST(ServerSession, AnL1MissWaitsForTheMissSourceAndKeepsReplyOrder) {
  store::L1Store store({1 << 20, 1 << 20});
  OneKeyBelow below;
  Harness h(store, {}, &below);
  h.Feed(Request(1, "m@1@0@1@bfloat16", "in L1"));
  std::vector<std::byte> pipelined = Request(2, "m@1@0@0x7@bfloat16");  // below L1
  for (const auto& r : {Request(3, "m@1@0@1@bfloat16"), Request(3, "m@1@0@7@bfloat16"), Request(2, "m@1@0@1@bfloat16")})
    pipelined.insert(pipelined.end(), r.begin(), r.end());
  h.Feed(pipelined);
  std::string key;
  ASSERT_TRUE(h.session().TakeMissRequest(&key));
  EXPECT_EQ(key, "m@1@0@7@bfloat16");               // canonical
  EXPECT_FALSE(h.session().TakeMissRequest(&key));  // once per miss
  EXPECT_FALSE(h.NextReply());                      // nothing overtakes the GET
  EXPECT_TRUE(h.session().ReadBuffer().empty());    // and no input is taken meanwhile
  // The source brings the object back into L1 and hands it over.
  store::L1Store::Reservation r;
  ASSERT_EQ(store.Reserve(5, &r), store::L1Store::ReserveError::kOk);
  r.CopyFrom(std::as_bytes(std::span("below", 5)));
  h.session().OnMissResult(store.PublishIfAbsent(key, {5, 1, 3, {2, 1, 1, 5}}, std::move(r)));
  h.Drain();
  std::string body;
  EXPECT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_EQ(body, "below");
  EXPECT_EQ(h.NextReply()->code, 200);  // EXIST of the L1 key
  EXPECT_EQ(h.NextReply()->code, 200);  // EXIST of the key below L1: the source's index
  EXPECT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_EQ(body, "in L1");
  // A miss below too is the dummy FAIL header.
  h.Feed(Request(2, "m@1@0@8@bfloat16"));
  ASSERT_TRUE(h.session().TakeMissRequest(&key));
  h.session().OnMissResult(nullptr);
  h.Drain();
  EXPECT_EQ(*h.NextReply(), (ReplyHeader{400, 0, 1, 2, {0, 0, 0, 0}, 0}));
  EXPECT_TRUE(h.AllRead());
}

// A tier shared with other servers: an EXIST the session cannot answer from
// L1 or the source's index waits for a look-up below, in order.
class SharedBelowSource : public OneKeyBelow {
 public:
  bool SharedBelow() const override { return true; }
};

TEST(ServerSession, AnExistOverASharedSourceLooksBelowAndKeepsReplyOrder) {
  store::L1Store store({1 << 20, 1 << 20});
  SharedBelowSource below;
  Harness h(store, {}, &below);
  std::vector<std::byte> pipelined = Request(3, "m@1@0@9@bfloat16");  // nowhere here
  for (const auto& r : {Request(3, "m@1@0@7@bfloat16"), Request(3, "m@1@0@a@bfloat16")})
    pipelined.insert(pipelined.end(), r.begin(), r.end());
  h.Feed(pipelined);
  std::string key;
  ASSERT_TRUE(h.session().TakeMissRequest(&key));
  EXPECT_EQ(key, "m@1@0@9@bfloat16");
  EXPECT_FALSE(h.NextReply());  // the EXIST waits, and the rest behind it
  store::L1Store::Reservation r;
  ASSERT_EQ(store.Reserve(3, &r), store::L1Store::ReserveError::kOk);
  r.CopyFrom(std::as_bytes(std::span("abc", 3)));
  h.session().OnMissResult(store.PublishIfAbsent(key, {3, 1, 3, {3, 1, 1, 1}}, std::move(r)));
  h.Drain();
  EXPECT_EQ(*h.NextReply(), (ReplyHeader{200, 0, 1, 2, {0, 0, 0, 0}, 0}));  // found: no body
  EXPECT_EQ(h.NextReply()->code, 200);                                      // in the source's index: at once
  // The third looks below too, and is not there.
  ASSERT_TRUE(h.session().TakeMissRequest(&key));
  EXPECT_EQ(key, "m@1@0@a@bfloat16");
  h.session().OnMissResult(nullptr);
  h.Drain();
  EXPECT_EQ(h.NextReply()->code, 400);
  EXPECT_TRUE(h.AllRead());
  EXPECT_TRUE(store.Contains("m@1@0@9@bfloat16"));  // brought into L1 for the GET that follows
}

TEST(ServerSession, TruncatedPutIsNeverVisible) {
  store::L1Store store({1 << 20, 1 << 20});
  {
    Harness h(store);
    const auto put = Request(1, "m@1@0@1@half", std::string(1000, 'x'));
    h.Feed(std::span(put).first(500));
    h.session().OnEof();
    EXPECT_TRUE(h.session().Done());
    EXPECT_EQ(h.counters().rejects[static_cast<int>(Reject::kTruncated)].load(), 1u);
  }
  EXPECT_FALSE(store.Contains("m@1@0@1@half"));
  EXPECT_EQ(store.Stats().used_bytes, 0u);
}

// A PUT into a full L1 takes the store's intake chunks (beyond its budget)
// as its bytes arrive and evicts only once complete. L1 here holds eight
// 1 MiB objects (in 512 KiB chunks) and nothing more.
constexpr std::size_t kMiB = std::size_t{1} << 20;

store::L1Store::Options EightMiB(std::size_t intake) {
  store::L1Store::Options o;
  o.capacity_bytes = o.max_object_bytes = 8 * kMiB;
  o.intake_bytes = intake;
  return o;
}

std::string Pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 4096) & 0xff);
  return s;
}

void FillEight(store::L1Store& store) {
  Harness h(store);
  for (unsigned i = 0; i < 8; ++i) h.Feed(Request(1, "m@1@0@" + std::to_string(100 + i) + "@half", Pattern(kMiB, i)));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(store.Contains("m@1@0@" + std::to_string(100 + i) + "@half"));
  ASSERT_EQ(store.Stats().evictions, 0u);
}

std::size_t StoredOfTheEight(store::L1Store& store) {
  std::size_t n = 0;
  for (int i = 0; i < 8; ++i) n += store.Contains("m@1@0@" + std::to_string(100 + i) + "@half") ? 1u : 0u;
  return n;
}

TEST(ServerSession, APutCutShortWhileL1IsFullEvictsNothing) {
  store::L1Store store(EightMiB(64 * kMiB));
  FillEight(store);
  {
    Harness h(store);
    const auto put = Request(1, "m@1@0@1@half", Pattern(6 * kMiB, 9));
    // The header and 2.5 MiB, across chunk boundaries, then the peer goes.
    EXPECT_EQ(h.Feed(std::span(put).first(wire::kRequestHeaderBytes + 5 * kMiB / 2), 300 * 1024),
              wire::kRequestHeaderBytes + 5 * kMiB / 2);
    EXPECT_EQ(store.Stats().reserved_bytes, 3 * kMiB)
        << "chunks are taken as the bytes arrive (and the next when one fills), not for the whole length";
    EXPECT_EQ(StoredOfTheEight(store), 8u) << "nothing is evicted while the payload arrives";
    h.session().OnEof();
  }
  EXPECT_EQ(StoredOfTheEight(store), 8u);
  EXPECT_EQ(store.Stats().evictions, 0u);
  EXPECT_FALSE(store.Contains("m@1@0@1@half"));
  EXPECT_EQ(store.Stats().reserved_bytes, 0u);
  store.CheckInvariants();
}

TEST(ServerSession, APutCompletedThroughTheIntakeEvictsThenAndStoresItsBytes) {
  store::L1Store store(EightMiB(64 * kMiB));
  FillEight(store);
  Harness h(store);
  const std::string payload = Pattern(5 * kMiB / 2, 10);
  const auto put = Request(1, "m@1@0@1@half", payload);
  h.Feed(std::span(put).first(put.size() - 1), 300 * 1024);
  EXPECT_EQ(StoredOfTheEight(store), 8u) << "one byte short: still nothing evicted";
  h.Feed(std::span(put).last(1));
  EXPECT_EQ(store.Stats().reserved_bytes, 0u);
  EXPECT_EQ(store.Stats().evictions, 3u) << "2.5 MiB pushes out the three least recently used";
  EXPECT_FALSE(store.Contains("m@1@0@100@half"));
  EXPECT_TRUE(store.Contains("m@1@0@103@half"));
  h.Feed(Request(2, "m@1@0@1@half"));
  std::string body;
  const auto r = h.NextReply(&body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 200);
  EXPECT_TRUE(body == payload) << "the bytes came through the chunks intact";
  store.CheckInvariants();
}

TEST(ServerSession, WithTheIntakeChunksUsedAPutEvictsAsItsBytesArrive) {
  store::L1Store store(EightMiB(kMiB));  // two 512 KiB chunks beyond the budget
  FillEight(store);
  Harness h(store);
  const std::string payload = Pattern(3 * kMiB, 11);
  const auto put = Request(1, "m@1@0@1@half", payload);
  h.Feed(std::span(put).first(wire::kRequestHeaderBytes + kMiB - 1), 256 * 1024);
  EXPECT_EQ(StoredOfTheEight(store), 8u) << "inside the intake chunks: nothing evicted";
  h.Feed(std::span(put).subspan(wire::kRequestHeaderBytes + kMiB - 1, 1));
  EXPECT_EQ(store.Stats().early_evictions, 1u);
  EXPECT_EQ(StoredOfTheEight(store), 7u) << "no free chunk: the next piece evicts the least recent object";
  h.Feed(std::span(put).subspan(wire::kRequestHeaderBytes + kMiB));
  EXPECT_EQ(StoredOfTheEight(store), 5u);
  h.Feed(Request(2, "m@1@0@1@half"));
  std::string body;
  const auto r = h.NextReply(&body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 200);
  EXPECT_TRUE(body == payload);
  store.CheckInvariants();
}

// A scatter read: the payload's next pieces are offered ahead of its bytes
// (from free chunks only), one read fills several, and the object is
// stored byte for byte. In a full store without intake chunks nothing is
// read ahead: reading ahead never evicts.
TEST(ServerSession, APutIsReadIntoSeveralPiecesAtOnceAndReadingAheadNeverEvicts) {
  store::L1Store store(EightMiB(0));
  Harness h(store);
  const std::string payload = Pattern(3 * kMiB + 100, 12);
  const auto put = Request(1, "m@1@0@1@half", payload);
  h.Feed(std::span(put).first(wire::kRequestHeaderBytes));
  std::array<std::span<std::byte>, 8> bufs;
  const std::size_t k = h.session().ReadBuffers(bufs);
  ASSERT_EQ(k, 7u);  // 512 KiB chunks: six whole and the tail
  std::size_t at = wire::kRequestHeaderBytes;
  for (std::size_t i = 0; i < k; ++i) {
    std::memcpy(bufs[i].data(), put.data() + at, bufs[i].size());
    at += bufs[i].size();
  }
  ASSERT_EQ(at, put.size());
  h.session().OnRead(put.size() - wire::kRequestHeaderBytes);
  h.Feed(Request(2, "m@1@0@1@half"));
  std::string body;
  ASSERT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_TRUE(body == payload);

  store::L1Store full(EightMiB(0));
  FillEight(full);  // full, and no intake chunks
  Harness h2(full);
  const auto put2 = Request(1, "m@1@0@2@half", Pattern(2 * kMiB, 13));
  h2.Feed(std::span(put2).first(wire::kRequestHeaderBytes + 10));
  // The first piece evicted the least recent object (two chunks): one
  // chunk is free, so the next piece is read ahead into it, and no more.
  const std::size_t evictions = full.Stats().evictions;
  EXPECT_EQ(evictions, 1u);
  EXPECT_EQ(h2.session().ReadBuffers(bufs), 2u) << "the piece being filled and the one free chunk";
  EXPECT_EQ(full.Stats().evictions, evictions) << "reading ahead evicted";
  EXPECT_EQ(full.Stats().free_chunks, 0u);
  full.CheckInvariants();
}

TEST(ServerSession, BadKeysFailAndPutPayloadsAreDiscardedInStep) {
  store::L1Store store({1 << 20, 1 << 20});
  Harness h(store);
  h.Feed(Cat({Request(1, "not-a-key", "xxxx"), Request(2, "not-a-key"), Request(3, "m@1@0@1@fp16"),
              Request(1, "m@1@0@1@half", "ok"), Request(2, "m@1@0@1@half")}));
  EXPECT_EQ(h.NextReply()->code, 400);
  EXPECT_EQ(h.NextReply()->code, 400);
  std::string body;
  EXPECT_EQ(h.NextReply(&body)->code, 200);
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(h.counters().rejects[static_cast<int>(Reject::kBadKey)].load(), 3u);
  EXPECT_FALSE(h.session().Closing());
}

TEST(ServerSession, NonUtf8KeyIsABadKey) {
  store::L1Store store({1 << 20, 1 << 20});
  Harness h(store);
  auto get = Request(2, "m@1@0@1@half");
  get[wire::kRequestHeaderBytes - 1] = std::byte{0xff};
  h.Feed(Cat({get, Request(5, "x")}));
  EXPECT_EQ(h.NextReply()->code, 400);
  EXPECT_EQ(h.NextReply()->code, 200);
}

TEST(ServerSession, TooLargePutIsDiscardedWithoutAllocating) {
  store::L1Store store({4096, 1024});
  Harness h(store);
  h.Feed(Cat({Request(1, "m@1@0@1@half", std::string(2000, 'x')), Request(5, "x")}));
  EXPECT_EQ(h.NextReply()->code, 200);
  EXPECT_EQ(h.counters().rejects[static_cast<int>(Reject::kTooLarge)].load(), 1u);
  EXPECT_EQ(store.Stats().used_bytes, 0u);
}

TEST(ServerSession, HugeDeclaredLengthIsRefusedBeforeAllocation) {
  store::L1Store store({4096, 4096});
  Harness h(store);
  h.Feed(Request(1, "m@1@0@1@half", "", INT32_MAX));
  EXPECT_EQ(store.Stats().used_bytes, 0u);
  EXPECT_EQ(h.counters().rejects[static_cast<int>(Reject::kTooLarge)].load(), 1u);
  EXPECT_FALSE(h.session().Closing());  // still discarding the declared bytes
}

TEST(ServerSession, UnknownCommandAndNegativeLengthCloseAfterFlushing) {
  store::L1Store store({4096, 4096});
  for (const auto& bad : {Request(9, "m@1@0@1@half"), Request(1, "m@1@0@1@half", "", -1)}) {
    Harness h(store);
    h.Feed(Cat({Request(5, "x"), bad, Request(5, "x")}));
    EXPECT_EQ(h.NextReply()->code, 200);  // the reply owed before the bad request
    EXPECT_FALSE(h.NextReply());          // nothing after it
    EXPECT_TRUE(h.session().Done());
  }
}

TEST(ServerSession, AClientThatNeverReadsStopsTheSessionReading) {
  store::L1Store store({1 << 20, 1 << 20});
  SessionLimits limits;
  limits.pending_output_bytes_max = 10000;
  Harness h(store, limits);
  h.Feed(Request(1, "m@1@0@1@half", std::string(4000, 'x')));
  std::vector<std::byte> gets;
  for (int i = 0; i < 1000; ++i) {
    const auto g = Request(2, "m@1@0@1@half");
    gets.insert(gets.end(), g.begin(), g.end());
  }
  const std::size_t taken = h.Feed(gets, 1 << 20, /*drain=*/false);
  // Input stopped once replies piled up: at most the staging buffer was taken.
  EXPECT_LE(taken, limits.input_buffer_bytes);
  EXPECT_LE(h.session().PendingOutputBytes(), 10000u + 4000u + 36u);
  EXPECT_TRUE(h.session().ReadBuffer().empty());
  h.Drain();
  EXPECT_FALSE(h.session().ReadBuffer().empty());  // writing resumed the reading
  // And every request gets its reply in the end.
  h.Feed(std::span(gets).subspan(taken));
  h.Drain();
  int replies = 0;
  std::string body;
  while (auto r = h.NextReply(&body)) {
    EXPECT_EQ(r->code, 200);
    ++replies;
  }
  EXPECT_EQ(replies, 1000);
}

// State-machine property: random PUT/GET/EXIST/LIST/HEALTH on keys from a
// small pool (so they collide, in several spellings), fed in random chunk
// sizes, against a model map.
RC_GTEST_PROP(ServerSessionProp, MatchesAModelMap, ()) {
  store::L1Store store({1 << 22, 1 << 22});
  Harness h(store);
  std::map<std::string, std::string> model;
  const std::vector<std::vector<std::string>> spellings = {
      {"m@1@0@3039@bfloat16", "m@1@0@0x3039@bfloat16", "m@1@0@00003039@bfloat16"},
      {"m@1@0@ff@half@7", "m@1@0@0xFF@half@007"},
      {"other/model@2@1@-1f@uint8@t%v"}};
  const int steps = *rc::gen::inRange(1, 60);
  const std::size_t chunk = *rc::gen::inRange<std::size_t>(1, 400);
  for (int i = 0; i < steps; ++i) {
    const std::size_t k = *rc::gen::inRange<std::size_t>(0, spellings.size());
    const std::string& spelled = *rc::gen::elementOf(spellings[k]);
    const std::string& canonical = spellings[k][0];
    const int cmd = *rc::gen::inRange(1, 6);
    if (cmd == 1) {
      const std::string payload(*rc::gen::inRange<std::size_t>(0, 700), static_cast<char>('a' + i % 26));
      h.Feed(Request(1, spelled, payload), chunk);
      model[canonical] = payload;
      continue;
    }
    h.Feed(Request(cmd, spelled), chunk);
    std::string body;
    const auto r = h.NextReply(&body);
    RC_ASSERT(r.has_value());
    if (cmd == 2) {
      RC_ASSERT(r->code == (model.count(canonical) ? 200 : 400));
      if (model.count(canonical)) RC_ASSERT(body == model[canonical]);
    } else if (cmd == 3) {
      RC_ASSERT(r->code == (model.count(canonical) ? 200 : 400));
    } else if (cmd == 4) {
      std::vector<std::string> listed;
      std::size_t start = 0;
      while (!body.empty() && start <= body.size()) {
        const std::size_t nl = body.find('\n', start);
        listed.push_back(body.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      std::sort(listed.begin(), listed.end());
      std::vector<std::string> want;
      for (const auto& [key, v] : model) want.push_back(key);
      RC_ASSERT(listed == want);
    } else {
      RC_ASSERT(r->code == 200);
    }
  }
  RC_ASSERT(h.AllRead());
}

}  // namespace
}  // namespace lmc::protocol
