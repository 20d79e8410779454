// SerdeL2Wrapper: a serde in front of any L2 adapter, with LMCache's batch
// semantics (serde.md §5). A wrapped store serialises every object into a
// counted temp buffer, then hands the blobs to the inner adapter under the
// original keys; a wrapped load reads the blobs into temps, then
// deserialises the loaded ones into the caller's buffers.
//
// The unit of failure is the wrapped submit (§5.5): a temp reservation, any
// object's serialisation or deserialisation, or the inner submit failing
// fails the whole batch (store: false, nothing reaches L2 if serialisation
// failed; load: all zeros). Per-key inner load misses stay per key. Temps
// are released on every path; nothing is ever deleted from L2.
//
// Lookup, unlock and delete pass straight through (lookup returns the inner
// adapter's fd and does not validate payloads). Its own task ids and its own
// store and load fds.
//
// Every wait here is bounded by the layers below: the serde runs to the end
// on bounded input, and the inner adapters' operations have deadlines (file
// system calls; the lm:// client's call timeout).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "l2/adapter.h"
#include "l2/task_book.h"
#include "l2/temp_pool.h"
#include "serde/async_processor.h"
#include "serde/registry.h"

namespace lmc::l2 {

struct WrapperOptions {
  std::size_t temp_budget_bytes = std::size_t{1} << 30;
  unsigned drivers = 2;  // wrapped tasks in flight at once
};

class SerdeL2Wrapper final : public L2Adapter {
 public:
  SerdeL2Wrapper(std::shared_ptr<L2Adapter> inner, const serde::SerdeInstance& serde, WrapperOptions options);
  ~SerdeL2Wrapper() override;
  SerdeL2Wrapper(const SerdeL2Wrapper&) = delete;
  SerdeL2Wrapper& operator=(const SerdeL2Wrapper&) = delete;

  [[nodiscard]] TaskId SubmitStore(std::vector<StoreItem> items) override;
  [[nodiscard]] std::map<TaskId, bool> PopCompletedStores() override { return book_.PopStores(); }
  [[nodiscard]] TaskId SubmitLookupAndLock(std::vector<ObjectKey> keys) override {
    return inner_->SubmitLookupAndLock(std::move(keys));
  }
  [[nodiscard]] std::optional<Bitmap> QueryLookupAndLock(TaskId id) override { return inner_->QueryLookupAndLock(id); }
  void SubmitUnlock(std::vector<ObjectKey> keys) override { inner_->SubmitUnlock(std::move(keys)); }
  [[nodiscard]] TaskId SubmitLoad(std::vector<LoadItem> items) override;
  [[nodiscard]] std::optional<LoadResult> QueryLoad(TaskId id) override { return book_.TakeLoad(id); }
  void SubmitDelete(std::vector<ObjectKey> keys) override { inner_->SubmitDelete(std::move(keys)); }
  int store_event_fd() const override { return book_.store_fd(); }
  int lookup_event_fd() const override { return inner_->lookup_event_fd(); }
  int load_event_fd() const override { return book_.load_fd(); }
  AdapterStatus ReportStatus() const override;
  void Close() override;

  // The temp buffers (tests assert none is outstanding between batches).
  const TempPool& temps() const { return *temps_; }

 private:
  template <typename Item>
  std::optional<std::vector<TempPool::Buffer>> ReserveTemps(const std::vector<Item>& items);
  [[nodiscard]] bool RunStore(const std::vector<StoreItem>& items);
  LoadResult RunLoad(const std::vector<LoadItem>& items);
  // Wait for an inner task, whoever pops its completion (the pump thread or
  // this caller): see the .cc for why no wake-up is lost.
  [[nodiscard]] bool WaitInnerStore(TaskId inner_id);
  LoadResult WaitInnerLoad(TaskId inner_id);
  void OnInnerEvent();    // the pump's wake-up: collect inner completions
  void PopInnerStores();  // with mu_ held

  std::shared_ptr<L2Adapter> inner_;
  serde::AsyncSerdeProcessor processor_;
  bool fixed_size_;
  std::string serde_type_;
  std::shared_ptr<TempPool> temps_;
  TaskBook book_;

  std::mutex mu_;
  std::condition_variable inner_cv_;  // inner completions
  std::map<TaskId, bool> inner_stores_;
  std::map<TaskId, LoadResult> inner_loads_;
  std::set<TaskId> waiting_loads_;  // inner load ids a driver waits for
  std::once_flag closed_;
  EventPump pump_;
  base::JobPool drivers_;  // last: its threads stop before the rest is destroyed
};

}  // namespace lmc::l2
