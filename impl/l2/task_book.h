// What every adapter keeps for LMCache's edge contract: task ids,
// consume-once results and the three pollable signals (one count added per
// completed task). Built on the adapters' callbacks: a task's completion
// callback records its result here.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "base/mutex.h"
#include "l2/adapter.h"
#include "runtime/env.h"

namespace lmc::l2 {

class TaskBook {
 public:
  explicit TaskBook(runtime::Env& env);  // throws std::runtime_error if signals cannot be made (start-up)
  TaskBook(const TaskBook&) = delete;
  TaskBook& operator=(const TaskBook&) = delete;

  [[nodiscard]] TaskId NextId();
  void CompleteStore(TaskId id, bool ok);
  [[nodiscard]] std::map<TaskId, bool> PopStores();
  void CompleteLookup(TaskId id, Bitmap found);
  [[nodiscard]] std::optional<Bitmap> TakeLookup(TaskId id);
  void CompleteLoad(TaskId id, LoadResult result);
  [[nodiscard]] std::optional<LoadResult> TakeLoad(TaskId id);

  // The edge's submits, built on an adapter's callbacks: a new id whose
  // result lands here.
  [[nodiscard]] TaskId SubmitStore(L2Adapter& adapter, std::vector<StoreItem> items) {
    const TaskId id = NextId();
    adapter.StoreThen(std::move(items), StoreRecorder(id));
    return id;
  }
  [[nodiscard]] TaskId SubmitLoad(L2Adapter& adapter, std::vector<LoadItem> items) {
    const TaskId id = NextId();
    adapter.LoadThen(std::move(items), LoadRecorder(id));
    return id;
  }
  // Completion callbacks that record task `id` here.
  [[nodiscard]] L2Adapter::StoreDone StoreRecorder(TaskId id) {
    return [this, id](bool ok) { CompleteStore(id, ok); };
  }
  [[nodiscard]] L2Adapter::LoadDone LoadRecorder(TaskId id) {
    return [this, id](LoadResult r) { CompleteLoad(id, std::move(r)); };
  }

  int store_fd() const { return store_->fd(); }
  int lookup_fd() const { return lookup_->fd(); }
  int load_fd() const { return load_->fd(); }

 private:
  std::unique_ptr<runtime::Signal> store_, lookup_, load_;
  base::Mutex mu_;
  TaskId next_id_ = 0;
  std::map<TaskId, bool> stores_;
  std::map<TaskId, Bitmap> lookups_;
  std::map<TaskId, LoadResult> loads_;
};

}  // namespace lmc::l2
