#include "serde/async_processor.h"

namespace lmc::serde {

bool SerializeBatch(const Serializer& serializer, std::span<const SerializeItem> batch) {
  for (const SerializeItem& item : batch) {
    std::size_t written = 0;
    try {
      if (item.layout == nullptr ||
          serializer.Serialize(*item.layout, item.src, item.dst, item.key, &written) != SerdeError::kOk)
        return false;  // the first failure fails the batch
    } catch (...) {    // a serde must not throw; if one does, the batch fails
      return false;
    }
    if (item.used_size != nullptr) *item.used_size = written;
  }
  return true;
}

bool DeserializeBatch(const Deserializer& deserializer, std::span<const DeserializeItem> batch) {
  for (const DeserializeItem& item : batch) {
    try {
      if (item.layout == nullptr ||
          deserializer.Deserialize(item.blob, *item.layout, item.dst, item.key) != SerdeError::kOk)
        return false;
    } catch (...) {
      return false;
    }
  }
  return true;
}

AsyncSerdeProcessor::AsyncSerdeProcessor(runtime::Env& env, std::shared_ptr<const Serializer> serializer,
                                         std::shared_ptr<const Deserializer> deserializer, unsigned max_workers)
    : serializer_(std::move(serializer)),
      deserializer_(std::move(deserializer)),
      serialize_signal_(env.MakeSignal()),
      deserialize_signal_(env.MakeSignal()),
      jobs_(env, max_workers) {}

AsyncSerdeProcessor::~AsyncSerdeProcessor() { Close(); }

AsyncSerdeProcessor::TaskId AsyncSerdeProcessor::SubmitSerialize(std::vector<SerializeItem> batch, Done done) {
  return Submit([serializer = serializer_, batch = std::move(batch)] { return SerializeBatch(*serializer, batch); },
                true, std::move(done));
}

AsyncSerdeProcessor::TaskId AsyncSerdeProcessor::SubmitDeserialize(std::vector<DeserializeItem> batch, Done done) {
  return Submit(
      [deserializer = deserializer_, batch = std::move(batch)] { return DeserializeBatch(*deserializer, batch); },
      false, std::move(done));
}

AsyncSerdeProcessor::TaskId AsyncSerdeProcessor::Submit(std::function<bool()> run, bool serialize, Done done) {
  TaskId id;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
  }
  // After Close() the group runs this at once with closing = true: failed.
  jobs_.Run([this, run = std::move(run), serialize, id, done = std::move(done)](bool closing) {
    const bool ok = !closing && run();
    Finish(serialize, id, ok);
    if (done) done(ok);
  });
  return id;
}

void AsyncSerdeProcessor::Finish(bool serialize, TaskId id, bool ok) {
  // The result and the signal under the lock, so Close() never closes the
  // signal between them (raising one never blocks).
  std::lock_guard lock(mu_);
  (serialize ? serialize_done_ : deserialize_done_)[id] = ok;
  if (const auto& signal = serialize ? serialize_signal_ : deserialize_signal_) signal->Raise();
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
  // group's Close() waits in every caller); the signals close once.
  jobs_.Close();
  std::lock_guard lock(mu_);
  serialize_signal_.reset();
  deserialize_signal_.reset();
}

}  // namespace lmc::serde
