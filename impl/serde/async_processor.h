// AsyncSerdeProcessor (serde.md §2): batches of one serde run as jobs on the
// Env's workers, at most `max_workers` at once (its TaskGroup). A batch is
// one job: its objects are transformed in order and the first failure fails
// the whole task (objects already transformed are not rolled back, as in
// LMCache). Task ids come from one counter shared by both directions.
//
// Completion is observable three ways: the callback given to Submit* (run
// on the worker that ran the batch, or at once on the caller's thread after
// Close()); the direction's signal (an eventfd in production: distinct for
// serialise and deserialise, one 8-byte count added per completed task, so
// poll() it and read() it to clear); and Query*Result, consume-once as
// LMCache's: true/false once, then nullopt (nullopt too for an unknown or
// unfinished id). The signals and queries are LMCache's edge contract; the
// kit's own callers use the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/mutex.h"
#include "runtime/env.h"
#include "runtime/task_group.h"
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

// One batch, in order, on the calling thread: false at the first object
// that fails (or has no layout). Never throws: a serde that throws fails.
[[nodiscard]] bool SerializeBatch(const Serializer& serializer, std::span<const SerializeItem> batch);
[[nodiscard]] bool DeserializeBatch(const Deserializer& deserializer, std::span<const DeserializeItem> batch);

class AsyncSerdeProcessor {
 public:
  using TaskId = std::uint64_t;
  using Done = std::function<void(bool ok)>;

  AsyncSerdeProcessor(runtime::Env& env, std::shared_ptr<const Serializer> serializer,
                      std::shared_ptr<const Deserializer> deserializer, unsigned max_workers);
  ~AsyncSerdeProcessor();
  AsyncSerdeProcessor(const AsyncSerdeProcessor&) = delete;
  AsyncSerdeProcessor& operator=(const AsyncSerdeProcessor&) = delete;

  // The items' buffers must stay valid until the task completes. After
  // Close() a submit completes at once as failed. `done` (optional) must not
  // block.
  [[nodiscard]] TaskId SubmitSerialize(std::vector<SerializeItem> batch, Done done = {});
  [[nodiscard]] TaskId SubmitDeserialize(std::vector<DeserializeItem> batch, Done done = {});
  [[nodiscard]] std::optional<bool> QuerySerializeResult(TaskId id);
  [[nodiscard]] std::optional<bool> QueryDeserializeResult(TaskId id);
  // -1 after Close().
  int serialize_event_fd() const {
    std::lock_guard lock(mu_);
    return serialize_signal_ ? serialize_signal_->fd() : -1;
  }
  int deserialize_event_fd() const {
    std::lock_guard lock(mu_);
    return deserialize_signal_ ? deserialize_signal_->fd() : -1;
  }
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
    return serializer_->EstimateSerializedSize(layout, error);
  }
  // Runs the queued and running batches to the end and closes the signals.
  // Idempotent and safe to call from several threads; each caller returns
  // once all of that is done. Never from a completion callback.
  void Close();

 private:
  TaskId Submit(std::function<bool()> run, bool serialize, Done done);
  void Finish(bool serialize, TaskId id, bool ok);
  // The result of `id` in `done`, removed (consume-once).
  [[nodiscard]] std::optional<bool> Consume(std::map<TaskId, bool>& done, TaskId id);

  std::shared_ptr<const Serializer> serializer_;
  std::shared_ptr<const Deserializer> deserializer_;
  mutable base::Mutex mu_;
  std::unique_ptr<runtime::Signal> serialize_signal_, deserialize_signal_;
  std::map<TaskId, bool> serialize_done_, deserialize_done_;
  TaskId next_id_ = 0;
  runtime::TaskGroup jobs_;  // last: its jobs finish before the rest is destroyed
};

}  // namespace lmc::serde
