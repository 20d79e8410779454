// Threads waiting for a condition that a component guards with its own
// mutex (a count of running jobs or pending writes reaching zero). A waiter
// registers under that mutex; the component notifies them all, under it,
// once the condition holds. Because the notifying happens under the mutex
// and a waiter takes the mutex again before it returns, a waiter may
// destroy the component right after.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "base/check.h"
#include "base/mutex.h"
#include "runtime/env.h"

namespace lmc::runtime {

class WaitList {
 public:
  // Called with `lock` held; waits for NotifyAllLocked() or `deadline` and
  // returns with `lock` held again. True if notified.
  [[nodiscard]] bool Wait(Env& env, std::unique_lock<base::Mutex>& lock, Clock::time_point deadline) {
    LMC_CHECK(lock.owns_lock(), "a wait list entered without its component's lock");
    const std::unique_ptr<Waiter> waiter = env.MakeWaiter();
    waiting_.push_back(waiter.get());
    lock.unlock();
    const bool notified = waiter->WaitUntil(deadline);
    lock.lock();
    // Timed out: still listed, unless a notification came meanwhile.
    if (const auto it = std::find(waiting_.begin(), waiting_.end(), waiter.get()); it != waiting_.end())
      waiting_.erase(it);
    return notified;
  }
  // With the component's mutex held.
  void NotifyAllLocked() {
    for (Waiter* w : waiting_) w->Notify();
    waiting_.clear();
  }

 private:
  std::vector<Waiter*> waiting_;
};

}  // namespace lmc::runtime
