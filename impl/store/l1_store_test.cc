#include "store/l1_store.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

namespace lmc::store {
namespace {

constexpr std::size_t kChunk = 4096;

ObjectMeta Meta(std::int32_t length, std::int32_t dtype = 3) {
  return ObjectMeta{length, 1, dtype, {2, 1, 1, length / 2}};
}

// A store of `capacity` bytes in 4 KiB chunks.
L1Store::Options Opts(std::size_t capacity, std::size_t headroom = 0, std::size_t intake = 0) {
  L1Store::Options o;
  o.capacity_bytes = capacity;
  o.max_object_bytes = capacity;
  o.headroom_bytes = headroom;
  o.intake_bytes = intake;
  o.chunk_bytes = kChunk;
  return o;
}

std::span<const std::byte> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void Put(L1Store& s, const std::string& key, std::string_view payload, ObjectMeta meta) {
  L1Store::Reservation r;
  ASSERT_EQ(s.Reserve(payload.size(), &r), L1Store::ReserveError::kOk);
  r.CopyFrom(Bytes(payload));
  s.Publish(key, meta, std::move(r));
}

std::string Read(const L1Store::ObjectRef& o) {
  std::string out(o->size(), '\0');
  o->CopyTo({reinterpret_cast<std::byte*>(out.data()), out.size()});
  return out;
}

std::string Fill(std::size_t n, char c) { return std::string(n, c); }

TEST(L1Store, PublishGetReplace) {
  L1Store s(Opts(1 << 16));
  EXPECT_EQ(s.Get("k"), nullptr);
  Put(s, "k", "hello", Meta(5));
  auto o = s.Get("k");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(Read(o), "hello");
  EXPECT_EQ(o->meta(), Meta(5));
  Put(s, "k", "world!", Meta(6, 1));
  EXPECT_EQ(Read(s.Get("k")), "world!");
  EXPECT_EQ(s.Get("k")->meta().dtype, 1);  // stored exactly as received
  EXPECT_EQ(Read(o), "hello");             // the old reference still reads its bytes
  s.CheckInvariants();
}

// 10 KiB in 4 KiB chunks: two whole chunks and a 2 KiB tail in a page, the
// spans in order; two small objects share one page.
TEST(L1Store, ObjectsAreWholeChunksAndATailPiece) {
  L1Store s(Opts(1 << 16));
  std::string v;
  for (int i = 0; i < 10240; ++i) v.push_back(static_cast<char>('a' + i % 26));
  Put(s, "big", v, Meta(10240));
  const auto o = s.Get("big");
  ASSERT_EQ(o->spans().size(), 3u);
  EXPECT_EQ(o->spans()[0].size(), kChunk);
  EXPECT_EQ(o->spans()[1].size(), kChunk);
  EXPECT_EQ(o->spans()[2].size(), 2048u);
  EXPECT_EQ(Read(o), v);
  EXPECT_TRUE(o->Equals(Bytes(v)));
  EXPECT_FALSE(o->Equals(Bytes(v.substr(1))));
  Put(s, "small1", "x", Meta(1));
  Put(s, "small2", "y", Meta(1));
  EXPECT_EQ(s.Stats().pages, 1u);  // the tail and both small objects
  EXPECT_EQ(s.Stats().used_bytes, 3 * kChunk);
  EXPECT_EQ(s.Stats().chunk_bytes, kChunk);
  s.CheckInvariants();
}

TEST(L1Store, TheChunkShrinksUntilTheBudgetHoldsSixteen) {
  L1Store::Options o;
  o.capacity_bytes = 1 << 20;  // 1 MiB: 64 KiB chunks
  EXPECT_EQ(L1Store(o).chunk_bytes(), std::size_t{64} << 10);
  o.capacity_bytes = 1 << 30;
  EXPECT_EQ(L1Store(o).chunk_bytes(), std::size_t{1} << 20);
  o.capacity_bytes = 1000;  // never below 4 KiB
  EXPECT_EQ(L1Store(o).chunk_bytes(), 4096u);
}

TEST(L1Store, HeadroomIsKeptFreeAfterEachPublish) {
  L1Store s(Opts(32 * kChunk, 8 * kChunk));
  for (int i = 0; i < 40; ++i) {
    Put(s, "k" + std::to_string(i), Fill(kChunk, static_cast<char>('a' + i % 26)), Meta(4096));
    const StoreStats st = s.Stats();
    EXPECT_GE(st.capacity_bytes - st.used_bytes, 8 * kChunk) << "after publish " << i;
  }
  EXPECT_EQ(s.Stats().objects, 24u);  // 32 chunks less 8 of headroom
  for (int i = 16; i < 40; ++i) EXPECT_TRUE(s.Contains("k" + std::to_string(i))) << i;
  // A headroom as large as the budget still keeps the newest object.
  L1Store t(Opts(32 * kChunk, 32 * kChunk));
  Put(t, "a", "x", Meta(1));
  Put(t, "b", Fill(kChunk, 'y'), Meta(4096));
  EXPECT_FALSE(t.Contains("a"));
  EXPECT_TRUE(t.Contains("b"));
}

// A full store with intake chunks takes a whole PUT's bytes without
// evicting; the publish then evicts what it must, least recent first.
TEST(L1Store, IntakeChunksTakeAPutWithoutEvicting) {
  L1Store s(Opts(16 * kChunk, 0, 4 * kChunk));
  for (int i = 0; i < 16; ++i) Put(s, "k" + std::to_string(i), Fill(kChunk, 'x'), Meta(4096));
  EXPECT_EQ(s.Stats().evictions, 0u);
  L1Store::Reservation r;
  ASSERT_EQ(s.Begin(4 * kChunk, &r), L1Store::ReserveError::kOk);
  while (!r.complete()) ASSERT_EQ(s.Extend(&r, /*may_evict=*/false), L1Store::ReserveError::kOk);
  EXPECT_EQ(s.Stats().evictions, 0u);
  EXPECT_EQ(s.Stats().reserved_bytes, 4 * kChunk);
  r = {};  // cut short: nothing stored was touched
  EXPECT_EQ(s.Stats().objects, 16u);
  EXPECT_EQ(s.Stats().reserved_bytes, 0u);
  ASSERT_EQ(s.Reserve(4 * kChunk, &r), L1Store::ReserveError::kOk);
  EXPECT_EQ(s.Stats().evictions, 0u);
  r.CopyFrom(Bytes(Fill(4 * kChunk, 'n')));
  s.Publish("new", Meta(4 * 4096), std::move(r));
  EXPECT_EQ(s.Stats().evictions, 4u);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(s.Contains("k" + std::to_string(i)));
  EXPECT_EQ(Read(s.Get("new")), Fill(4 * kChunk, 'n'));
  s.CheckInvariants();
}

// With no free chunk, a PUT evicts as its pieces are taken: one victim per
// chunk, never ahead of its bytes.
TEST(L1Store, WithoutFreeChunksAReservationEvictsPieceByPiece) {
  L1Store s(Opts(16 * kChunk));
  for (int i = 0; i < 16; ++i) Put(s, "k" + std::to_string(i), Fill(kChunk, 'x'), Meta(4096));
  L1Store::Reservation r;
  ASSERT_EQ(s.Begin(8 * kChunk, &r), L1Store::ReserveError::kOk);
  EXPECT_EQ(s.Stats().evictions, 0u);  // Begin takes nothing
  EXPECT_EQ(s.Extend(&r, /*may_evict=*/false), L1Store::ReserveError::kNoSpace);
  for (std::size_t n = 1; n <= 3; ++n) {
    ASSERT_EQ(s.Extend(&r), L1Store::ReserveError::kOk);
    EXPECT_EQ(s.Stats().evictions, n);
    EXPECT_EQ(s.Stats().early_evictions, n);
  }
  EXPECT_FALSE(s.Contains("k2"));
  EXPECT_TRUE(s.Contains("k3"));
  s.CheckInvariants();
}

TEST(L1Store, EvictionListenerSeesEvictedEntriesWithTheirBytes) {
  L1Store s(Opts(2 * kChunk));
  std::vector<std::pair<std::string, std::string>> evicted;
  s.SetEvictionListener(
      [&](const std::string& key, const L1Store::ObjectRef& o) { evicted.emplace_back(key, Read(o)); });
  Put(s, "a", Fill(kChunk, 'a'), Meta(4096));
  Put(s, "b", Fill(kChunk, 'b'), Meta(4096));
  ASSERT_NE(s.Get("a"), nullptr);  // a is now the most recent
  EXPECT_TRUE(evicted.empty());
  Put(s, "c", Fill(kChunk, 'c'), Meta(4096));  // evicts b, the least recent
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].first, "b");
  EXPECT_EQ(evicted[0].second, Fill(kChunk, 'b'));
}

