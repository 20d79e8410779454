// AsyncSerdeProcessor (serde.md §2): a pool of `max_workers` threads running
// submitted batches of one serde. A batch is one job: its objects are
// transformed in order and the first failure fails the whole task (objects
// already transformed are not rolled back, as in LMCache). Task ids come
// from one counter shared by both directions.
//
// Completion is observable three ways: the future returned by Submit*; the
// direction's eventfd (distinct for serialise and deserialise; one 8-byte
// count added per completed task, so poll() it and read() it to clear); and
// Query*Result, consume-once as LMCache's: true/false once, then nullopt
// (nullopt too for an unknown or unfinished id).
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/job_pool.h"
#include "serde/serde.h"

namespace lmc::serde {

struct SerializeItem {
  const Layout* layout = nullptr;
  std::span<const std::byte> src;
  std::span<std::byte> dst;
  const ObjectKey* key = nullptr;
  std::size_t* used_size = nullptr;  // set to the blob's exact size on success (LMCache's set_used_size)
};

struct DeserializeItem {
  std::span<const std::byte> blob;
  const Layout* layout = nullptr;
  std::span<std::byte> dst;
  const ObjectKey* key = nullptr;
};

class AsyncSerdeProcessor {
 public:
  using TaskId = std::uint64_t;
  struct Submitted {
    TaskId id = 0;
    std::shared_future<bool> done;
  };

  AsyncSerdeProcessor(std::shared_ptr<const Serializer> serializer, std::shared_ptr<const Deserializer> deserializer,
                      unsigned max_workers);
  ~AsyncSerdeProcessor();
  AsyncSerdeProcessor(const AsyncSerdeProcessor&) = delete;
  AsyncSerdeProcessor& operator=(const AsyncSerdeProcessor&) = delete;

  // The items' buffers must stay valid until the task completes. After
  // Close() a submit completes at once as failed.
  [[nodiscard]] Submitted SubmitSerialize(std::vector<SerializeItem> batch);
  [[nodiscard]] Submitted SubmitDeserialize(std::vector<DeserializeItem> batch);
  [[nodiscard]] std::optional<bool> QuerySerializeResult(TaskId id);
  [[nodiscard]] std::optional<bool> QueryDeserializeResult(TaskId id);
  // -1 after Close().
  int serialize_event_fd() const {
    std::lock_guard lock(mu_);
    return serialize_fd_;
  }
  int deserialize_event_fd() const {
    std::lock_guard lock(mu_);
    return deserialize_fd_;
  }
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
    return serializer_->EstimateSerializedSize(layout, error);
  }
  // Runs the queued and running batches to the end, stops the threads and
  // closes the fds. Idempotent and safe to call from several threads; each
  // caller returns once all of that is done.
  void Close();

 private:
  Submitted Submit(std::function<bool()> run, bool serialize);
  void Finish(bool serialize, TaskId id, std::promise<bool>& promise, bool ok);
  // The result of `id` in `done`, removed (consume-once).
  [[nodiscard]] std::optional<bool> Consume(std::map<TaskId, bool>& done, TaskId id);

  std::shared_ptr<const Serializer> serializer_;
  std::shared_ptr<const Deserializer> deserializer_;
  int serialize_fd_ = -1;
  int deserialize_fd_ = -1;
  mutable std::mutex mu_;
  std::map<TaskId, bool> serialize_done_, deserialize_done_;
  TaskId next_id_ = 0;
  base::JobPool pool_;  // last: its threads stop before the rest is destroyed
};

}  // namespace lmc::serde
