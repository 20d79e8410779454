#include "store/arena.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <vector>

namespace lmc::store {
namespace {

TEST(Arena, AllocatesAlignedBlocksAndCoalesces) {
  Arena a(1 << 20);
  EXPECT_EQ(a.capacity_bytes(), 1u << 20);
  auto b1 = a.Allocate(100);
  auto b2 = a.Allocate(1);
  auto b3 = a.Allocate(64);
  ASSERT_TRUE(b1 && b2 && b3);
  EXPECT_EQ(b1->bytes, 128u);
  EXPECT_EQ(b2->bytes, 64u);
  EXPECT_EQ(b1->offset % Arena::kGranuleBytes, 0u);
  EXPECT_EQ(a.used_bytes(), 256u);
  a.Free(*b2);
  a.Free(*b1);
  a.Free(*b3);
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.largest_free_bytes(), a.capacity_bytes());
}

TEST(Arena, HandsOutTheMostRecentlyFreedOfEqualBlocks) {
  Arena a(1 << 20);
  // Separated by live blocks so the holes cannot coalesce.
  auto h1 = a.Allocate(4096), s1 = a.Allocate(64), h2 = a.Allocate(4096), s2 = a.Allocate(64);
  auto h3 = a.Allocate(4096), s3 = a.Allocate(64);
  ASSERT_TRUE(h1 && s1 && h2 && s2 && h3 && s3);
  a.Free(*h2);
  a.Free(*h1);
  a.Free(*h3);  // freed last: still warm in cache
  auto again = a.Allocate(4096);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, h3->offset);
  again = a.Allocate(4096);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, h1->offset);
}

TEST(Arena, RefusesWhatDoesNotFit) {
  Arena a(4096);
  auto all = a.Allocate(4096);
  ASSERT_TRUE(all);
  EXPECT_FALSE(a.Allocate(1));
  a.Free(*all);
  EXPECT_FALSE(a.Allocate(4097));
  EXPECT_TRUE(a.Allocate(4096));
}

// Any sequence of allocations and frees keeps blocks disjoint and inside the
// arena, accounts every byte, and coalesces back to one block.
RC_GTEST_PROP(ArenaProp, BlocksStayDisjointAndCoalesce, ()) {
  Arena a(64 * 1024);
  std::vector<Arena::Block> live;
  const int steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) {
    if (live.empty() || *rc::gen::arbitrary<bool>()) {
      const auto b = a.Allocate(*rc::gen::inRange<std::size_t>(1, 9000));
      if (b) live.push_back(*b);
    } else {
      const std::size_t k = *rc::gen::inRange<std::size_t>(0, live.size());
      a.Free(live[k]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    std::vector<Arena::Block> sorted = live;
    std::sort(sorted.begin(), sorted.end(), [](auto x, auto y) { return x.offset < y.offset; });
    std::size_t used = 0;
    for (std::size_t j = 0; j < sorted.size(); ++j) {
      RC_ASSERT(sorted[j].offset + sorted[j].bytes <= a.capacity_bytes());
      if (j > 0) RC_ASSERT(sorted[j - 1].offset + sorted[j - 1].bytes <= sorted[j].offset);
      used += sorted[j].bytes;
    }
    RC_ASSERT(used == a.used_bytes());
    a.CheckInvariants();
  }
  for (const Arena::Block& b : live) a.Free(b);
  RC_ASSERT(a.used_bytes() == 0u);
  RC_ASSERT(a.largest_free_bytes() == a.capacity_bytes());
  a.CheckInvariants();
}

// The free path's checks are on in every build: a block freed twice stops
// the process with what was freed, before the free lists are corrupted.
TEST(ArenaDeathTest, ADoubleFreeIsCaught) {
  Arena a(1 << 12);
  const auto first = a.Allocate(100);
  const auto second = a.Allocate(100);
  ASSERT_TRUE(first && second);
  a.Free(*first);
  EXPECT_DEATH(a.Free(*first), "check failed: arena.cc:.*double free of the block at 0");
}

}  // namespace
}  // namespace lmc::store
