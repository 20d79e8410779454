#include "tier/tier.h"

#include <cstring>

#include <xxhash.h>

#include "l2/task_book.h"
#include "wire/text.h"
#include "wire/wire_format.h"

namespace lmc::tier {
namespace {

constexpr auto kSafetyPoll = std::chrono::milliseconds(500);
constexpr auto kCloseWait = std::chrono::seconds(60);

// Every adapter's store and load fds, for the pump.
std::vector<int> AdapterFds(const std::vector<std::shared_ptr<l2::L2Adapter>>& adapters) {
  std::vector<int> fds;
  for (const auto& a : adapters) {
    fds.push_back(a->store_event_fd());
    fds.push_back(a->load_event_fd());
  }
  return fds;
}

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

struct Tier::Entry {
  std::string key;
  l2::ObjectKey okey;
  store::ObjectMeta meta;
  serde::Layout layout;
  std::shared_ptr<l2::TempPool::Buffer> staged;  // a copy, while being written
  std::size_t writes_left = 0;
  std::uint64_t stored_mask = 0;  // adapters that hold it
  bool superseded = false;        // a newer value of the key was evicted
  // The L1 object last loaded from it. A weak reference, not an address:
  // once that object is gone (replaced by a PUT), its block may come back
  // under a newer value of the key, which must not pass for it.
  std::weak_ptr<const store::L1Store::Object> promoted;
};

std::shared_ptr<Tier> Tier::Create(const std::shared_ptr<store::L1Store>& l1,
                                   std::vector<std::shared_ptr<l2::L2Adapter>> adapters, TierOptions options) {
  std::shared_ptr<Tier> tier(new Tier(l1, std::move(adapters), options));
  std::weak_ptr<Tier> weak = tier;
  l1->SetEvictionListener([weak](const std::string& key, const store::L1Store::ObjectRef& object) {
    if (auto t = weak.lock()) t->OnEvict(key, object);
  });
  return tier;
}

Tier::Tier(std::shared_ptr<store::L1Store> l1, std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
           TierOptions options)
    : l1_(std::move(l1)),
      adapters_(std::move(adapters)),
      options_(options),
      run_salt_("r" + wire::ToHex(options.run_id)),
      staging_(l2::TempPool::Create(options.max_pending_bytes)),
      pump_(AdapterFds(adapters_), kSafetyPoll, [this] { OnAdapterEvent(); }),
      fetchers_(options.fetch_threads) {}

Tier::~Tier() { Close(); }

void Tier::SupersedeLocked(const std::string& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return;
  const std::shared_ptr<Entry>& old = it->second;
  old->superseded = true;
  if (old->writes_left == 0)
    for (std::size_t i = 0; i < adapters_.size(); ++i)
      if (old->stored_mask >> i & 1) adapters_[i]->SubmitDelete({old->okey});
  index_.erase(it);
}

void Tier::OnEvict(const std::string& key, const store::L1Store::ObjectRef& object) {
  {
    std::lock_guard lock(mu_);
    ++stats_.evictions_seen;
    if (const auto it = index_.find(key); it != index_.end()) {
      const Entry& old = *it->second;
      // The very object promoted from L2 and already written there: keep it.
      if (old.promoted.lock() == object && !old.staged && old.stored_mask != 0) return;
    }
    // From here on the older L2 copy (if any) is stale, whatever happens next.
    SupersedeLocked(key);
    if (closed_ || adapters_.empty() || adapters_.size() > 64) {
      ++stats_.evictions_dropped;
      return;
    }
  }
  // Copy out of L1 without the lock (L1 gets the room back when we return),
  // so EXIST and LIST on other I/O threads never wait for the copy.
  std::optional<std::vector<l2::TempPool::Buffer>> staged = staging_->ReserveBatch({object->data().size()});
  if (!staged) {
    std::lock_guard lock(mu_);
    ++stats_.evictions_dropped;
    return;
  }
  auto e = std::make_shared<Entry>();
  e->staged = std::make_shared<l2::TempPool::Buffer>(std::move((*staged)[0]));
  std::memcpy(e->staged->data().data(), object->data().data(), object->data().size());
  std::lock_guard lock(mu_);
  if (closed_) {
    ++stats_.evictions_dropped;
    return;
  }
  e->key = key;
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, h);
  e->okey.chunk_hash.assign(reinterpret_cast<const std::byte*>(canonical.digest),
                            reinterpret_cast<const std::byte*>(canonical.digest) + sizeof canonical.digest);
  e->okey.model_name = "lmcache-server";
  e->okey.cache_salt = run_salt_ + "-" + wire::ToHex(next_seq_++);
  e->meta = object->meta();
  e->layout = LayoutOf(e->meta);
  e->writes_left = adapters_.size();
  stats_.pending_bytes += object->data().size();
  SupersedeLocked(key);  // a racing eviction of the same key may have indexed meanwhile
  index_[key] = e;
  // Submitted under the lock: the pump cannot see a completion before the
  // task is in stores_in_flight_.
  for (std::size_t i = 0; i < adapters_.size(); ++i) {
    const l2::TaskId id = adapters_[i]->SubmitStore({{e->okey, e->staged->data(), &e->layout}});
    stores_in_flight_[{i, id}] = e;
  }
}

void Tier::OnStoreDone(std::size_t adapter, l2::TaskId id, bool ok) {
  auto node = stores_in_flight_.extract({adapter, id});
  if (node.empty()) return;
  const std::shared_ptr<Entry> e = std::move(node.mapped());
  if (ok) {
    e->stored_mask |= std::uint64_t{1} << adapter;
    ++stats_.stores_ok;
  } else {
    ++stats_.stores_failed;
  }
  if (--e->writes_left != 0) return;
  stats_.pending_bytes -= e->staged->data().size();
  e->staged.reset();  // the staging buffer goes back to the pool
  if (e->superseded) {
    for (std::size_t i = 0; i < adapters_.size(); ++i)
      if (e->stored_mask >> i & 1) adapters_[i]->SubmitDelete({e->okey});
  } else if (e->stored_mask == 0) {
    ++stats_.evictions_dropped;  // no adapter took it: the object is gone
    if (auto it = index_.find(e->key); it != index_.end() && it->second == e) index_.erase(it);
  }
}

void Tier::OnAdapterEvent() {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < adapters_.size(); ++i)
    for (const auto& [id, ok] : adapters_[i]->PopCompletedStores()) OnStoreDone(i, id, ok);
  // A load given up on by its GET: its reservation goes back once the
  // adapter is done writing into it.
  for (auto it = abandoned_loads_.begin(); it != abandoned_loads_.end();) {
    if (adapters_[it->first.first]->QueryLoad(it->first.second))
      it = abandoned_loads_.erase(it);
    else
      ++it;
  }
  ++generation_;
  cv_.notify_all();
}