TEST(L1Store, ClearDropsEverythingAndPinnedBytesFollowTheirReader) {
  L1Store s(Opts(1 << 16));
  bool told = false;
  s.SetEvictionListener([&](const std::string&, const L1Store::ObjectRef&) { told = true; });
  Put(s, "a", Fill(kChunk, 'a'), Meta(4096));
  Put(s, "b", "bb", Meta(2));
  auto pinned = s.Get("a");
  s.Clear();
  EXPECT_FALSE(told);
  EXPECT_EQ(s.Stats().objects, 0u);
  EXPECT_EQ(s.Keys().size(), 0u);
  EXPECT_EQ(s.Stats().used_bytes, kChunk);  // a, still being read
  EXPECT_EQ(Read(pinned), Fill(kChunk, 'a'));
  pinned.reset();
  EXPECT_EQ(s.Stats().used_bytes, 0u);
  Put(s, "c", "cc", Meta(2));  // the store still works
  EXPECT_EQ(Read(s.Get("c")), "cc");
  s.CheckInvariants();
}

TEST(L1Store, PublishIfAbsentKeepsTheFirstEntry) {
  L1Store s(Opts(1 << 16));
  L1Store::Reservation r;
  bool published = false;
  ASSERT_EQ(s.Reserve(3, &r), L1Store::ReserveError::kOk);
  r.CopyFrom(Bytes("one"));
  EXPECT_EQ(Read(s.PublishIfAbsent("k", Meta(3), std::move(r), {}, &published)), "one");
  EXPECT_TRUE(published);
  ASSERT_EQ(s.Reserve(3, &r), L1Store::ReserveError::kOk);
  r.CopyFrom(Bytes("two"));
  EXPECT_EQ(Read(s.PublishIfAbsent("k", Meta(3), std::move(r), {}, &published)), "one");
  EXPECT_FALSE(published);
  EXPECT_EQ(Read(s.Get("k")), "one");
  s.CheckInvariants();
}

