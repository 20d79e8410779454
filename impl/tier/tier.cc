#include "tier/tier.h"

#include <mutex>

#include "base/mutex.h"
#include "wire/text.h"
#include "wire/wire_format.h"

namespace lmc::tier {
namespace {

constexpr auto kCloseWait = std::chrono::seconds(60);
constexpr auto kAnswerMargin = std::chrono::seconds(1);

}  // namespace

serde::Layout LayoutOf(const store::ObjectMeta& meta) {
  const std::int64_t length = meta.length < 0 ? 0 : meta.length;
  // The wire code's torch name, read as a serde dtype: "None" (a byte
  // buffer) and unknown codes give none.
  if (const std::optional<serde::DType> dtype = serde::ParseDType(wire::DtypeCodeName(meta.dtype))) {
    std::vector<std::int64_t> shape;
    for (std::int32_t d : meta.shape) {
      if (d <= 0) break;
      shape.push_back(d);
    }
    const std::optional<std::uint64_t> n = serde::NumElements(shape);
    if (!shape.empty() && n && *n * serde::DTypeBytes(*dtype) == static_cast<std::uint64_t>(length))
      return serde::Layout{{{std::move(shape), *dtype}}};
  }
  return serde::Layout{{{{length}, serde::DType::kUInt8}}};
}

std::shared_ptr<Tier> Tier::Create(runtime::Env& env, const std::shared_ptr<store::L1Store>& l1,
                                   std::vector<std::shared_ptr<l2::L2Adapter>> adapters, TierOptions options) {
  std::shared_ptr<Tier> tier(new Tier(env, l1, std::move(adapters), options));
  std::weak_ptr<WriteBack> weak = tier->write_back_;
  l1->SetEvictionListener([weak](const std::string& key, const store::L1Store::ObjectRef& object) {
    if (auto w = weak.lock()) w->OnEvict(key, object);
  });
  return tier;
}

Tier::Tier(runtime::Env& env, std::shared_ptr<store::L1Store> l1, std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
           TierOptions options)
    : env_(env),
      l1_(std::move(l1)),
      adapters_(std::move(adapters)),
      options_(options),
      index_(std::make_shared<Index>(adapters_)),
      write_back_(
          std::make_shared<WriteBack>(index_, adapters_, "r" + wire::ToHex(options.run_id), options.max_pending_bytes)),
      promotion_(env, *index_, l1_, adapters_, options.load_timeout, options.copy_workers) {}

TierStats Tier::Stats() const {
  TierStats s = index_->Stats();
  promotion_.AddStats(&s);
  return s;
}

Tier::~Tier() { Close(); }

store::L1Store::ObjectRef Tier::Fetch(const std::string& key) {
  struct Slot {
    base::Mutex mu;
    store::L1Store::ObjectRef object;
  };
  auto slot = std::make_shared<Slot>();
  std::shared_ptr<runtime::Waiter> answered = env_.MakeWaiter();
  FetchAsync(key, [slot, answered](store::L1Store::ObjectRef object) {
    {
      std::lock_guard lock(slot->mu);
      slot->object = std::move(object);
    }
    answered->Notify();
  });
  // The promotion answers within load_timeout; the margin covers its timer.
  if (!answered->WaitUntil(env_.Now() + options_.load_timeout + kAnswerMargin)) return nullptr;
  std::lock_guard lock(slot->mu);
  return std::move(slot->object);
}

void Tier::Close() {
  std::call_once(closed_, [this] {
    index_->Close();     // fetches from here on miss; evictions are dropped
    promotion_.Close();  // the copies back from staging finish
    // The writes in flight complete on the adapters' workers; each adapter
    // bounds its own.
    (void)index_->WaitForWrites(env_, env_.Now() + kCloseWait);
    for (const auto& a : adapters_) a->Close();  // answers every load in flight
  });
}

std::string FormatStats(const TierStats& s) {
  return "l2 evictions_seen " + std::to_string(s.evictions_seen) + " evictions_dropped " +
         std::to_string(s.evictions_dropped) + " stores_ok " + std::to_string(s.stores_ok) + " stores_failed " +
         std::to_string(s.stores_failed) + " hits " + std::to_string(s.l2_hits) + " load_failures " +
         std::to_string(s.l2_load_failures) + " loads_superseded " + std::to_string(s.l2_loads_superseded) +
         " indexed " + std::to_string(s.indexed) + " pending_bytes " + std::to_string(s.pending_bytes) + "\n";
}

}  // namespace lmc::tier
