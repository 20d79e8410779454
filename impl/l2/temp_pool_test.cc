// l2::TempPool directly: a batch is reserved all or nothing under the
// budget (a refusal holds nothing and is counted), the counts follow every
// buffer's life (destruction, move assignment, buffers outliving the pool
// handle), sizes that would overflow a naive sum are refused, freed storage
// is reused when it fits without wasting more than half, and concurrent
// users never take the pool over its budget.
#include "l2/temp_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

namespace lmc::l2 {
namespace {

TEST(TempPool, ABatchIsAllOrNothingUnderTheBudget) {
  auto pool = TempPool::Create(100);
  auto first = pool->ReserveBatch({40, 50});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].data().size(), 40u);
  EXPECT_EQ((*first)[1].data().size(), 50u);
  std::memset((*first)[1].data().data(), 0x5A, 50);  // writable, all of it
  EXPECT_EQ(pool->outstanding(), 2u);
  EXPECT_EQ(pool->outstanding_bytes(), 90u);
  // 5 would fit, 5 + 10 would not: the whole batch is refused.
  EXPECT_FALSE(pool->ReserveBatch({5, 10}));
  EXPECT_EQ(pool->outstanding(), 2u);
  EXPECT_EQ(pool->outstanding_bytes(), 90u);
  EXPECT_EQ(pool->reserve_failures(), 1u);
  auto exact = pool->ReserveBatch({10});  // up to the budget exactly
  ASSERT_TRUE(exact);
  EXPECT_EQ(pool->outstanding_bytes(), 100u);
  EXPECT_FALSE(pool->ReserveBatch({0, 1}));
  first.reset();  // both buffers go back
  EXPECT_EQ(pool->outstanding(), 1u);
  EXPECT_EQ(pool->outstanding_bytes(), 10u);
  EXPECT_TRUE(pool->ReserveBatch({45, 45}));  // room again (and back at once)
  EXPECT_EQ(pool->outstanding_bytes(), 10u);
  EXPECT_EQ(pool->reserve_failures(), 2u);
}

TEST(TempPool, SizesThatOverflowASumAreRefused) {
  auto pool = TempPool::Create(100);
  const std::size_t huge = std::numeric_limits<std::size_t>::max() - 59;  // 60 + huge wraps to 1
  EXPECT_FALSE(pool->ReserveBatch({60, huge}));
  EXPECT_FALSE(pool->ReserveBatch({101}));
  EXPECT_EQ(pool->outstanding(), 0u);
  EXPECT_EQ(pool->reserve_failures(), 2u);
  auto empty = pool->ReserveBatch({});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(TempPool, CountsFollowEveryBuffersLife) {
  auto pool = TempPool::Create(1000);
  auto batch = pool->ReserveBatch({10, 20, 0});
  ASSERT_TRUE(batch);
  EXPECT_EQ(pool->outstanding(), 3u);
  TempPool::Buffer kept = std::move((*batch)[0]);
  kept = std::move((*batch)[1]);  // the 10-byte buffer goes back now
  EXPECT_EQ(pool->outstanding(), 2u);
  EXPECT_EQ(pool->outstanding_bytes(), 20u);
  EXPECT_EQ(kept.data().size(), 20u);
  batch.reset();  // the moved-from and the empty one
  EXPECT_EQ(pool->outstanding(), 1u);
  std::weak_ptr<TempPool> watch = pool;
  pool.reset();  // the buffer keeps its pool alive and still returns to it
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(watch.lock()->outstanding(), 1u);
  kept = TempPool::Buffer();
  EXPECT_TRUE(watch.expired());
}

TEST(TempPool, FreedStorageIsReusedWhenItFitsWithoutWastingHalf) {
  auto pool = TempPool::Create(1000);
  const std::byte* storage = nullptr;
  {
    auto b = pool->ReserveBatch({100});
    ASSERT_TRUE(b);
    storage = (*b)[0].data().data();
  }
  {
    auto b = pool->ReserveBatch({80});  // fits, wastes 20: reused
    ASSERT_TRUE(b);
    EXPECT_EQ((*b)[0].data().data(), storage);
    EXPECT_EQ((*b)[0].data().size(), 80u);
  }
  {
    auto b = pool->ReserveBatch({40});  // would waste 60: a fresh block (the old one stays free)
    ASSERT_TRUE(b);
    EXPECT_NE((*b)[0].data().data(), storage);
  }
  {
    auto b = pool->ReserveBatch({101});  // too small to be reused
    ASSERT_TRUE(b);
    EXPECT_NE((*b)[0].data().data(), storage);
  }
  EXPECT_EQ(pool->outstanding(), 0u);
}

TEST(TempPool, ConcurrentUsersStayUnderTheBudget) {
  constexpr std::size_t kBudget = 4096;
  auto pool = TempPool::Create(kBudget);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 g(static_cast<unsigned>(t));
      for (int i = 0; i < 2000; ++i) {
        std::vector<std::size_t> sizes(1 + g() % 4);
        for (std::size_t& s : sizes) s = g() % 1024;
        auto b = pool->ReserveBatch(sizes);
        if (pool->outstanding_bytes() > kBudget) over = true;
        if (b) {
          for (auto& buf : *b) std::memset(buf.data().data(), t, buf.data().size());
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(pool->outstanding(), 0u);
  EXPECT_EQ(pool->outstanding_bytes(), 0u);
}

}  // namespace
}  // namespace lmc::l2