TEST(L1Store, UnpublishedReservationIsInvisibleAndFreed) {
  L1Store s(Opts(1 << 16));
  {
    L1Store::Reservation r;
    ASSERT_EQ(s.Reserve(3 * kChunk + 1000, &r), L1Store::ReserveError::kOk);
    EXPECT_FALSE(s.Contains("k"));
    EXPECT_EQ(s.Stats().reserved_bytes, 3 * kChunk + 1024);
  }
  EXPECT_EQ(s.Stats().used_bytes, 0u);
  EXPECT_EQ(s.Stats().reserved_bytes, 0u);
  EXPECT_EQ(s.Stats().free_chunks, 16u);
  s.CheckInvariants();
}

// A pinned entry (a reader holds it) frees nothing now: eviction passes over
// it, it stays stored, and the unpinned entries go in LRU order.
TEST(L1Store, EvictsLeastRecentlyUsedAndPassesOverAPinnedEntry) {
  L1Store s(Opts(4 * kChunk));
  for (const char* k : {"a", "b", "c", "d"}) Put(s, k, Fill(kChunk, k[0]), Meta(4096));
  auto pinned_a = s.Get("a");
  for (const char* k : {"b", "c", "d"}) (void)s.Get(k);  // a is the least recent again, and pinned
  Put(s, "e", Fill(kChunk, 'e'), Meta(4096));
  EXPECT_TRUE(s.Contains("a"));
  EXPECT_FALSE(s.Contains("b"));
  EXPECT_GE(s.Stats().pinned_skipped, 1u);
  Put(s, "f", Fill(2 * kChunk, 'f'), Meta(8192));  // c and d, least recent first
  EXPECT_TRUE(s.Contains("a"));
  EXPECT_TRUE(s.Contains("e"));
  EXPECT_FALSE(s.Contains("c"));
  EXPECT_FALSE(s.Contains("d"));
  EXPECT_EQ(Read(s.Get("f")), Fill(2 * kChunk, 'f'));
  EXPECT_EQ(Read(pinned_a), Fill(kChunk, 'a'));
  EXPECT_LE(s.Stats().used_bytes, 4 * kChunk);
  s.CheckInvariants();
}

