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

ObjectMeta Meta(std::int32_t length, std::int32_t dtype = 3) {
  return ObjectMeta{length, 1, dtype, {2, 1, 1, length / 2}};
}

void Put(L1Store& s, const std::string& key, std::string_view payload, ObjectMeta meta) {
  L1Store::Reservation r;
  ASSERT_EQ(s.Reserve(payload.size(), &r), L1Store::ReserveError::kOk);
  if (!payload.empty()) std::memcpy(r.data().data(), payload.data(), payload.size());
  s.Publish(key, meta, std::move(r));
}

std::string Read(const L1Store::ObjectRef& o) {
  return {reinterpret_cast<const char*>(o->data().data()), o->data().size()};
}

TEST(L1Store, TryReserveNeverEvicts) {
  L1Store s({4 << 20, 4 << 20});
  for (int i = 0; i < 4; ++i) Put(s, "k" + std::to_string(i), std::string(1 << 20, 'a'), Meta(1 << 20));
  L1Store::Reservation r;
  EXPECT_EQ(s.TryReserve(1, &r), L1Store::ReserveError::kNoSpace);
  EXPECT_FALSE(r.valid());
  EXPECT_EQ(s.TryReserve(8 << 20, &r), L1Store::ReserveError::kTooLarge);
  EXPECT_EQ(s.Stats().evictions, 0u);
  EXPECT_EQ(s.Stats().objects, 4u);
  // Even an empty object takes a granule, so a full store has no room for it.
  EXPECT_EQ(s.TryReserve(0, &r), L1Store::ReserveError::kNoSpace);
}

TEST(L1Store, HeadroomIsKeptFreeAfterEachPublish) {
  L1Store::Options o;
  o.capacity_bytes = 8 << 20;
  o.max_object_bytes = 8 << 20;
  o.headroom_bytes = 2 << 20;
  L1Store s(o);
  for (int i = 0; i < 10; ++i) {
    Put(s, "k" + std::to_string(i), std::string(1 << 20, static_cast<char>('a' + i)), Meta(1 << 20));
    const StoreStats st = s.Stats();
    EXPECT_GE(st.capacity_bytes - st.used_bytes, std::uint64_t{2} << 20) << "after publish " << i;
  }
  EXPECT_EQ(s.Stats().objects, 6u);  // 8 MiB less 2 MiB of headroom
  for (int i = 4; i < 10; ++i) EXPECT_TRUE(s.Contains("k" + std::to_string(i))) << i;
  // So a new object finds room without evicting anything.
  L1Store::Reservation r;
  EXPECT_EQ(s.TryReserve(1 << 20, &r), L1Store::ReserveError::kOk);
  // A headroom as large as the budget still keeps the newest object.
  L1Store::Options all = o;
  all.headroom_bytes = 8 << 20;
  L1Store t(all);
  Put(t, "a", "x", Meta(1));
  Put(t, "b", "y", Meta(1));
  EXPECT_FALSE(t.Contains("a"));
  EXPECT_TRUE(t.Contains("b"));
}

TEST(L1Store, PublishGetReplace) {
  L1Store s({1 << 20, 1 << 20});
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
  EXPECT_EQ(s.Stats().objects, 1u);
}

TEST(L1Store, EvictionListenerSeesEvictedEntriesWithTheirBytes) {
  L1Store s({4096, 4096});
  std::vector<std::pair<std::string, std::string>> evicted;
  s.SetEvictionListener(
      [&](const std::string& key, const L1Store::ObjectRef& o) { evicted.emplace_back(key, Read(o)); });
  Put(s, "a", std::string(2000, 'a'), Meta(2000));
  Put(s, "b", std::string(2000, 'b'), Meta(2000));
  ASSERT_NE(s.Get("a"), nullptr);  // a is now the most recent
  EXPECT_TRUE(evicted.empty());
  Put(s, "c", std::string(2000, 'c'), Meta(2000));  // evicts b, the least recent
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].first, "b");
  EXPECT_EQ(evicted[0].second, std::string(2000, 'b'));
}

