#include "l2/backend_adapter.h"

#include "base/check.h"

namespace lmc::l2 {

using runtime::Env;

BackendAdapter::BackendAdapter(Env& env, std::unique_ptr<Backend> backend, unsigned workers)
    : backend_(std::move(backend)), book_(env), jobs_(env, workers) {}

void BackendAdapter::StoreThen(std::vector<StoreItem> items, StoreDone done) {
  LMC_CHECK(done != nullptr, "a store with no one to tell");
  jobs_.Run([this, items = std::move(items), done = std::move(done)](bool closing) {
    bool ok = !closing;
    // Key by key; a failure fails the task but the other keys are still
    // written (serde.md §6.3, store step 3).
    if (!closing)
      for (const StoreItem& item : items) ok = backend_->Store(item.key, item.bytes) && ok;
    done(ok);
  });
}

void BackendAdapter::ListThen(ListDone done) {
  LMC_CHECK(done != nullptr, "a listing with no one to tell");
  jobs_.Run([this, done = std::move(done)](bool closing) {
    if (closing) return done(std::nullopt);
    done(backend_->List());
  });
}

void BackendAdapter::LoadThen(std::vector<LoadItem> items, LoadDone done) {
  LMC_CHECK(done != nullptr, "a load with no one to tell");
  jobs_.Run(
      [this, items = std::move(items), done = std::move(done)](bool closing) {
        LoadResult r{Bitmap(items.size(), false), std::vector<std::size_t>(items.size(), 0)};
        if (!closing)
          for (std::size_t i = 0; i < items.size(); ++i) {
            const std::optional<std::size_t> n = backend_->Load(items[i].key, items[i].dst);
            LMC_CHECK(!n || *n <= items[i].dst.size(), backend_->type(), " loaded ", *n, " bytes into ",
                      items[i].dst.size());
            if (n && (!items[i].exact || *n == items[i].dst.size())) {
              r.loaded[i] = true;
              r.sizes[i] = *n;
            }
          }
        done(std::move(r));
      },
      Env::Priority::kUrgent);
}

TaskId BackendAdapter::SubmitLookupAndLock(std::vector<ObjectKey> keys) {
  const TaskId id = book_.NextId();
  jobs_.Run(
      [this, id, keys = std::move(keys)](bool closing) {
        Bitmap found(keys.size(), false);
        if (!closing)
          for (std::size_t i = 0; i < keys.size(); ++i) found[i] = backend_->Exists(keys[i]);
        book_.CompleteLookup(id, std::move(found));
      },
      Env::Priority::kUrgent);
  return id;
}

void BackendAdapter::SubmitDelete(std::vector<ObjectKey> keys) {
  jobs_.Run([this, keys = std::move(keys)](bool closing) {
    if (!closing)
      for (const ObjectKey& k : keys) backend_->Delete(k);
  });
}

AdapterStatus BackendAdapter::ReportStatus() const {
  return {!jobs_.closing() && backend_->Healthy(), backend_->type(), backend_->Detail()};
}

void BackendAdapter::Close() {
  std::call_once(closed_, [this] {
    jobs_.Close();  // runs what is queued, then waits for the running jobs
    backend_->Close();
  });
}

}  // namespace lmc::l2
