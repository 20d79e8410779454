#include "l2/serde_wrapper.h"

#include <chrono>
#include <utility>

namespace lmc::l2 {
namespace {
constexpr auto kSafetyPoll = std::chrono::milliseconds(500);
}  // namespace

SerdeL2Wrapper::SerdeL2Wrapper(std::shared_ptr<L2Adapter> inner, const serde::SerdeInstance& serde,
                               WrapperOptions options)
    : inner_(std::move(inner)),
      processor_(serde.serializer, serde.deserializer, serde.max_workers),
      fixed_size_(serde.serializer->FixedSize()),
      serde_type_(serde.type),
      temps_(TempPool::Create(options.temp_budget_bytes)),
      pump_({inner_->store_event_fd(), inner_->load_event_fd()}, kSafetyPoll, [this] { OnInnerEvent(); }),
      drivers_(options.drivers) {}

SerdeL2Wrapper::~SerdeL2Wrapper() { Close(); }

// The pump turns the inner adapter's fds into condition-variable wake-ups.
// A waiter never depends on it alone: it registers its id, then queries the
// inner adapter itself, and re-checks every kSafetyPoll. A completion that
// lands before the registration is found by the waiter's own query; one that
// lands after it signals the fd, and the pump sees the registered id.
void SerdeL2Wrapper::OnInnerEvent() {
  std::lock_guard lock(mu_);
  PopInnerStores();
  for (const TaskId id : waiting_loads_) {
    if (inner_loads_.count(id)) continue;
    if (std::optional<LoadResult> res = inner_->QueryLoad(id)) inner_loads_.emplace(id, std::move(*res));
  }
  inner_cv_.notify_all();
}

void SerdeL2Wrapper::PopInnerStores() {
  for (auto& [id, ok] : inner_->PopCompletedStores()) inner_stores_[id] = ok;
}

bool SerdeL2Wrapper::WaitInnerStore(TaskId inner_id) {
  std::unique_lock lock(mu_);
  for (;;) {
    PopInnerStores();
    if (auto it = inner_stores_.find(inner_id); it != inner_stores_.end()) {
      const bool ok = it->second;
      inner_stores_.erase(it);
      return ok;
    }
    inner_cv_.wait_for(lock, kSafetyPoll, [&] { return inner_stores_.count(inner_id) != 0; });
  }
}

LoadResult SerdeL2Wrapper::WaitInnerLoad(TaskId inner_id) {
  std::unique_lock lock(mu_);
  waiting_loads_.insert(inner_id);
  for (;;) {
    if (auto it = inner_loads_.find(inner_id); it != inner_loads_.end()) {
      LoadResult r = std::move(it->second);
      inner_loads_.erase(it);
      waiting_loads_.erase(inner_id);
      return r;
    }
    if (std::optional<LoadResult> r = inner_->QueryLoad(inner_id)) {
      waiting_loads_.erase(inner_id);
      return std::move(*r);
    }
    inner_cv_.wait_for(lock, kSafetyPoll, [&] { return inner_loads_.count(inner_id) != 0; });
  }
}

// One temp per object, sized by that object's own layout (LMCache sizes the
// whole batch by the first object's: quirk 11); all or nothing.
template <typename Item>
std::optional<std::vector<TempPool::Buffer>> SerdeL2Wrapper::ReserveTemps(const std::vector<Item>& items) {
  std::vector<std::size_t> sizes;
  sizes.reserve(items.size());
  for (const Item& item : items) {
    if (item.layout == nullptr) return std::nullopt;
    serde::SerdeError error = serde::SerdeError::kOk;
    const std::uint64_t estimate = processor_.EstimateSerializedSize(*item.layout, &error);
    if (error != serde::SerdeError::kOk || estimate > SIZE_MAX) return std::nullopt;
    sizes.push_back(static_cast<std::size_t>(estimate));
  }
  return temps_->ReserveBatch(sizes);
}

bool SerdeL2Wrapper::RunStore(const std::vector<StoreItem>& items) {
  std::optional<std::vector<TempPool::Buffer>> temps = ReserveTemps(items);
  if (!temps) return false;  // §5.3 step 1: nothing reserved is kept
  std::vector<std::size_t> used(items.size(), 0);
  std::vector<serde::SerializeItem> batch;
  batch.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    batch.push_back({items[i].layout, items[i].bytes, (*temps)[i].data(), &items[i].key, &used[i]});
  const serde::AsyncSerdeProcessor::Submitted s = processor_.SubmitSerialize(std::move(batch));
  const bool serialized = s.done.get();
  (void)processor_.QuerySerializeResult(s.id);  // consume-once: drop the record
  if (!serialized) return false;                // §5.3 step 3: no inner store
  std::vector<StoreItem> blobs;
  blobs.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    blobs.push_back({items[i].key, (*temps)[i].data().first(used[i]), items[i].layout});
  return WaitInnerStore(inner_->SubmitStore(std::move(blobs)));
  // The temps go back here, after the inner store completed (§5.3 step 5).
}

LoadResult SerdeL2Wrapper::RunLoad(const std::vector<LoadItem>& items) {
  const std::size_t n = items.size();
  LoadResult none{Bitmap(n, false), std::vector<std::size_t>(n, 0)};
  std::optional<std::vector<TempPool::Buffer>> temps = ReserveTemps(items);
  if (!temps) return none;  // §5.4 step 1
  std::vector<LoadItem> reads;
  reads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) reads.push_back({items[i].key, (*temps)[i].data(), items[i].layout, fixed_size_});
  LoadResult inner = WaitInnerLoad(inner_->SubmitLoad(std::move(reads)));
  if (inner.loaded.size() != n || inner.sizes.size() != n) return none;
  std::vector<serde::DeserializeItem> batch;
  for (std::size_t i = 0; i < n; ++i) {
    if (!inner.loaded[i]) continue;
    if (inner.sizes[i] > (*temps)[i].data().size()) return none;  // an adapter that broke its contract
    batch.push_back({(*temps)[i].data().first(inner.sizes[i]), items[i].layout, items[i].dst, &items[i].key});
  }
  if (batch.empty()) return inner;  // §5.4 step 3: the inner (all-zero) bitmap
  const serde::AsyncSerdeProcessor::Submitted s = processor_.SubmitDeserialize(std::move(batch));
  const bool ok = s.done.get();
  (void)processor_.QueryDeserializeResult(s.id);
  if (!ok) return none;  // §5.4 step 4: any object failing zeroes the batch
  for (std::size_t i = 0; i < n; ++i)
    inner.sizes[i] = inner.loaded[i] ? static_cast<std::size_t>(serde::LayoutBytes(*items[i].layout).value_or(0)) : 0;
  return inner;  // per-key inner misses stay visible
}