TEST(L1Store, ClearDropsEverythingAndPinnedBytesFollowTheirReader) {
  L1Store s({1 << 16, 1 << 16});
  bool told = false;
  s.SetEvictionListener([&](const std::string&, const L1Store::ObjectRef&) { told = true; });
  Put(s, "a", "aaaa", Meta(4));
  Put(s, "b", "bb", Meta(2));
  auto pinned = s.Get("a");
  s.Clear();
  EXPECT_FALSE(told);
  EXPECT_EQ(s.Stats().objects, 0u);
  EXPECT_EQ(s.Keys().size(), 0u);
  EXPECT_EQ(s.Stats().used_bytes, 64u);  // a, still being read
  EXPECT_EQ(Read(pinned), "aaaa");
  pinned.reset();
  EXPECT_EQ(s.Stats().used_bytes, 0u);
  Put(s, "c", "cc", Meta(2));  // the store still works
  EXPECT_EQ(Read(s.Get("c")), "cc");
}

TEST(L1Store, PublishIfAbsentKeepsTheFirstEntry) {
  L1Store s({1 << 16, 1 << 16});
  L1Store::Reservation r;
  ASSERT_EQ(s.Reserve(3, &r), L1Store::ReserveError::kOk);
  std::memcpy(r.data().data(), "one", 3);
  EXPECT_EQ(Read(s.PublishIfAbsent("k", Meta(3), std::move(r))), "one");
  ASSERT_EQ(s.Reserve(3, &r), L1Store::ReserveError::kOk);
  std::memcpy(r.data().data(), "two", 3);
  EXPECT_EQ(Read(s.PublishIfAbsent("k", Meta(3), std::move(r))), "one");
  EXPECT_EQ(Read(s.Get("k")), "one");
  EXPECT_EQ(s.Stats().used_bytes, 64u);  // the loser's block went back
}

TEST(L1Store, UnpublishedReservationIsInvisibleAndFreed) {
  L1Store s({1 << 16, 1 << 16});
  {
    L1Store::Reservation r;
    ASSERT_EQ(s.Reserve(1000, &r), L1Store::ReserveError::kOk);
    EXPECT_FALSE(s.Contains("k"));
    EXPECT_GE(s.Stats().used_bytes, 1000u);
  }
  EXPECT_EQ(s.Stats().used_bytes, 0u);
  EXPECT_FALSE(s.Contains("k"));
}

// A pinned entry (a reader holds it) frees nothing now: eviction passes over
// it, it stays stored, and the unpinned entries go in LRU order; a request
// larger than any one entry evicts the run that costs the fewest bytes,
// oldest first among equals.
TEST(L1Store, EvictsLeastRecentlyUsedAndPassesOverAPinnedEntry) {
  L1Store s({4096, 4096});
  Put(s, "a", std::string(1024, 'a'), Meta(1024));
  Put(s, "b", std::string(1024, 'b'), Meta(1024));
  Put(s, "c", std::string(1024, 'c'), Meta(1024));
  auto pinned_a = s.Get("a");  // a is now most recent; b is the oldest
  Put(s, "d", std::string(1024, 'd'), Meta(1024));
  Put(s, "e", std::string(1024, 'e'), Meta(1024));
  EXPECT_FALSE(s.Contains("b"));
  EXPECT_TRUE(s.Contains("e"));
  EXPECT_GE(s.Stats().evictions, 1u);
  // 2048 bytes: "a" is pinned, so the run of c and d (older than e) goes.
  Put(s, "f", std::string(2048, 'f'), Meta(2048));
  EXPECT_TRUE(s.Contains("a"));
  EXPECT_TRUE(s.Contains("e"));
  EXPECT_FALSE(s.Contains("c"));
  EXPECT_FALSE(s.Contains("d"));
  EXPECT_EQ(Read(s.Get("f")), std::string(2048, 'f'));
  EXPECT_EQ(Read(pinned_a), std::string(1024, 'a'));
  EXPECT_LE(s.Stats().used_bytes, 4096u);
}

TEST(L1Store, ThePinnedOldestEntryIsPassedOverNotLost) {
  L1Store s({2048, 2048});
  Put(s, "a", std::string(1024, 'a'), Meta(1024));
  Put(s, "b", std::string(1024, 'b'), Meta(1024));
  auto pinned_a = s.Get("a");
  (void)s.Get("b");  // a is the least recently used again, and pinned
  Put(s, "c", std::string(1024, 'c'), Meta(1024));
  EXPECT_TRUE(s.Contains("a"));
  EXPECT_FALSE(s.Contains("b"));
  EXPECT_TRUE(s.Contains("c"));
  EXPECT_EQ(s.Stats().pinned_skipped, 1u);
  EXPECT_EQ(s.Stats().evictions, 1u);
}

