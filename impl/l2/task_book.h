// What every asynchronous adapter keeps: task ids, consume-once results and
// the three event fds (one count added per completed task). The threads that
// run the tasks are a base::JobPool.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/job_pool.h"
#include "l2/adapter.h"

namespace lmc::l2 {

class TaskBook {
 public:
  TaskBook();  // throws std::runtime_error if eventfds cannot be made (start-up)
  ~TaskBook();
  TaskBook(const TaskBook&) = delete;
  TaskBook& operator=(const TaskBook&) = delete;

  [[nodiscard]] TaskId NextId();
  void CompleteStore(TaskId id, bool ok);
  [[nodiscard]] std::map<TaskId, bool> PopStores();
  void CompleteLookup(TaskId id, Bitmap found);
  [[nodiscard]] std::optional<Bitmap> TakeLookup(TaskId id);
  void CompleteLoad(TaskId id, LoadResult result);
  [[nodiscard]] std::optional<LoadResult> TakeLoad(TaskId id);

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

// A thread that waits on a set of eventfds, clears the ones that fired and
// calls `on_wake`, and calls it at least every `period` anyway (a safety net:
// callers never rely on a wake-up alone). How the serde wrapper and the
// server's tiers turn adapter fds into condition-variable wake-ups.
class EventPump {
 public:
  EventPump(std::vector<int> fds, std::chrono::milliseconds period, std::function<void()> on_wake);
  ~EventPump() { Stop(); }
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;
  // Joins the thread; idempotent (not safe from two threads at once).
  void Stop();

 private:
  void Run(const std::vector<int>& fds, std::chrono::milliseconds period, const std::function<void()>& on_wake);
  int stop_fd_;
  std::thread thread_;
};

[[nodiscard]] int NewEventFd();  // throws std::runtime_error on failure (start-up)
void SignalEventFd(int fd);
void DrainEventFd(int fd);

}  // namespace lmc::l2
