// l2::TaskBook directly: ids unique under concurrency; each completion
// lands in its own kind's results, consume-once, and adds one count to that
// kind's eventfd only; the fds are distinct and closed by the destructor;
// the recorders are the callbacks adapters build their edge on.
#include "l2/task_book.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

#include "runtime/process_env.h"

namespace lmc::l2 {
namespace {

runtime::ProcessEnv& Env() {
  static runtime::ProcessEnv env({1, 0});
  return env;
}

// The count an eventfd holds now, cleared (0 if none), without waiting.
std::uint64_t CountNow(int fd) {
  std::uint64_t n = 0;
  return ::read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

TEST(TaskBook, IdsAreUniqueAcrossThreads) {
  TaskBook book(Env());
  std::vector<std::vector<TaskId>> got(4);
  std::vector<std::thread> threads;
  for (auto& ids : got) {
    threads.emplace_back([&book, &ids] {
      for (int i = 0; i < 1000; ++i) ids.push_back(book.NextId());
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<TaskId> all;
  for (const auto& ids : got) {
    for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);  // increasing per thread
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), 4000u);
}

TEST(TaskBook, EachKindHasItsOwnResultsAndItsOwnFd) {
  TaskBook book(Env());
  const std::set<int> fds{book.store_fd(), book.lookup_fd(), book.load_fd()};
  EXPECT_EQ(fds.size(), 3u);
  TaskBook other(Env());
  for (int fd : {other.store_fd(), other.lookup_fd(), other.load_fd()}) EXPECT_EQ(fds.count(fd), 0u);

  book.CompleteStore(1, true);
  book.CompleteStore(2, false);
  EXPECT_EQ(CountNow(book.store_fd()), 2u);  // one count per task
  EXPECT_EQ(CountNow(book.lookup_fd()), 0u);
  EXPECT_EQ(CountNow(book.load_fd()), 0u);
  EXPECT_EQ(book.PopStores(), (std::map<TaskId, bool>{{1, true}, {2, false}}));
  EXPECT_TRUE(book.PopStores().empty());  // popped once

  book.CompleteLookup(3, Bitmap{true, false, true});
  EXPECT_EQ(CountNow(book.lookup_fd()), 1u);
  EXPECT_EQ(CountNow(book.store_fd()) + CountNow(book.load_fd()), 0u);
  EXPECT_EQ(book.TakeLoad(3), std::nullopt);  // another kind's id
  EXPECT_EQ(book.TakeLookup(3), std::optional<Bitmap>(Bitmap{true, false, true}));
  EXPECT_EQ(book.TakeLookup(3), std::nullopt);  // consume-once

  book.CompleteLoad(4, LoadResult{{true, false}, {7, 0}});
  EXPECT_EQ(CountNow(book.load_fd()), 1u);
  EXPECT_EQ(CountNow(book.store_fd()) + CountNow(book.lookup_fd()), 0u);
  EXPECT_EQ(book.TakeLookup(4), std::nullopt);
  const auto load = book.TakeLoad(4);
  ASSERT_TRUE(load);
  EXPECT_EQ(load->loaded, (Bitmap{true, false}));
  EXPECT_EQ(load->sizes, (std::vector<std::size_t>{7, 0}));
  EXPECT_EQ(book.TakeLoad(4), std::nullopt);
  EXPECT_EQ(book.TakeLoad(999), std::nullopt);  // unknown

  book.StoreRecorder(5)(true);
  book.LoadRecorder(6)(LoadResult{{true}, {3}});
  EXPECT_EQ(CountNow(book.store_fd()), 1u);
  EXPECT_EQ(CountNow(book.load_fd()), 1u);
  EXPECT_EQ(book.PopStores(), (std::map<TaskId, bool>{{5, true}}));
  EXPECT_EQ(book.TakeLoad(6)->sizes, (std::vector<std::size_t>{3}));
}

TEST(TaskBook, TheDestructorClosesItsFds) {
  int fds[3];
  {
    TaskBook book(Env());
    fds[0] = book.store_fd();
    fds[1] = book.lookup_fd();
    fds[2] = book.load_fd();
    for (int fd : fds) EXPECT_NE(fcntl(fd, F_GETFD), -1);
  }
  for (int fd : fds) EXPECT_EQ(fcntl(fd, F_GETFD), -1) << fd;  // nothing else opens fds meanwhile
}

}  // namespace
}  // namespace lmc::l2
