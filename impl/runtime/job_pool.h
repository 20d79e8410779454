// ProcessEnv's workers (Env::Offload): threads running queued jobs in
// order of submission, urgent ones first (a GET waiting on an L2 load must
// not queue behind a backlog of eviction writes). Close() runs what is queued, then joins; after it, a job runs at
// once on the caller's thread with closing = true, so every job runs
// exactly once and can complete its task as failed.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lmc::runtime {

class JobPool {
 public:
  using Job = std::function<void(bool closing)>;
  explicit JobPool(unsigned threads);  // at least one
  ~JobPool() { Close(); }
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  void Enqueue(Job job, bool urgent = false);
  // Starts `n` more threads (none once closing).
  void AddThreads(unsigned n);
  // Runs what is queued, joins the threads, and returns only once they are
  // joined, from every caller: a concurrent Close() waits for the one that
  // stops the threads. True for that one call, false for the others. Never
  // called from a job (it would wait for itself). Not [[nodiscard]]: a
  // caller that only needs the pool stopped (the destructor) has no use for
  // the answer.
  bool Close();
  bool closing() const;

 private:
  void Run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_, urgent_;
  bool closing_ = false;
  bool joined_ = false;  // the threads are joined (Close() done)
  std::condition_variable joined_cv_;
  std::vector<std::thread> threads_;
};

}  // namespace lmc::runtime
