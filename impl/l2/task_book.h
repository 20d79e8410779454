// What every asynchronous adapter keeps: task ids, consume-once results,
// the three event fds (one count added per completed task), and a pool of
// threads that runs the tasks.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "l2/adapter.h"

namespace lmc::l2 {

class TaskBook {
 public:
  TaskBook();  // throws std::runtime_error if eventfds cannot be made (start-up)
  ~TaskBook();
  TaskBook(const TaskBook&) = delete;
  TaskBook& operator=(const TaskBook&) = delete;

  TaskId NextId();
  void CompleteStore(TaskId id, bool ok);
  std::map<TaskId, bool> PopStores();
  void CompleteLookup(TaskId id, Bitmap found);
  std::optional<Bitmap> TakeLookup(TaskId id);
  void CompleteLoad(TaskId id, LoadResult result);
  std::optional<LoadResult> TakeLoad(TaskId id);

  int store_fd() const { return store_fd_; }
  int lookup_fd() const { return lookup_fd_; }
  int load_fd() const { return load_fd_; }

 private:
  int store_fd_ = -1, lookup_fd_ = -1, load_fd_ = -1;
  std::mutex mu_;
  TaskId next_id_ = 0;
  std::map<TaskId, bool> stores_;
  std::map<TaskId, Bitmap> lookups_;
  std::map<TaskId, LoadResult> loads_;
};

// Threads running queued jobs in order of submission, urgent ones first (a
// GET waiting on a load must not queue behind a backlog of eviction
// writes). After Close() (which runs what is queued, then joins), a job runs
// at once with closing = true.
class JobPool {
 public:
  using Job = std::function<void(bool closing)>;
  explicit JobPool(unsigned threads);
  ~JobPool() { Close(); }
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;
  void Enqueue(Job job, bool urgent = false);
  void Close();
  bool closing() const;

 private:
  void Run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_, urgent_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

int NewEventFd();  // throws std::runtime_error on failure (start-up)
void SignalEventFd(int fd);
void DrainEventFd(int fd);

}  // namespace lmc::l2
