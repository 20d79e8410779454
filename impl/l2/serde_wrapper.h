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
// Where the work runs (no thread, wait or poll of its own):
// - a store serialises as one job on the Env's workers, then hands the
//   blobs to the inner adapter; the inner store's completion completes the
//   wrapped one (at most `drivers` stores at once, from serialisation to
//   that completion);
// - a load reserves its temps on the caller's thread and submits the inner
//   load; the inner load's completion (on the inner adapter's worker)
//   deserialises there and completes the wrapped load. A load thus costs no
//   hand-off beyond the inner adapter's own.
// Every step is bounded by the layers below: the serde runs to the end on
// bounded input, and the inner adapters' operations have deadlines (file
// system calls; the lm:// client's call timeout).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "l2/adapter.h"
#include "l2/task_book.h"
#include "l2/temp_pool.h"
#include "runtime/task_group.h"
#include "serde/async_processor.h"
#include "serde/registry.h"

namespace lmc::l2 {

struct WrapperOptions {
  std::size_t temp_budget_bytes = std::size_t{1} << 30;
  // Wrapped stores in flight at once, from serialisation to the inner
  // store's completion (loads are bounded by the inner adapter's workers).
  unsigned drivers = 2;
};

class SerdeL2Wrapper final : public L2Adapter {
 public:
  SerdeL2Wrapper(runtime::Env& env, std::shared_ptr<L2Adapter> inner, const serde::SerdeInstance& serde,
                 WrapperOptions options);
  ~SerdeL2Wrapper() override;
  SerdeL2Wrapper(const SerdeL2Wrapper&) = delete;
  SerdeL2Wrapper& operator=(const SerdeL2Wrapper&) = delete;

  void StoreThen(std::vector<StoreItem> items, StoreDone done) override;
  void LoadThen(std::vector<LoadItem> items, LoadDone done) override;
  [[nodiscard]] TaskId SubmitStore(std::vector<StoreItem> items) override {
    return book_.SubmitStore(*this, std::move(items));
  }
  [[nodiscard]] std::map<TaskId, bool> PopCompletedStores() override { return book_.PopStores(); }
  [[nodiscard]] TaskId SubmitLookupAndLock(std::vector<ObjectKey> keys) override {
    return inner_->SubmitLookupAndLock(std::move(keys));
  }
  [[nodiscard]] std::optional<Bitmap> QueryLookupAndLock(TaskId id) override { return inner_->QueryLookupAndLock(id); }
  void SubmitUnlock(std::vector<ObjectKey> keys) override { inner_->SubmitUnlock(std::move(keys)); }
  [[nodiscard]] TaskId SubmitLoad(std::vector<LoadItem> items) override {
    return book_.SubmitLoad(*this, std::move(items));
  }
  [[nodiscard]] std::optional<LoadResult> QueryLoad(TaskId id) override { return book_.TakeLoad(id); }
  void SubmitDelete(std::vector<ObjectKey> keys) override { inner_->SubmitDelete(std::move(keys)); }
  int store_event_fd() const override { return book_.store_fd(); }
  int lookup_event_fd() const override { return inner_->lookup_event_fd(); }
  int load_event_fd() const override { return book_.load_fd(); }
  AdapterStatus ReportStatus() const override;
  void ListThen(ListDone done) override { inner_->ListThen(std::move(done)); }
  void Close() override;

  // The temp buffers (tests assert none is outstanding between batches).
  const TempPool& temps() const { return *temps_; }

 private:
  struct LoadJob;
  template <typename Item>
  std::optional<std::vector<TempPool::Buffer>> ReserveTemps(const std::vector<Item>& items);
  // Serialises on a driver, then stores through the inner adapter.
  void RunStore(std::vector<StoreItem> items, StoreDone done);
  // The inner load's result, deserialised into the caller's buffers.
  LoadResult FinishLoad(const LoadJob& job, LoadResult inner) const;

  std::shared_ptr<L2Adapter> inner_;
  std::shared_ptr<const serde::Serializer> serializer_;
  std::shared_ptr<const serde::Deserializer> deserializer_;
  bool fixed_size_;
  std::string serde_type_;
  std::shared_ptr<TempPool> temps_;
  TaskBook book_;
  std::once_flag closed_;
  runtime::TaskGroup drivers_;  // last: its jobs finish before the rest is destroyed
};

}  // namespace lmc::l2
