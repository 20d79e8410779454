// l2::TaskBook and l2::EventPump directly: ids unique under concurrency;
// each completion lands in its own kind's results, consume-once, and adds
// one count to that kind's eventfd only; the fds are distinct and closed by
// the destructor. The pump wakes on any of its fds (and clears it), wakes
// every period without one, and stops promptly however long the period.
// Waits are conditions with deadlines.
#include "l2/task_book.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace lmc::l2 {
namespace {

using namespace std::chrono_literals;

// The count an eventfd holds now, cleared (0 if none), without waiting.
std::uint64_t CountNow(int fd) {
  std::uint64_t n = 0;
  return ::read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

TEST(TaskBook, IdsAreUniqueAcrossThreads) {
  TaskBook book;
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
  TaskBook book;
  const std::set<int> fds{book.store_fd(), book.lookup_fd(), book.load_fd()};
  EXPECT_EQ(fds.size(), 3u);
  TaskBook other;
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
}

TEST(TaskBook, TheDestructorClosesItsFds) {
  int fds[3];
  {
    TaskBook book;
    fds[0] = book.store_fd();
    fds[1] = book.lookup_fd();
    fds[2] = book.load_fd();
    for (int fd : fds) EXPECT_NE(fcntl(fd, F_GETFD), -1);
  }
  for (int fd : fds) EXPECT_EQ(fcntl(fd, F_GETFD), -1) << fd;  // nothing else opens fds meanwhile
}

TEST(TaskBook, WaitEventFdWaitsThenClears) {
  const int fd = NewEventFd();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(WaitEventFd(fd, 20));  // times out
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  SignalEventFd(fd);
  SignalEventFd(fd);
  EXPECT_TRUE(WaitEventFd(fd, 5000));
  EXPECT_EQ(CountNow(fd), 0u);  // cleared
  ::close(fd);
}

// Counts on_wake calls; waits (bounded) for a number of them.
class Wakes {
 public:
  void Wake() {
    std::lock_guard lock(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool WaitFor(int n, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return n_ >= n; });
  }
  int count() {
    std::lock_guard lock(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

TEST(EventPump, WakesOnEachFdAndClearsIt) {
  const int a = NewEventFd(), b = NewEventFd();
  Wakes wakes;
  {
    // A period far beyond the test: every wake-up here is an fd's.
    EventPump pump({a, b}, 3600s, [&] { wakes.Wake(); });
    SignalEventFd(a);
    ASSERT_TRUE(wakes.WaitFor(1));
    SignalEventFd(b);
    ASSERT_TRUE(wakes.WaitFor(2));
    pump.Stop();
    EXPECT_EQ(wakes.count(), 2) << "woke without a signal";
    EXPECT_EQ(CountNow(a) + CountNow(b), 0u) << "a signalled fd was not cleared";
    const auto start = std::chrono::steady_clock::now();
    pump.Stop();  // idempotent
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  }
  ::close(a);
  ::close(b);
}

TEST(EventPump, WakesEveryPeriodWithoutASignalAndStopsPromptly) {
  const int fd = NewEventFd();
  Wakes wakes;
  EventPump pump({fd}, 10ms, [&] { wakes.Wake(); });
  EXPECT_TRUE(wakes.WaitFor(3));
  pump.Stop();
  const int after = wakes.count();
  SignalEventFd(fd);
  EXPECT_FALSE(wakes.WaitFor(after + 1, 50ms)) << "woke after Stop()";
  ::close(fd);

  // A long period does not delay Stop(): the stop fd wakes the thread.
  const auto start = std::chrono::steady_clock::now();
  {
    EventPump idle({}, 3600s, [] {});
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

}  // namespace
}  // namespace lmc::l2