store::L1Store::ObjectRef Tier::Promote(const std::string& key, const store::ObjectMeta& meta,
                                        std::span<const std::byte> bytes) {
  store::L1Store::Reservation res;
  if (l1_->Reserve(bytes.size(), &res) != store::L1Store::ReserveError::kOk) return nullptr;
  std::memcpy(res.data().data(), bytes.data(), bytes.size());
  return l1_->PublishIfAbsent(key, meta, std::move(res));
}

store::L1Store::ObjectRef Tier::Fetch(const std::string& key) {
  std::shared_ptr<Entry> e;
  std::shared_ptr<l2::TempPool::Buffer> staged;
  {
    std::lock_guard lock(mu_);
    const auto it = index_.find(key);
    if (it == index_.end() || closed_) return nullptr;
    e = it->second;
    staged = e->staged;
  }
  if (staged) {  // still being written: copy it back from staging
    store::L1Store::ObjectRef object = Promote(key, e->meta, staged->data());
    std::lock_guard lock(mu_);
    ++(object ? stats_.l2_hits : stats_.l2_load_failures);
    return object;
  }
  store::L1Store::Reservation res;
  if (l1_->Reserve(static_cast<std::size_t>(e->meta.length), &res) != store::L1Store::ReserveError::kOk) {
    std::lock_guard lock(mu_);
    ++stats_.l2_load_failures;
    return nullptr;
  }
  const auto deadline = std::chrono::steady_clock::now() + options_.load_timeout;
  for (std::size_t i = 0; i < adapters_.size(); ++i) {
    if (!(e->stored_mask >> i & 1)) continue;
    const l2::TaskId id = adapters_[i]->SubmitLoad({{e->okey, res.data(), &e->layout, true}});
    std::unique_lock lock(mu_);
    std::optional<l2::LoadResult> r;
    // QueryLoad runs under mu_ and the pump bumps generation_ under mu_ after
    // the adapter signals, so a completion is never missed.
    while (!(r = adapters_[i]->QueryLoad(id))) {
      const std::uint64_t g = generation_;
      if (!cv_.wait_until(lock, deadline, [&] { return generation_ != g; })) {
        abandoned_loads_.emplace(std::make_pair(i, id), std::make_pair(std::move(res), e));
        ++stats_.l2_load_failures;
        return nullptr;
      }
    }
    if (!r->loaded.empty() && r->loaded[0]) {
      const void* ours = res.data().data();
      lock.unlock();
      store::L1Store::ObjectRef object = l1_->PublishIfAbsent(key, e->meta, std::move(res));
      lock.lock();
      if (object->data().data() == ours) e->promoted = object;  // ours won (no PUT got there first)
      ++stats_.l2_hits;
      return object;
    }
  }
  std::lock_guard lock(mu_);
  ++stats_.l2_load_failures;
  return nullptr;
}

void Tier::FetchAsync(std::string key, std::function<void(store::L1Store::ObjectRef)> done) {
  fetchers_.Enqueue(
      [this, key = std::move(key), done = std::move(done)](bool closing) { done(closing ? nullptr : Fetch(key)); });
}

bool Tier::Contains(const std::string& key) {
  std::lock_guard lock(mu_);
  return index_.count(key) != 0;
}

std::vector<std::string> Tier::Keys() {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  keys.reserve(index_.size());
  for (const auto& [k, unused] : index_) keys.push_back(k);
  return keys;
}

TierStats Tier::Stats() const {
  std::lock_guard lock(mu_);
  TierStats s = stats_;
  s.indexed = index_.size();
  return s;
}

void Tier::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;  // fetches from here on answer a miss at once
  }
  fetchers_.Close();  // the fetches under way finish (each within load_timeout)
  {
    std::unique_lock lock(mu_);
    // The pump completes the writes in flight; the adapters bound each one.
    cv_.wait_for(lock, kCloseWait, [&] { return stores_in_flight_.empty(); });
  }
  pump_.Stop();
  for (const auto& a : adapters_) a->Close();
  std::lock_guard lock(mu_);
  abandoned_loads_.clear();  // the adapters are closed: nothing writes into them now
}

std::string FormatStats(const TierStats& s) {
  return "l2 evictions_seen " + std::to_string(s.evictions_seen) + " evictions_dropped " +
         std::to_string(s.evictions_dropped) + " stores_ok " + std::to_string(s.stores_ok) + " stores_failed " +
         std::to_string(s.stores_failed) + " hits " + std::to_string(s.l2_hits) + " load_failures " +
         std::to_string(s.l2_load_failures) + " indexed " + std::to_string(s.indexed) + " pending_bytes " +
         std::to_string(s.pending_bytes) + "\n";
}

}  // namespace lmc::tier