// Pinned entries hold most of the store: a reservation that evicting every
// unpinned entry could not meet fails at once and evicts nothing.
TEST(L1Store, ARequestEvictingCannotMeetEvictsNothing) {
  L1Store s(Opts(8 * kChunk));
  for (int i = 0; i < 8; ++i) Put(s, "k" + std::to_string(i), Fill(kChunk, 'x'), Meta(4096));
  std::vector<L1Store::ObjectRef> pins;
  for (int i = 0; i < 6; i += 1) pins.push_back(s.Get("k" + std::to_string(i)));
  L1Store::Reservation r;
  EXPECT_EQ(s.Begin(3 * kChunk, &r), L1Store::ReserveError::kNoSpace);
  EXPECT_EQ(s.Reserve(3 * kChunk, &r), L1Store::ReserveError::kNoSpace);
  EXPECT_EQ(s.Stats().evictions, 0u);
  EXPECT_EQ(s.Stats().objects, 8u);
  EXPECT_EQ(s.Stats().reserve_failures, 2u);
  EXPECT_EQ(s.Reserve(2 * kChunk, &r), L1Store::ReserveError::kOk);  // the two unpinned are enough
  EXPECT_EQ(s.Stats().evictions, 2u);
  s.CheckInvariants();
}

// The fragmentation case, in small: a store full of small objects (four to
// a page) whose LRU order is not their address order, then one object a
// quarter of the store. It evicts whole pages, so exactly the chunks it
// needs (at most one chunk more), not most of the store.
TEST(L1Store, ALargePutEvictsWhatItNeedsPlusAtMostOneChunk) {
  constexpr std::size_t kObject = kChunk / 4, kCount = 256;  // 64 chunks
  L1Store s(Opts(kObject * kCount));
  for (std::size_t i = 0; i < kCount; ++i) Put(s, "k" + std::to_string(i), Fill(kObject, 'x'), Meta(1024));
  for (std::size_t i = 0; i < kCount; i += 2) (void)s.Get("k" + std::to_string(i));  // every other one is recent
  const std::size_t big = kObject * kCount / 4;
  Put(s, "big", Fill(big, 'B'), Meta(static_cast<std::int32_t>(big)));
  EXPECT_LE(s.Stats().evictions * kObject, big + kChunk);
  EXPECT_GE(s.Stats().evictions * kObject, big);
  EXPECT_EQ(s.Stats().objects, kCount - s.Stats().evictions + 1);
  s.CheckInvariants();
}

// Small objects in one page leave together: evicting the oldest frees its
// page only with its page-mates. A page a reader pins a tenant of frees
// nothing, so its tenants are passed over.
TEST(L1Store, PageMatesLeaveTogetherAndAPinnedOneHoldsThePage) {
  L1Store s(Opts(4 * kChunk));
  for (int i = 0; i < 16; ++i) Put(s, "s" + std::to_string(i), Fill(kChunk / 4, 's'), Meta(1024));  // 4 pages
  EXPECT_EQ(s.Stats().pages, 4u);
  auto pin = s.Get("s1");  // the first page is held
  for (int i = 0; i < 16; ++i)
    if (i != 1) (void)s.Get("s" + std::to_string(i));  // s1 is the oldest, then s0, s2, s3
  Put(s, "big", Fill(kChunk, 'B'), Meta(4096));
  for (int i : {0, 1, 2, 3}) EXPECT_TRUE(s.Contains("s" + std::to_string(i))) << i;
  for (int i : {4, 5, 6, 7}) EXPECT_FALSE(s.Contains("s" + std::to_string(i))) << i;
  EXPECT_EQ(s.Stats().evictions, 4u);
  s.CheckInvariants();
}

