#include "serde/async_processor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

namespace lmc::serde {

AsyncSerdeProcessor::AsyncSerdeProcessor(std::shared_ptr<const Serializer> serializer,
                                         std::shared_ptr<const Deserializer> deserializer, unsigned max_workers)
    : serializer_(std::move(serializer)),
      deserializer_(std::move(deserializer)),
      serialize_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      deserialize_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      pool_(max_workers) {}

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
  auto promise = std::make_shared<std::promise<bool>>();
  Submitted s;
  s.done = promise->get_future().share();
  {
    std::lock_guard lock(mu_);
    s.id = next_id_++;
  }
  // After Close() the pool runs this at once with closing = true: failed.
  pool_.Enqueue([this, run = std::move(run), serialize, id = s.id, promise](bool closing) {
    bool ok = false;
    if (!closing) {
      try {
        ok = run();
      } catch (...) {  // a serde must not throw; if one does, the task fails
        ok = false;
      }
    }
    Finish(serialize, id, *promise, ok);
  });
  return s;
}

void AsyncSerdeProcessor::Finish(bool serialize, TaskId id, std::promise<bool>& promise, bool ok) {
  {
    // The result and the signal under the lock, so Close() never closes the
    // fd between them (an eventfd write never blocks: EFD_NONBLOCK).
    std::lock_guard lock(mu_);
    (serialize ? serialize_done_ : deserialize_done_)[id] = ok;
    const int fd = serialize ? serialize_fd_ : deserialize_fd_;
    const std::uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof one) != sizeof one) std::fprintf(stderr, "serde: cannot signal completion\n");
  }
  promise.set_value(ok);
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
  // Every caller returns after the queued and running batches finished (the
  // pool's Close() waits for the one that joins); the fds close once.
  pool_.Close();
  std::lock_guard lock(mu_);
  for (int* fd : {&serialize_fd_, &deserialize_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

}  // namespace lmc::serde
