#include "runtime/job_pool.h"

#include <algorithm>

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
