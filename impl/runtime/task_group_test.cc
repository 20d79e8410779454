// TaskGroup: at most `limit` jobs of a group run at once, urgent ones
// first; Close() runs what is queued and returns only when none runs; a job
// after Close() runs at once, closing.
#include "runtime/task_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/process_env.h"

namespace lmc::runtime {
namespace {

using namespace std::chrono_literals;

// Opened by the test; a job held at it gives up after 5 s (a failure).
struct Gate {
  std::shared_ptr<Waiter> open;
  explicit Gate(Env& env) : open(env.MakeWaiter()) {}
  bool Pass(Env& env) const { return open->WaitUntil(env.Now() + 5s); }
};

TEST(TaskGroup, RunsAtMostLimitJobsAtOnce) {
  ProcessEnv env({8, 0});
  TaskGroup group(env, 2);
  Gate gate(env);
  std::atomic<int> running{0}, peak{0}, ran{0};
  for (int i = 0; i < 6; ++i)
    group.Run([&](bool closing) {
      ASSERT_FALSE(closing);
      const int now = ++running;
      for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
      }
      EXPECT_TRUE(gate.Pass(env));
      --running;
      ++ran;
    });
  env.SleepUntil(env.Now() + 50ms);  // time for a third job to start, if the limit were broken
  EXPECT_EQ(peak.load(), 2);
  gate.open->Notify();
  group.Close();
  EXPECT_EQ(ran.load(), 6);
  EXPECT_EQ(peak.load(), 2);
}

TEST(TaskGroup, UrgentJobsGoFirstAndEachQueueKeepsItsOrder) {
  ProcessEnv env({4, 0});
  TaskGroup group(env, 1);
  Gate gate(env);
  std::mutex mu;
  std::string order;
  group.Run([&](bool) { EXPECT_TRUE(gate.Pass(env)); });  // holds the only slot
  for (const char* tag : {"a", "b"})
    group.Run([&, tag](bool) {
      std::lock_guard lock(mu);
      order += tag;
    });
  for (const char* tag : {"X", "Y"})
    group.Run(
        [&, tag](bool) {
          std::lock_guard lock(mu);
          order += tag;
        },
        Env::Priority::kUrgent);
  gate.open->Notify();
  group.Close();
  EXPECT_EQ(order, "XYab");
}

TEST(TaskGroup, CloseRunsWhatIsQueuedThenLaterJobsRunAtOnceClosing) {
  ProcessEnv env({2, 0});
  TaskGroup group(env, 1);
  std::atomic<int> normal{0};
  for (int i = 0; i < 20; ++i)
    group.Run([&](bool closing) {
      if (!closing) ++normal;
    });
  group.Close();
  EXPECT_EQ(normal.load(), 20);
  bool ran_closing = false;
  group.Run([&](bool closing) { ran_closing = closing; });  // inline, on this thread
  EXPECT_TRUE(ran_closing);
  EXPECT_TRUE(group.closing());
}

TEST(TaskGroup, EveryConcurrentCloseWaitsForTheRunningJob) {
  ProcessEnv env({4, 0});
  TaskGroup group(env, 1);
  Gate gate(env);
  std::atomic<bool> finished{false};
  group.Run([&](bool) {
    EXPECT_TRUE(gate.Pass(env));
    finished = true;
  });
  std::atomic<int> returned_early{0};
  auto closer_done = std::shared_ptr<Waiter>(env.MakeWaiter());
  env.Offload(
      [&](bool) {
        group.Close();
        if (!finished) ++returned_early;
        closer_done->Notify();
      },
      Env::Priority::kNormal);
  env.SleepUntil(env.Now() + 20ms);
  gate.open->Notify();
  group.Close();
  if (!finished) ++returned_early;
  EXPECT_TRUE(closer_done->WaitUntil(env.Now() + 5s));
  EXPECT_EQ(returned_early.load(), 0);
}

// The contract "release exactly once" is checked, in every build: a second
// call would hand back a slot another job holds.
TEST(TaskGroupDeathTest, ReleasingAHeldJobTwiceIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        ProcessEnv env;
        TaskGroup group(env, 1);
        auto done = std::shared_ptr<Waiter>(env.MakeWaiter());
        group.RunHeld([&](bool, const TaskGroup::Release& release) {
          release();
          release();
          done->Notify();
        });
        (void)done->WaitUntil(env.Now() + 5s);
      },
      "check failed: task_group.cc:[0-9]+: .*a held job's release called twice");
}

TEST(TaskGroup, AHeldJobKeepsItsSlotUntilReleasedAndCloseWaitsForIt) {
  ProcessEnv env;
  TaskGroup group(env, 1);
  std::mutex mu;
  TaskGroup::Release held;
  group.RunHeld([&](bool closing, TaskGroup::Release release) {
    EXPECT_FALSE(closing);
    std::lock_guard lock(mu);
    held = std::move(release);  // returns with the slot still taken
  });
  std::atomic<bool> second{false};
  group.Run([&](bool) { second = true; });
  env.SleepUntil(env.Now() + 50ms);
  EXPECT_FALSE(second.load()) << "ran while the held job kept the only slot";
  std::atomic<bool> closed{false};
  auto closer_done = std::shared_ptr<Waiter>(env.MakeWaiter());
  std::thread closer([&] {
    group.Close();
    closed = true;
    closer_done->Notify();
  });
  env.SleepUntil(env.Now() + 50ms);
  EXPECT_FALSE(closed.load()) << "Close() returned while a held job was not released";
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(held);
    held();
  }
  EXPECT_TRUE(closer_done->WaitUntil(env.Now() + 5s));
  closer.join();
  EXPECT_TRUE(second.load()) << "the queued job runs once the slot is released";
  bool late_closing = false;
  group.RunHeld([&](bool closing, const TaskGroup::Release& release) {
    late_closing = closing;
    release();  // does nothing, and may be called
  });
  EXPECT_TRUE(late_closing);
}

}  // namespace
}  // namespace lmc::runtime
