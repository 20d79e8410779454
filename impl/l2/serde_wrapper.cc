#include "l2/serde_wrapper.h"

#include "base/check.h"
#include "base/plant.h"

#include <algorithm>
#include <utility>

namespace lmc::l2 {

SerdeL2Wrapper::SerdeL2Wrapper(runtime::Env& env, std::shared_ptr<L2Adapter> inner, const serde::SerdeInstance& serde,
                               WrapperOptions options)
    : inner_(std::move(inner)),
      serializer_(serde.serializer),
      deserializer_(serde.deserializer),
      fixed_size_(serde.serializer->FixedSize()),
      serde_type_(serde.type),
      temps_(TempPool::Create(options.temp_budget_bytes)),
      book_(env),
      drivers_(env, options.drivers) {}

SerdeL2Wrapper::~SerdeL2Wrapper() { Close(); }

// One temp per object, sized by that object's own layout (LMCache sizes the
// whole batch by the first object's: quirk 11); all or nothing.
template <typename Item>
std::optional<std::vector<TempPool::Buffer>> SerdeL2Wrapper::ReserveTemps(const std::vector<Item>& items) {
  std::vector<std::size_t> sizes;
  sizes.reserve(items.size());
  for (const Item& item : items) {
    if (item.layout == nullptr) return std::nullopt;
    serde::SerdeError error = serde::SerdeError::kOk;
    const std::uint64_t estimate = serializer_->EstimateSerializedSize(*item.layout, &error);
    if (error != serde::SerdeError::kOk || estimate > SIZE_MAX) return std::nullopt;
    sizes.push_back(static_cast<std::size_t>(estimate));
  }
  return temps_->ReserveBatch(sizes);
}

void SerdeL2Wrapper::RunStore(std::vector<StoreItem> items, StoreDone done) {
  std::optional<std::vector<TempPool::Buffer>> temps = ReserveTemps(items);
  if (!temps) return done(false);  // §5.3 step 1: nothing reserved is kept
  std::vector<std::size_t> used(items.size(), 0);
  std::vector<serde::SerializeItem> batch;
  batch.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    batch.push_back({items[i].layout, items[i].bytes, (*temps)[i].data(), &items[i].key, &used[i]});
  if (!serde::SerializeBatch(*serializer_, batch)) {
    temps.reset();       // back to the pool before the caller hears of the failure
    return done(false);  // §5.3 step 3: no inner store
  }
  std::vector<StoreItem> blobs;
  blobs.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    LMC_CHECK(used[i] <= (*temps)[i].data().size(), serde_type_, " serialised ", used[i], " bytes into a ",
              (*temps)[i].data().size(), "-byte temp");
    blobs.push_back({items[i].key, (*temps)[i].data().first(used[i]), items[i].layout});
  }
  // The temps go back once the inner store completed (§5.3 step 5): the
  // callback holds them.
  auto held = std::make_shared<std::vector<TempPool::Buffer>>(std::move(*temps));
  inner_->StoreThen(std::move(blobs), [held = std::move(held), done = std::move(done)](bool ok) mutable {
    if (!ok && plant::Active(plant::Bug::kWrapperLeaksTempOnFailure)) plant::Keep(held);
    held.reset();
    done(ok);
  });
}

// A driver's slot is held until the inner store completed: at most
// `drivers` wrapped stores hold temps at once, and the rest wait unserialised
// (a slow inner adapter cannot fill the temp budget and starve the loads).
namespace {
// Items with no layout pass a serde wrapper unserialised (the tier's
// records): a batch of them only.
template <typename Item>
bool AllRaw(const std::vector<Item>& items) {
  return !items.empty() && std::all_of(items.begin(), items.end(), [](const Item& i) { return i.layout == nullptr; });
}
}  // namespace

void SerdeL2Wrapper::StoreThen(std::vector<StoreItem> items, StoreDone done) {
  if (AllRaw(items)) return inner_->StoreThen(std::move(items), std::move(done));
  drivers_.RunHeld([this, items = std::move(items), done = std::move(done)](
                       bool closing, runtime::TaskGroup::Release release) mutable {
    if (closing) {
      done(false);
      return release();
    }
    RunStore(std::move(items), [done = std::move(done), release = std::move(release)](bool ok) {
      done(ok);
      release();
    });
  });
}

struct SerdeL2Wrapper::LoadJob {
  std::vector<LoadItem> items;
  std::vector<TempPool::Buffer> temps;  // back to the pool when the job ends
};

LoadResult SerdeL2Wrapper::FinishLoad(const LoadJob& job, LoadResult inner) const {
  const std::vector<LoadItem>& items = job.items;
  const std::size_t n = items.size();
  LoadResult none{Bitmap(n, false), std::vector<std::size_t>(n, 0)};
  if (inner.loaded.size() != n || inner.sizes.size() != n) return none;
  std::vector<serde::DeserializeItem> batch;
  for (std::size_t i = 0; i < n; ++i) {
    if (!inner.loaded[i]) continue;
    if (inner.sizes[i] > job.temps[i].data().size()) return none;  // an adapter that broke its contract
    batch.push_back({job.temps[i].data().first(inner.sizes[i]), items[i].layout, items[i].dst, &items[i].key});
  }
  if (batch.empty()) return inner;                                   // §5.4 step 3: the inner (all-zero) bitmap
  if (!serde::DeserializeBatch(*deserializer_, batch)) return none;  // §5.4 step 4: any failure zeroes the batch
  for (std::size_t i = 0; i < n; ++i)
    inner.sizes[i] = inner.loaded[i] ? static_cast<std::size_t>(serde::LayoutBytes(*items[i].layout).value_or(0)) : 0;
  return inner;  // per-key inner misses stay visible
}

void SerdeL2Wrapper::LoadThen(std::vector<LoadItem> items, LoadDone done) {
  if (AllRaw(items)) return inner_->LoadThen(std::move(items), std::move(done));
  const std::size_t n = items.size();
  std::optional<std::vector<TempPool::Buffer>> temps;
  if (!drivers_.closing()) temps = ReserveTemps(items);
  if (!temps) return done(LoadResult{Bitmap(n, false), std::vector<std::size_t>(n, 0)});  // §5.4 step 1
  LMC_DCHECK(temps->size() == n, temps->size(), " temps for ", n, " items");
  auto job = std::make_shared<LoadJob>(LoadJob{std::move(items), std::move(*temps)});
  std::vector<LoadItem> reads;
  reads.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    reads.push_back({job->items[i].key, job->temps[i].data(), job->items[i].layout, fixed_size_});
  // Runs on the inner adapter's worker, which the wrapper outlives (Close()
  // closes the inner adapter, and that waits for its callbacks).
  inner_->LoadThen(std::move(reads), [this, job, done = std::move(done)](LoadResult inner) mutable {
    LoadResult r = FinishLoad(*job, std::move(inner));
    job.reset();  // the temps go back before the caller hears of it
    done(std::move(r));
  });
}

AdapterStatus SerdeL2Wrapper::ReportStatus() const {
  AdapterStatus s = inner_->ReportStatus();
  s.type = "serde(" + serde_type_ + ")+" + s.type;
  return s;
}

// §5.6, with one difference: queued and running tasks finish first (their
// temps go back on their own paths), then the inner adapter closes, which
// completes every inner task and so every wrapped one.
void SerdeL2Wrapper::Close() {
  std::call_once(closed_, [this] {
    drivers_.Close();  // queued stores serialise and reach the inner adapter
    inner_->Close();
  });
}

}  // namespace lmc::l2