TEST(L1Store, RefusesTooLargeAndReportsNoSpaceWhenAllIsPinned) {
  L1Store::Options o = Opts(2 * kChunk);
  o.max_object_bytes = kChunk;
  L1Store s(o);
  L1Store::Reservation r;
  EXPECT_EQ(s.Reserve(kChunk + 1, &r), L1Store::ReserveError::kTooLarge);
  EXPECT_EQ(s.Reserve(1u << 30, &r), L1Store::ReserveError::kTooLarge);
  Put(s, "a", Fill(kChunk, 'a'), Meta(4096));
  Put(s, "b", Fill(kChunk, 'b'), Meta(4096));
  auto pa = s.Get("a");
  auto pb = s.Get("b");
  EXPECT_EQ(s.Reserve(64, &r), L1Store::ReserveError::kNoSpace);
  pa.reset();
  pb.reset();
  EXPECT_EQ(s.Reserve(64, &r), L1Store::ReserveError::kOk);
}

// Zero-length PUTs under ever new keys (a hostile peer's cheapest request)
// cannot grow the store without bound: each entry takes a granule and the
// oldest are evicted.
TEST(L1Store, ZeroLengthObjectsTakeRoomAndAreEvicted) {
  L1Store s(Opts(kChunk));
  for (int i = 0; i < 1000; ++i) Put(s, "empty" + std::to_string(i), "", Meta(0));
  EXPECT_LE(s.Stats().objects, kChunk / 64);
  EXPECT_GE(s.Stats().evictions, 1000u - kChunk / 64);
  ASSERT_NE(s.Get("empty999"), nullptr);
  EXPECT_EQ(s.Get("empty999")->size(), 0u);
  EXPECT_TRUE(s.Get("empty999")->spans().empty());
  EXPECT_EQ(s.Get("empty0"), nullptr);
  s.CheckInvariants();
}

TEST(L1Store, ObjectsOutliveTheStore) {
  L1Store::ObjectRef o;
  {
    L1Store s(Opts(kChunk));
    Put(s, "k", "bytes", Meta(5));
    o = s.Get("k");
  }
  EXPECT_EQ(Read(o), "bytes");
}

TEST(L1Store, ConcurrentWritersAndReaders) {
  L1Store s(Opts(1 << 16));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 50);
        const std::string payload(static_cast<std::size_t>(100 + (i * 37 % 9000)), static_cast<char>('a' + t));
        L1Store::Reservation r;
        if (s.Reserve(payload.size(), &r) == L1Store::ReserveError::kOk) {
          r.CopyFrom(Bytes(payload));
          s.Publish(key, ObjectMeta{static_cast<std::int32_t>(payload.size()), 1, 3, {}}, std::move(r));
        }
        if (auto o = s.Get(key)) {
          // An object's bytes are all one writer's, and match its length.
          const std::string d = Read(o);
          ASSERT_EQ(d.size(), static_cast<std::size_t>(o->meta().length));
          ASSERT_EQ(d, std::string(d.size(), d[0]));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(s.Stats().used_bytes, s.Stats().capacity_bytes);
  s.CheckInvariants();
}