// Pinned entries split the arena so that no run is long enough: the
// reservation fails at once and evicts nothing.
TEST(L1Store, ARequestEvictingCannotMeetEvictsNothing) {
  L1Store s({8192, 8192});
  for (int i = 0; i < 8; ++i) Put(s, "k" + std::to_string(i), std::string(1024, 'x'), Meta(1024));
  auto p2 = s.Get("k2");
  auto p5 = s.Get("k5");  // runs of unpinned: k0-k1 (2 KiB), k3-k4 (2 KiB), k6-k7 (2 KiB)
  L1Store::Reservation r;
  EXPECT_EQ(s.Reserve(3 * 1024, &r), L1Store::ReserveError::kNoSpace);
  EXPECT_EQ(s.Stats().evictions, 0u);
  EXPECT_EQ(s.Stats().objects, 8u);
  EXPECT_EQ(s.Stats().reserve_failures, 1u);
  EXPECT_EQ(s.Reserve(2 * 1024, &r), L1Store::ReserveError::kOk);  // a run of two is enough
  EXPECT_EQ(s.Stats().evictions, 2u);
  s.CheckInvariants();
}

// The fragmentation case, in small: a store full of small objects whose LRU
// order is not their address order, then one object a quarter of the store.
// It evicts the run that needs the fewest bytes: at most its own size (in
// whole objects), not most of the store.
TEST(L1Store, ALargePutEvictsAboutWhatItNeeds) {
  constexpr std::size_t kObject = 4096, kCount = 64;
  L1Store s({kObject * kCount, kObject * kCount});
  for (std::size_t i = 0; i < kCount; ++i) Put(s, "k" + std::to_string(i), std::string(kObject, 'x'), Meta(4096));
  for (std::size_t i = 0; i < kCount; i += 2) (void)s.Get("k" + std::to_string(i));  // every other one is recent
  Put(s, "big", std::string(kObject * kCount / 4, 'B'), Meta(65536));
  EXPECT_LE(s.Stats().evictions, kCount / 4);  // LRU order alone would evict about half the store
  EXPECT_EQ(s.Stats().objects, kCount - s.Stats().evictions + 1);
  s.CheckInvariants();
}

TEST(L1Store, RefusesTooLargeAndReportsNoSpaceWhenAllIsPinned) {
  L1Store s({4096, 2048});
  L1Store::Reservation r;
  EXPECT_EQ(s.Reserve(2049, &r), L1Store::ReserveError::kTooLarge);
  EXPECT_EQ(s.Reserve(1u << 30, &r), L1Store::ReserveError::kTooLarge);
  Put(s, "a", std::string(2048, 'a'), Meta(2048));
  Put(s, "b", std::string(2048, 'b'), Meta(2048));
  auto pa = s.Get("a");
  auto pb = s.Get("b");
  EXPECT_EQ(s.Reserve(64, &r), L1Store::ReserveError::kNoSpace);
  pa.reset();
  pb.reset();
  EXPECT_EQ(s.Reserve(64, &r), L1Store::ReserveError::kOk);
}

TEST(L1Store, ZeroLengthObjects) {
  L1Store s({4096, 4096});
  Put(s, "empty", "", Meta(0));
  ASSERT_NE(s.Get("empty"), nullptr);
  EXPECT_TRUE(s.Get("empty")->data().empty());
}

// Zero-length PUTs under ever new keys (a hostile peer's cheapest request)
// cannot grow the store without bound: each entry takes a granule and the
// oldest are evicted.
TEST(L1Store, ZeroLengthObjectsTakeRoomAndAreEvicted) {
  L1Store s({4096, 4096});
  for (int i = 0; i < 1000; ++i) Put(s, "empty" + std::to_string(i), "", Meta(0));
  EXPECT_LE(s.Stats().objects, 4096u / 64);
  EXPECT_GE(s.Stats().evictions, 1000u - 4096u / 64);
  ASSERT_NE(s.Get("empty999"), nullptr);
  EXPECT_TRUE(s.Get("empty999")->data().empty());
  EXPECT_EQ(s.Get("empty0"), nullptr);
}

TEST(L1Store, ObjectsOutliveTheStore) {
  L1Store::ObjectRef o;
  {
    L1Store s({4096, 4096});
    Put(s, "k", "bytes", Meta(5));
    o = s.Get("k");
  }
  EXPECT_EQ(Read(o), "bytes");
}

