#include "l2/task_book.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <utility>

namespace lmc::l2 {

int NewEventFd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::runtime_error("eventfd failed");
  return fd;
}

void SignalEventFd(int fd) {
  const std::uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

void DrainEventFd(int fd) {
  std::uint64_t count;
  (void)!::read(fd, &count, sizeof count);
}

bool WaitEventFd(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  DrainEventFd(fd);
  return true;
}

EventPump::EventPump(std::vector<int> fds, std::chrono::milliseconds period, std::function<void()> on_wake)
    : stop_fd_(NewEventFd()),
      thread_([this, fds = std::move(fds), period, on_wake = std::move(on_wake)] { Run(fds, period, on_wake); }) {}

void EventPump::Run(const std::vector<int>& fds, std::chrono::milliseconds period,
                    const std::function<void()>& on_wake) {
  std::vector<pollfd> polled;
  polled.reserve(fds.size() + 1);
  for (int fd : fds) polled.push_back({fd, POLLIN, 0});
  polled.push_back({stop_fd_, POLLIN, 0});
  for (;;) {
    const int r = ::poll(polled.data(), polled.size(), static_cast<int>(period.count()));
    if (r < 0 && errno != EINTR) return;
    if (polled.back().revents) return;
    for (std::size_t i = 0; i + 1 < polled.size(); ++i)
      if (polled[i].revents) DrainEventFd(polled[i].fd);
    on_wake();
  }
}

void EventPump::Stop() {
  if (!thread_.joinable()) return;
  SignalEventFd(stop_fd_);
  thread_.join();
  ::close(stop_fd_);
}

TaskBook::TaskBook() {
  store_fd_ = NewEventFd();
  lookup_fd_ = NewEventFd();
  load_fd_ = NewEventFd();
}

TaskBook::~TaskBook() {
  for (int fd : {store_fd_, lookup_fd_, load_fd_}) ::close(fd);
}

TaskId TaskBook::NextId() {
  std::lock_guard lock(mu_);
  return next_id_++;
}

void TaskBook::CompleteStore(TaskId id, bool ok) {
  {
    std::lock_guard lock(mu_);
    stores_[id] = ok;
  }
  SignalEventFd(store_fd_);
}

std::map<TaskId, bool> TaskBook::PopStores() {
  std::lock_guard lock(mu_);
  return std::exchange(stores_, {});
}

namespace {

template <typename T>
void Put(std::mutex& mu, std::map<TaskId, T>& done, TaskId id, T value, int fd) {
  {
    std::lock_guard lock(mu);
    done[id] = std::move(value);
  }
  SignalEventFd(fd);
}

template <typename T>
std::optional<T> Take(std::mutex& mu, std::map<TaskId, T>& done, TaskId id) {
  std::lock_guard lock(mu);
  auto node = done.extract(id);
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

}  // namespace

void TaskBook::CompleteLookup(TaskId id, Bitmap found) { Put(mu_, lookups_, id, std::move(found), lookup_fd_); }
std::optional<Bitmap> TaskBook::TakeLookup(TaskId id) { return Take(mu_, lookups_, id); }
void TaskBook::CompleteLoad(TaskId id, LoadResult result) { Put(mu_, loads_, id, std::move(result), load_fd_); }
std::optional<LoadResult> TaskBook::TakeLoad(TaskId id) { return Take(mu_, loads_, id); }

}  // namespace lmc::l2
