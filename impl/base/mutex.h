// A std::mutex that counts, per thread, the locks the thread holds, so a
// wait can check the rule every blocking call in the kit keeps: no lock is
// held across a wait (a waiter holding one stalls every thread that needs
// it for as long as the wait lasts, and in the simulator deadlocks the
// world). runtime::Waiter implementations check it on entry:
//
//   LMC_CHECK(base::LocksHeld() == 0, ...);
//
// Counting costs one thread-local increment per lock and unlock. A mutex a
// condition variable waits on (inside a waiter, a job pool's queue) stays a
// plain std::mutex: the wait releases it.
#pragma once

#include <mutex>

namespace lmc::base {

namespace detail {
inline thread_local int t_locks_held = 0;
}  // namespace detail

// Locks of type Mutex the calling thread holds now.
inline int LocksHeld() { return detail::t_locks_held; }

class Mutex {
 public:
  void lock() {
    mu_.lock();
    ++detail::t_locks_held;
  }
  bool try_lock() {
    if (!mu_.try_lock()) return false;
    ++detail::t_locks_held;
    return true;
  }
  void unlock() {
    --detail::t_locks_held;
    mu_.unlock();
  }

 private:
  std::mutex mu_;
};

}  // namespace lmc::base