// Every operation, pinned readers, lost PublishIfAbsent races, reservations
// extended piece by piece and dropped, and Clear included, keeps the chunk
// and byte accounting and the LRU list whole (CheckInvariants aborts
// otherwise), and when every reference is gone only the entries hold
// chunks.
RC_GTEST_PROP(L1StoreProp, AccountingHoldsThroughEveryOperation, ()) {
  L1Store s(
      Opts(8 * kChunk, *rc::gen::inRange<std::size_t>(0, 3) * kChunk, *rc::gen::inRange<std::size_t>(0, 3) * kChunk));
  std::vector<L1Store::ObjectRef> pinned;
  std::vector<L1Store::Reservation> open;
  const int steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) {
    const std::string key = "k" + std::to_string(*rc::gen::inRange(0, 8));
    const std::size_t bytes = *rc::gen::inRange<std::size_t>(0, 3 * kChunk);
    switch (*rc::gen::inRange(0, 9)) {
      case 0:
      case 1: {
        L1Store::Reservation r;
        if (s.Reserve(bytes, &r) == L1Store::ReserveError::kOk)
          s.Publish(key, ObjectMeta{static_cast<std::int32_t>(bytes), 1, 3, {}}, std::move(r));
        break;
      }
      case 2: {
        L1Store::Reservation r;
        if (s.Reserve(bytes, &r) == L1Store::ReserveError::kOk)
          (void)s.PublishIfAbsent(key, ObjectMeta{static_cast<std::int32_t>(bytes), 1, 3, {}}, std::move(r),
                                  [&] { return *rc::gen::arbitrary<bool>(); });
        break;
      }
      case 3: {
        L1Store::Reservation r;
        if (s.Begin(bytes, &r) == L1Store::ReserveError::kOk) open.push_back(std::move(r));
        break;
      }
      case 4:
        if (!open.empty()) open.erase(open.begin());  // a PUT cut short
        break;
      case 5:
        if (auto o = s.Get(key)) pinned.push_back(std::move(o));
        break;
      case 6:
        if (!pinned.empty()) pinned.erase(pinned.begin() + *rc::gen::inRange<std::ptrdiff_t>(0, std::ssize(pinned)));
        break;
      case 7:
        if (*rc::gen::inRange(0, 10) == 0) s.Clear();
        break;
      case 8:
        // A piece more for an open PUT, evicting or not; complete, it is
        // published.
        if (!open.empty()) {
          L1Store::Reservation& r = open.back();
          if (s.Extend(&r, *rc::gen::arbitrary<bool>()) == L1Store::ReserveError::kOk && r.complete()) {
            s.Publish(key, ObjectMeta{static_cast<std::int32_t>(r.size()), 1, 3, {}}, std::move(r));
            open.pop_back();
          }
        }
        break;
    }
    s.CheckInvariants();
  }
  pinned.clear();
  open.clear();
  s.CheckInvariants();
  RC_ASSERT(s.Stats().reserved_bytes == 0u);
  std::size_t whole = 0;
  for (const std::string& k : s.Keys()) whole += s.Get(k)->size() / kChunk;
  RC_ASSERT(s.Stats().used_bytes >= whole * kChunk);
  RC_ASSERT(s.Stats().used_bytes <= (whole + s.Stats().pages) * kChunk);
}

// Planning among many small entries stays fast: 65,536 entries of 64 bytes
// (1,024 pages), every other one recently read, then a reservation of a
// quarter of the store.
TEST(L1Store, APlanAmongManySmallEntriesIsFast) {
  constexpr std::size_t kObject = 64, kCount = 65536;
  L1Store s(Opts(kObject * kCount));
  for (std::size_t i = 0; i < kCount; ++i) {
    L1Store::Reservation r;
    ASSERT_EQ(s.Reserve(kObject, &r), L1Store::ReserveError::kOk);
    s.Publish("k" + std::to_string(i), Meta(64), std::move(r));
  }
  for (std::size_t i = 0; i < kCount; i += 2) (void)s.Get("k" + std::to_string(i));
  const auto start = std::chrono::steady_clock::now();
  L1Store::Reservation r;
  ASSERT_EQ(s.Reserve(kObject * kCount / 4, &r), L1Store::ReserveError::kOk);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(s.Stats().evictions, kCount / 4);
  s.CheckInvariants();
}

// Against a model map: with evictions, every hit still returns the last
// value put, and the chunks held stay within the budget.
RC_GTEST_PROP(L1StoreProp, BehavesLikeAMapUnderEviction, ()) {
  L1Store s(Opts(4 * kChunk));
  std::map<std::string, std::string> last;
  const int steps = *rc::gen::inRange(1, 150);
  for (int i = 0; i < steps; ++i) {
    const std::string key = "k" + std::to_string(*rc::gen::inRange(0, 6));
    if (*rc::gen::arbitrary<bool>()) {
      const std::string v(*rc::gen::inRange<std::size_t>(0, 3 * kChunk), static_cast<char>('a' + i % 26));
      L1Store::Reservation r;
      RC_ASSERT(s.Reserve(v.size(), &r) == L1Store::ReserveError::kOk);
      r.CopyFrom(Bytes(v));
      s.Publish(key, ObjectMeta{static_cast<std::int32_t>(v.size()), 1, 3, {}}, std::move(r));
      last[key] = v;
    } else if (auto o = s.Get(key)) {
      RC_ASSERT(last.count(key) == 1u);
      RC_ASSERT(Read(o) == last[key]);
    }
    RC_ASSERT(s.Stats().used_bytes <= 4 * kChunk);
  }
}

}  // namespace
}  // namespace lmc::store
