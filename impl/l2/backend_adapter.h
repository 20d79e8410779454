// Most adapters are a synchronous storage back end (a folder, a map, an
// lm:// server) behind the asynchronous L2Adapter interface. BackendAdapter
// is that interface once: each submitted batch runs key by key against a
// Backend as one job on the Env's workers (at most `workers` at once: its
// TaskGroup), and completes through its callback, or, at the edge, into
// the consume-once results and the three signals.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "l2/adapter.h"
#include "l2/task_book.h"
#include "runtime/task_group.h"

namespace lmc::l2 {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string type() const = 0;
  // Stores `bytes` under `key` (an existing object is kept: LMCache's fs
  // adapter never overwrites). false on failure.
  [[nodiscard]] virtual bool Store(const ObjectKey& key, std::span<const std::byte> bytes) = 0;
  virtual bool Exists(const ObjectKey& key) = 0;
  // Reads the object into `dst` and returns its size; nullopt if it is
  // missing, unreadable or larger than `dst`.
  [[nodiscard]] virtual std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) = 0;
  virtual void Delete(const ObjectKey& key) = 0;
  // Every key held, for the tier's restart scan; nullopt if the back end
  // cannot list.
  virtual std::optional<std::vector<ObjectKey>> List() { return std::nullopt; }
  virtual bool Healthy() const { return true; }
  virtual std::string Detail() const { return {}; }
  // Called once, after the last operation.
  virtual void Close() {}
};

class BackendAdapter final : public L2Adapter {
 public:
  BackendAdapter(runtime::Env& env, std::unique_ptr<Backend> backend, unsigned workers);
  ~BackendAdapter() override { Close(); }
  BackendAdapter(const BackendAdapter&) = delete;
  BackendAdapter& operator=(const BackendAdapter&) = delete;

  void StoreThen(std::vector<StoreItem> items, StoreDone done) override;
  void LoadThen(std::vector<LoadItem> items, LoadDone done) override;
  [[nodiscard]] TaskId SubmitStore(std::vector<StoreItem> items) override {
    return book_.SubmitStore(*this, std::move(items));
  }
  [[nodiscard]] std::map<TaskId, bool> PopCompletedStores() override { return book_.PopStores(); }
  [[nodiscard]] TaskId SubmitLookupAndLock(std::vector<ObjectKey> keys) override;
  [[nodiscard]] std::optional<Bitmap> QueryLookupAndLock(TaskId id) override { return book_.TakeLookup(id); }
  // The back ends hold no locks (nothing evicts them): a no-op.
  void SubmitUnlock(std::vector<ObjectKey> /*keys*/) override {}
  [[nodiscard]] TaskId SubmitLoad(std::vector<LoadItem> items) override {
    return book_.SubmitLoad(*this, std::move(items));
  }
  [[nodiscard]] std::optional<LoadResult> QueryLoad(TaskId id) override { return book_.TakeLoad(id); }
  void SubmitDelete(std::vector<ObjectKey> keys) override;
  int store_event_fd() const override { return book_.store_fd(); }
  int lookup_event_fd() const override { return book_.lookup_fd(); }
  int load_event_fd() const override { return book_.load_fd(); }
  AdapterStatus ReportStatus() const override;
  void ListThen(ListDone done) override;
  void Close() override;

 private:
  std::unique_ptr<Backend> backend_;
  TaskBook book_;
  std::once_flag closed_;
  runtime::TaskGroup jobs_;  // last: its jobs finish before the rest is destroyed
};

}  // namespace lmc::l2
