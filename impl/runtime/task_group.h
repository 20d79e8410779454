// One component's share of the Env's workers: at most `limit` of its jobs
// run at once (an adapter's num_workers, a serde's max_workers), and the
// Env holds that many workers for it (Env::ReserveWorkers), so a group
// whose jobs all block never starves another. Jobs are queued in
// submission order with urgent ones first, and a Close() that runs what is
// queued and waits until none is running. After Close() a job runs at once
// on the caller's thread with closing = true, so every job runs exactly once
// and can complete its task as failed.
//
// No thread of its own: the jobs run through Env::Offload, and Close()
// waits on an Env Waiter, so a simulated Env runs it unchanged.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "base/mutex.h"
#include "runtime/env.h"
#include "runtime/wait_list.h"

namespace lmc::runtime {

class TaskGroup {
 public:
  using Job = Env::Job;
  TaskGroup(Env& env, unsigned limit);  // limit: at least 1
  ~TaskGroup() { Close(); }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void Run(Job job, Env::Priority priority = Env::Priority::kNormal);
  // A job whose slot stays taken after it returns, until it calls `release`
  // (exactly once, from any thread): for work that ends in a callback (a
  // wrapped store ends when the inner store completes). After Close() it
  // runs at once, closing, with a `release` that does nothing.
  using Release = std::function<void()>;
  using HeldJob = std::function<void(bool closing, Release release)>;
  void RunHeld(HeldJob job, Env::Priority priority = Env::Priority::kNormal);
  // Runs what is queued, then returns once no job of the group is running,
  // from every caller. Never called from a job of this group (it would wait
  // for itself). Idempotent.
  void Close();
  bool closing() const;
  Env& env() const { return env_; }

 private:
  struct Started {
    HeldJob job;
    Env::Priority priority;
  };
  // Takes the queued jobs that may start now (fewer than limit_ running).
  std::vector<Started> TakeStartableLocked();
  // Hands them to the env, outside the lock: an env that is shutting down
  // runs a job at once, and the job's end takes the lock again.
  void Launch(std::vector<Started> jobs);
  void OnJobDone();

  Env& env_;
  const unsigned limit_;
  mutable base::Mutex mu_;
  std::deque<HeldJob> queue_, urgent_;
  unsigned running_ = 0;
  bool closing_ = false;
  WaitList drained_;  // Close() callers waiting for running_ == 0
};

}  // namespace lmc::runtime
