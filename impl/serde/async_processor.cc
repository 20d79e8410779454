#include "serde/async_processor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

namespace lmc::serde {

AsyncSerdeProcessor::AsyncSerdeProcessor(std::shared_ptr<const Serializer> serializer,
                                         std::shared_ptr<const Deserializer> deserializer, unsigned max_workers)
    : serializer_(std::move(serializer)), deserializer_(std::move(deserializer)) {
  serialize_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  deserialize_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (unsigned i = 0; i < std::max(1u, max_workers); ++i) workers_.emplace_back([this] { Worker(); });
}

AsyncSerdeProcessor::~AsyncSerdeProcessor() { Close(); }

AsyncSerdeProcessor::Submitted AsyncSerdeProcessor::SubmitSerialize(std::vector<SerializeItem> batch) {
  auto serializer = serializer_;
  return Submit(
      [serializer, batch = std::move(batch)] {
        for (const SerializeItem& item : batch) {
          std::size_t written = 0;
          if (item.layout == nullptr ||
              serializer->Serialize(*item.layout, item.src, item.dst, item.key, &written) != SerdeError::kOk) {
            return false;  // the first failure fails the task
          }
          if (item.used_size != nullptr) *item.used_size = written;
        }
        return true;
      },
      true);
}

AsyncSerdeProcessor::Submitted AsyncSerdeProcessor::SubmitDeserialize(std::vector<DeserializeItem> batch) {
  auto deserializer = deserializer_;
  return Submit(
      [deserializer, batch = std::move(batch)] {
        for (const DeserializeItem& item : batch) {
          if (item.layout == nullptr ||
              deserializer->Deserialize(item.blob, *item.layout, item.dst, item.key) != SerdeError::kOk) {
            return false;
          }
        }
        return true;
      },
      false);
}

AsyncSerdeProcessor::Submitted AsyncSerdeProcessor::Submit(std::function<bool()> run, bool serialize) {
  Job job{std::move(run), serialize, 0, std::make_shared<std::promise<bool>>()};
  Submitted s;
  s.done = job.promise->get_future().share();
  bool closed = false;
  {
    std::lock_guard lock(mu_);
    job.id = s.id = next_id_++;
    closed = closing_;
    if (!closed) queue_.push_back(job);
  }
  if (closed) {
    Finish(job, false);
  } else {
    cv_.notify_one();
  }
  return s;
}

void AsyncSerdeProcessor::Worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and nothing left to run
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    bool ok = false;
    try {
      ok = job.run();
    } catch (...) {  // a serde must not throw; if one does, the task fails
      ok = false;
    }
    Finish(job, ok);
  }
}

void AsyncSerdeProcessor::Finish(const Job& job, bool ok) {
  {
    // The result and the signal under the lock, so Close() never closes the
    // fd between them (an eventfd write never blocks: EFD_NONBLOCK).
    std::lock_guard lock(mu_);
    (job.serialize ? serialize_done_ : deserialize_done_)[job.id] = ok;
    const int fd = job.serialize ? serialize_fd_ : deserialize_fd_;
    const std::uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof one) != sizeof one) std::fprintf(stderr, "serde: cannot signal completion\n");
  }
  job.promise->set_value(ok);
}

std::optional<bool> AsyncSerdeProcessor::Consume(std::map<TaskId, bool>& done, TaskId id) {
  std::lock_guard lock(mu_);
  const auto it = done.find(id);
  if (it == done.end()) return std::nullopt;
  const bool ok = it->second;
  done.erase(it);
  return ok;
}

std::optional<bool> AsyncSerdeProcessor::QuerySerializeResult(TaskId id) { return Consume(serialize_done_, id); }
std::optional<bool> AsyncSerdeProcessor::QueryDeserializeResult(TaskId id) { return Consume(deserialize_done_, id); }

void AsyncSerdeProcessor::Close() {
  // The first caller takes the threads; a concurrent or later Close() (or the
  // destructor) finds none to join.
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (auto& w : workers) w.join();
  if (workers.empty()) return;
  std::lock_guard lock(mu_);
  for (int* fd : {&serialize_fd_, &deserialize_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

}  // namespace lmc::serde
