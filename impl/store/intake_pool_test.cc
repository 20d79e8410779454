// store::IntakePool: chunks up to the limit, reused once handed back, and
// never more than max_bytes out at once.
#include "store/intake_pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

namespace lmc::store {
namespace {

TEST(IntakePool, HandsOutWholeChunksUpToTheLimit) {
  IntakePool pool(3 * IntakePool::kChunkBytes + 17);  // rounded down: 3 chunks
  EXPECT_EQ(pool.max_bytes(), 3 * IntakePool::kChunkBytes);
  std::vector<IntakePool::Chunk> held;
  for (int i = 0; i < 3; ++i) {
    std::optional<IntakePool::Chunk> c = pool.Acquire();
    ASSERT_TRUE(c.has_value());
    ASSERT_EQ(c->data().size(), IntakePool::kChunkBytes);
    std::memset(c->data().data(), i, c->data().size());  // writable, all of it
    held.push_back(std::move(*c));
  }
  EXPECT_EQ(pool.in_use_bytes(), 3 * IntakePool::kChunkBytes);
  EXPECT_FALSE(pool.Acquire().has_value()) << "a fourth chunk would pass the limit";
  held.pop_back();
  EXPECT_EQ(pool.in_use_bytes(), 2 * IntakePool::kChunkBytes);
  std::optional<IntakePool::Chunk> again = pool.Acquire();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->data()[0], std::byte{2}) << "the chunk handed back is the one reused (kept warm)";
}

TEST(IntakePool, ZeroMeansNone) {
  IntakePool pool(IntakePool::kChunkBytes - 1);
  EXPECT_EQ(pool.max_bytes(), 0u);
  EXPECT_FALSE(pool.Acquire().has_value());
}

TEST(IntakePool, MovedChunksReturnOnceAndOutliveThePool) {
  std::optional<IntakePool::Chunk> kept;
  {
    IntakePool pool(2 * IntakePool::kChunkBytes);
    IntakePool::Chunk a = *pool.Acquire();
    IntakePool::Chunk b = std::move(a);
    EXPECT_TRUE(a.data().empty());
    EXPECT_EQ(pool.in_use_bytes(), IntakePool::kChunkBytes);
    a = std::move(b);  // back again: still one chunk out
    EXPECT_EQ(pool.in_use_bytes(), IntakePool::kChunkBytes);
    kept = std::move(a);
  }
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->data().size(), IntakePool::kChunkBytes);  // the pool is gone, the chunk is still valid
}

}  // namespace
}  // namespace lmc::store
