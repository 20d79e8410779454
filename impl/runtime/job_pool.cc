#include "runtime/job_pool.h"

#include <algorithm>

#include "base/check.h"
#include "base/mutex.h"

namespace lmc::runtime {

JobPool::JobPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { Run(); });
}

void JobPool::AddThreads(unsigned n) {
  std::lock_guard lock(mu_);
  if (closing_) return;
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
}

void JobPool::Enqueue(Job job, bool urgent) {
  LMC_CHECK(job != nullptr, "an empty job");
  {
    std::lock_guard lock(mu_);
    if (!closing_) {
      (urgent ? urgent_ : queue_).push_back(std::move(job));
      cv_.notify_one();
      return;
    }
  }
  job(true);
}

void JobPool::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty() || !urgent_.empty(); });
      std::deque<Job>& from = !urgent_.empty() ? urgent_ : queue_;
      if (from.empty()) return;
      job = std::move(from.front());
      from.pop_front();
    }
    job(false);
    LMC_CHECK(base::LocksHeld() == 0, "a job returned holding ", base::LocksHeld(), " lock(s)");
  }
}

bool JobPool::Close() {
  std::vector<std::thread> threads;
  {
    std::unique_lock lock(mu_);
    if (closing_) {
      joined_cv_.wait(lock, [&] { return joined_; });
      return false;
    }
    closing_ = true;
    threads.swap(threads_);
    // Joining from one of its own threads would wait for itself.
    LMC_CHECK(std::none_of(threads.begin(), threads.end(),
                           [](const std::thread& t) { return t.get_id() == std::this_thread::get_id(); }),
              "a job pool closed from one of its own jobs");
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
  {
    std::lock_guard lock(mu_);
    joined_ = true;
  }
  joined_cv_.notify_all();
  return true;
}

bool JobPool::closing() const {
  std::lock_guard lock(mu_);
  return closing_;
}

}  // namespace lmc::runtime