TaskId SerdeL2Wrapper::SubmitStore(std::vector<StoreItem> items) {
  const TaskId id = book_.NextId();
  drivers_.Enqueue(
      [this, id, items = std::move(items)](bool closing) { book_.CompleteStore(id, !closing && RunStore(items)); });
  return id;
}

TaskId SerdeL2Wrapper::SubmitLoad(std::vector<LoadItem> items) {
  const TaskId id = book_.NextId();
  drivers_.Enqueue(
      [this, id, items = std::move(items)](bool closing) {
        book_.CompleteLoad(id, closing
                                   ? LoadResult{Bitmap(items.size(), false), std::vector<std::size_t>(items.size(), 0)}
                                   : RunLoad(items));
      },
      /*urgent=*/true);
  return id;
}

AdapterStatus SerdeL2Wrapper::ReportStatus() const {
  AdapterStatus s = inner_->ReportStatus();
  s.type = "serde(" + serde_type_ + ")+" + s.type;
  return s;
}

// §5.6, with one difference: queued and running tasks finish first (their
// temps go back on their own paths), then the inner adapter and the serde
// processor close.
void SerdeL2Wrapper::Close() {
  std::call_once(closed_, [this] {
    drivers_.Close();  // queued tasks run to the end
    pump_.Stop();
    inner_->Close();
    processor_.Close();
  });
}

}  // namespace lmc::l2
