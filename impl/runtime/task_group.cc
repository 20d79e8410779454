#include "runtime/task_group.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "base/check.h"

namespace lmc::runtime {

TaskGroup::TaskGroup(Env& env, unsigned limit) : env_(env), limit_(std::max(1u, limit)) { env_.ReserveWorkers(limit_); }

std::vector<TaskGroup::Started> TaskGroup::TakeStartableLocked() {
  std::vector<Started> start;
  LMC_CHECK(running_ <= limit_, "more jobs running (", running_, ") than the group's limit (", limit_, ")");
  while (running_ < limit_ && (!urgent_.empty() || !queue_.empty())) {
    const bool urgent = !urgent_.empty();
    std::deque<HeldJob>& from = urgent ? urgent_ : queue_;
    start.push_back({std::move(from.front()), urgent ? Env::Priority::kUrgent : Env::Priority::kNormal});
    from.pop_front();
    ++running_;
  }
  return start;
}

void TaskGroup::Launch(std::vector<Started> jobs) {
  for (Started& s : jobs)
    env_.Offload(
        [this, job = std::move(s.job)](bool closing) {
          // Released exactly once (task_group.h): a second call would free
          // a slot some other job holds.
          auto released = std::make_shared<std::atomic<bool>>(false);
          job(closing, [this, released] {
            LMC_CHECK(!released->exchange(true), "a held job's release called twice");
            OnJobDone();
          });
        },
        s.priority);
}

void TaskGroup::Run(Job job, Env::Priority priority) {
  RunHeld(
      [job = std::move(job)](bool closing, const Release& release) {
        job(closing);
        release();
      },
      priority);
}

void TaskGroup::RunHeld(HeldJob job, Env::Priority priority) {
  std::vector<Started> start;
  {
    std::unique_lock lock(mu_);
    if (closing_) {
      lock.unlock();
      job(true, [] {});
      return;
    }
    (priority == Env::Priority::kUrgent ? urgent_ : queue_).push_back(std::move(job));
    start = TakeStartableLocked();
  }
  Launch(std::move(start));
}

void TaskGroup::OnJobDone() {
  std::vector<Started> start;
  {
    std::lock_guard lock(mu_);
    LMC_CHECK(running_ > 0, "a job of the group ended, but none was running");
    --running_;
    start = TakeStartableLocked();
    if (running_ == 0 && closing_) drained_.NotifyAllLocked();
  }
  Launch(std::move(start));
}

void TaskGroup::Close() {
  std::unique_lock lock(mu_);
  closing_ = true;
  if (running_ == 0) return;  // nothing queued either: queued jobs imply running ones
  // No deadline of its own: each job is bounded by the layers below it.
  (void)drained_.Wait(env_, lock, Clock::time_point::max());
}

bool TaskGroup::closing() const {
  std::lock_guard lock(mu_);
  return closing_;
}

}  // namespace lmc::runtime
