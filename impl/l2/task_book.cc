#include "l2/task_book.h"

#include <utility>

#include "base/check.h"

namespace lmc::l2 {

TaskBook::TaskBook(runtime::Env& env) : store_(env.MakeSignal()), lookup_(env.MakeSignal()), load_(env.MakeSignal()) {}

TaskId TaskBook::NextId() {
  std::lock_guard lock(mu_);
  return next_id_++;
}

void TaskBook::CompleteStore(TaskId id, bool ok) {
  {
    std::lock_guard lock(mu_);
    LMC_CHECK(stores_.try_emplace(id, ok).second, "store task ", id, " completed twice");
  }
  store_->Raise();
}

std::map<TaskId, bool> TaskBook::PopStores() {
  std::lock_guard lock(mu_);
  return std::exchange(stores_, {});
}

namespace {

template <typename T>
void Put(base::Mutex& mu, std::map<TaskId, T>& done, TaskId id, T value, runtime::Signal& signal) {
  {
    std::lock_guard lock(mu);
    LMC_CHECK(done.try_emplace(id, std::move(value)).second, "task ", id, " completed twice");
  }
  signal.Raise();
}

template <typename T>
std::optional<T> Take(base::Mutex& mu, std::map<TaskId, T>& done, TaskId id) {
  std::lock_guard lock(mu);
  auto node = done.extract(id);
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

}  // namespace

void TaskBook::CompleteLookup(TaskId id, Bitmap found) { Put(mu_, lookups_, id, std::move(found), *lookup_); }
std::optional<Bitmap> TaskBook::TakeLookup(TaskId id) { return Take(mu_, lookups_, id); }
void TaskBook::CompleteLoad(TaskId id, LoadResult result) { Put(mu_, loads_, id, std::move(result), *load_); }
std::optional<LoadResult> TaskBook::TakeLoad(TaskId id) { return Take(mu_, loads_, id); }

}  // namespace lmc::l2
