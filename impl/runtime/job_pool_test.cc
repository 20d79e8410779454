// runtime::JobPool: every job runs exactly once (on a pool thread before
// Close(), at once on the caller's thread with closing = true after), urgent
// jobs go first, each queue keeps submission order, Close() runs what is
// queued before it joins, and exactly one Close() reports that it stopped the
// threads. Jobs are held at a gate (a condition with a deadline, never a
// sleep) so the queue's contents at each step are known.
#include "runtime/job_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lmc::runtime {
namespace {

using namespace std::chrono_literals;

// A latch the test opens; waiters give up after 5 s (a failure, not a hang).
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// What the jobs did, in the order they did it.
class Log {
 public:
  void Add(std::string what) {
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(what));
    cv_.notify_all();
  }
  // Waits (at most 5 s) for `n` entries.
  bool WaitFor(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return entries_.size() >= n; });
  }
  std::vector<std::string> entries() {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> entries_;
};

TEST(JobPool, EveryJobRunsOnceOnAPoolThreadBeforeClose) {
  constexpr int kJobs = 1000;
  std::vector<std::atomic<int>> runs(kJobs);
  std::atomic<int> closing_runs{0}, on_caller{0};
  const auto caller = std::this_thread::get_id();
  {
    JobPool pool(3);
    for (int i = 0; i < kJobs; ++i) {
      pool.Enqueue(
          [&, i](bool closing) {
            runs[static_cast<std::size_t>(i)].fetch_add(1);
            if (closing) closing_runs.fetch_add(1);
            if (std::this_thread::get_id() == caller) on_caller.fetch_add(1);
          },
          i % 7 == 0);
    }
    EXPECT_TRUE(pool.Close());
  }
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(runs[static_cast<std::size_t>(i)].load(), 1) << "job " << i;
  EXPECT_EQ(closing_runs.load(), 0);
  EXPECT_EQ(on_caller.load(), 0);
}

TEST(JobPool, UrgentJobsGoFirstAndEachQueueKeepsItsOrder) {
  JobPool pool(1);
  Gate gate;
  Log log;
  pool.Enqueue([&](bool) {
    log.Add("first");
    gate.Wait();
  });
  ASSERT_TRUE(log.WaitFor(1));  // the one thread holds "first"; the rest queue
  for (const char* name : {"n1", "n2", "n3"}) pool.Enqueue([&log, name](bool) { log.Add(name); });
  pool.Enqueue([&log](bool) { log.Add("u1"); }, true);
  pool.Enqueue([&log](bool) { log.Add("n4"); });
  pool.Enqueue([&log](bool) { log.Add("u2"); }, true);
  gate.Open();
  ASSERT_TRUE(log.WaitFor(7));
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"first", "u1", "u2", "n1", "n2", "n3", "n4"}));
}

TEST(JobPool, CloseRunsWhatIsQueuedThenLaterJobsRunAtOnceAsClosing) {
  JobPool pool(1);
  Gate gate;
  Log log;
  pool.Enqueue([&](bool closing) {
    log.Add(closing ? "held closing" : "held");
    gate.Wait();
  });
  ASSERT_TRUE(log.WaitFor(1));
  for (int i = 0; i < 5; ++i) {
    pool.Enqueue([&log, i](bool closing) { log.Add((closing ? "closing " : "q") + std::to_string(i)); });
  }
  std::promise<bool> closed;
  std::thread closer([&] { closed.set_value(pool.Close()); });
  // Close() has begun (it waits for the held job): the pool says so, and a
  // job submitted now runs at once, here, told that the pool is closing.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pool.closing() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(pool.closing());
  const auto caller = std::this_thread::get_id();
  bool ran_here = false, told_closing = false;
  pool.Enqueue([&](bool closing) {
    ran_here = std::this_thread::get_id() == caller;
    told_closing = closing;
  });
  EXPECT_TRUE(ran_here);  // before Enqueue returned, on this thread
  EXPECT_TRUE(told_closing);
  gate.Open();
  auto result = closed.get_future();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(result.get());
  closer.join();
  // The queued jobs ran before Close() returned, as ordinary jobs.
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"held", "q0", "q1", "q2", "q3", "q4"}));
  told_closing = false;
  pool.Enqueue([&](bool closing) { told_closing = closing; });
  EXPECT_TRUE(told_closing);
  EXPECT_FALSE(pool.Close());  // already closed
}

TEST(JobPool, OneOfConcurrentClosesStopsTheThreads) {
  for (int round = 0; round < 20; ++round) {
    JobPool pool(2);
    std::atomic<int> stopped{0};
    std::vector<std::thread> closers;
    for (int i = 0; i < 4; ++i) closers.emplace_back([&] { stopped.fetch_add(pool.Close() ? 1 : 0); });
    for (std::thread& t : closers) t.join();
    EXPECT_EQ(stopped.load(), 1);
  }
}

TEST(JobPool, ASecondCloseWaitsUntilTheRunningJobsFinished) {
  JobPool pool(1);
  Gate gate;
  Log log;
  pool.Enqueue([&](bool) {
    log.Add("held");
    gate.Wait();
    log.Add("done");
  });
  ASSERT_TRUE(log.WaitFor(1));
  std::promise<bool> first, second;
  std::thread closer1([&] { first.set_value(pool.Close()); });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pool.closing() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(pool.closing());
  std::thread closer2([&] { second.set_value(pool.Close()); });
  // The held job still runs: neither Close() may have returned.
  auto f1 = first.get_future(), f2 = second.get_future();
  EXPECT_EQ(f2.wait_for(200ms), std::future_status::timeout);
  EXPECT_EQ(f1.wait_for(0ms), std::future_status::timeout);
  gate.Open();
  ASSERT_EQ(f1.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(5s), std::future_status::ready);
  EXPECT_NE(f1.get(), f2.get());  // exactly one of them stopped the threads
  closer1.join();
  closer2.join();
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"held", "done"}));
}

TEST(JobPool, TheDestructorRunsQueuedJobsAndZeroThreadsMeansOne) {
  std::atomic<int> runs{0};
  {
    JobPool pool(0);
    for (int i = 0; i < 10; ++i) pool.Enqueue([&](bool closing) { runs.fetch_add(closing ? 100 : 1); });
  }
  EXPECT_EQ(runs.load(), 10);
}

}  // namespace
}  // namespace lmc::runtime