TEST(L1Store, ConcurrentWritersAndReaders) {
  L1Store s({1 << 16, 1 << 16});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 50);
        const std::string payload(static_cast<std::size_t>(100 + (i % 900)), static_cast<char>('a' + t));
        L1Store::Reservation r;
        if (s.Reserve(payload.size(), &r) == L1Store::ReserveError::kOk) {
          std::memcpy(r.data().data(), payload.data(), payload.size());
          s.Publish(key, ObjectMeta{static_cast<std::int32_t>(payload.size()), 1, 3, {}}, std::move(r));
        }
        if (auto o = s.Get(key)) {
          // An object's bytes are all one writer's, and match its length.
          const auto d = o->data();
          ASSERT_EQ(d.size(), static_cast<std::size_t>(o->meta().length));
          for (std::byte b : d) ASSERT_EQ(b, d[0]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(s.Stats().used_bytes, s.Stats().capacity_bytes);
  s.CheckInvariants();
}

// Every operation, pinned readers, lost PublishIfAbsent races, dropped
// reservations and Clear included, keeps the byte accounting and the LRU
// list whole (CheckInvariants aborts otherwise), and when every reference
// is gone only the entries' bytes are used.
RC_GTEST_PROP(L1StoreProp, AccountingHoldsThroughEveryOperation, ()) {
  L1Store s({16384, 16384, 2048});
  std::vector<L1Store::ObjectRef> pinned;
  std::vector<L1Store::Reservation> open;
  const int steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) {
    const std::string key = "k" + std::to_string(*rc::gen::inRange(0, 8));
    const std::size_t bytes = *rc::gen::inRange<std::size_t>(0, 5000);
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
      case 1: {
        L1Store::Reservation r;
        if (s.Reserve(bytes, &r) == L1Store::ReserveError::kOk)
          s.Publish(key, ObjectMeta{static_cast<std::int32_t>(bytes), 1, 3, {}}, std::move(r));
        break;
      }
      case 2: {
        L1Store::Reservation r;
        if (s.TryReserve(bytes, &r) == L1Store::ReserveError::kOk)
          (void)s.PublishIfAbsent(key, ObjectMeta{static_cast<std::int32_t>(bytes), 1, 3, {}}, std::move(r),
                                  [&] { return *rc::gen::arbitrary<bool>(); });
        break;
      }
      case 3: {
        L1Store::Reservation r;
        if (s.TryReserve(bytes, &r) == L1Store::ReserveError::kOk) open.push_back(std::move(r));
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
    }
    s.CheckInvariants();
  }
  pinned.clear();
  open.clear();
  s.CheckInvariants();
  std::uint64_t indexed = 0;
  for (const std::string& k : s.Keys()) indexed += (std::max<std::size_t>(s.Get(k)->data().size(), 1) + 63) / 64 * 64;
  RC_ASSERT(s.Stats().used_bytes == indexed);
}

// The plan is linear after one sort: among 65,536 entries of one size (every
// window costs the same, so the tie-break runs for each), a reservation of
// a quarter of the store takes milliseconds. A tie-break that rescanned each
// window took minutes here for a quarter of a million entries.
TEST(L1Store, APlanAmongManyEqualEntriesIsFast) {
  constexpr std::size_t kObject = 64, kCount = 65536;
  L1Store s({kObject * kCount, kObject * kCount, 0});
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

// Against a model map: with a budget large enough never to evict, the store
// is a map; with evictions, every hit still returns the last value put.
RC_GTEST_PROP(L1StoreProp, BehavesLikeAMapUnderEviction, ()) {
  L1Store s({8192, 8192});
  std::map<std::string, std::string> last;
  const int steps = *rc::gen::inRange(1, 150);
  for (int i = 0; i < steps; ++i) {
    const std::string key = "k" + std::to_string(*rc::gen::inRange(0, 6));
    if (*rc::gen::arbitrary<bool>()) {
      const std::string v(*rc::gen::inRange<std::size_t>(0, 3000), static_cast<char>('a' + i % 26));
      L1Store::Reservation r;
      RC_ASSERT(s.Reserve(v.size(), &r) == L1Store::ReserveError::kOk);
      if (!v.empty()) std::memcpy(r.data().data(), v.data(), v.size());
      s.Publish(key, ObjectMeta{static_cast<std::int32_t>(v.size()), 1, 3, {}}, std::move(r));
      last[key] = v;
    } else if (auto o = s.Get(key)) {
      RC_ASSERT(last.count(key) == 1u);
      RC_ASSERT(Read(o) == last[key]);
    }
    RC_ASSERT(s.Stats().used_bytes <= 8192u);
  }
}

}  // namespace
}  // namespace lmc::store
