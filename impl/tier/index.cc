#include "tier/index.h"

#include "tier/record.h"

#include <xxhash.h>

#include "base/check.h"
#include "base/plant.h"

namespace lmc::tier {
namespace {
std::uint64_t KeyHash(const std::string& key) { return XXH3_64bits(key.data(), key.size()) | 1; }  // never 0
}  // namespace

void Index::Delete(const Deletes& deletes) {
  // Outside the lock: a closed adapter runs even a delete at once. An entry
  // here has no write left, so its mask no longer changes.
  for (const std::shared_ptr<Entry>& e : deletes) {
    LMC_CHECK(e->writes_left == 0, "deleting the copies of '", e->key, "' with ", e->writes_left, " writes left");
    for (std::size_t i = 0; i < adapters_.size(); ++i)
      if (e->stored_mask >> i & 1) adapters_[i]->SubmitDelete({e->okey, RecordKeyOf(e->okey)});
  }
}

void Index::SupersedeLocked(const std::string& key, Deletes* deletes) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  const std::shared_ptr<Entry>& old = it->second;
  LMC_DCHECK(!old->superseded, "an indexed entry of '", key, "' was already superseded");
  old->superseded = true;
  if (old->writes_left == 0) deletes->push_back(old);  // else deleted when its writes finish
  entries_.erase(it);
}

bool Index::OnEviction(const std::string& key, const store::L1Store::ObjectRef& object) {
  Deletes deletes;
  {
    std::lock_guard lock(mu_);
    ++stats_.evictions_seen;
    if (!evicted_.empty()) {
      const std::uint64_t h = KeyHash(key);
      evicted_[h % evicted_.size()] = h;
    }
    if (recovering_) evicted_while_recovering_.insert(key);
    if (const auto it = entries_.find(key); it != entries_.end()) {
      const Entry& old = *it->second;
      // The very object promoted from L2 and already written there: keep it.
      if (old.promoted.lock() == object && !old.staged && old.stored_mask != 0) return false;
    }
    // From here on the older L2 copy (if any) is stale, whatever happens next.
    if (!plant::Active(plant::Bug::kTierServesOlderValue)) SupersedeLocked(key, &deletes);
  }
  Delete(deletes);
  return true;
}

bool Index::Insert(const std::shared_ptr<Entry>& e) {
  Deletes deletes;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    LMC_CHECK(e->staged != nullptr && e->writes_left == adapters_.size(), "indexing '", e->key, "' with ",
              e->writes_left, " writes for ", adapters_.size(), " adapters");
    SupersedeLocked(e->key, &deletes);  // a racing eviction of the same key may have indexed meanwhile
    entries_[e->key] = e;
    writes_pending_ += e->writes_left;
    stats_.pending_bytes += e->staged->data().size();
  }
  Delete(deletes);
  return true;
}

void Index::OnWriteDone(const std::shared_ptr<Entry>& e, std::size_t adapter, bool ok) {
  if (RecordWrite(e, adapter, ok)) Delete({e});
}

bool Index::RecordWrite(const std::shared_ptr<Entry>& e, std::size_t adapter, bool ok) {
  std::lock_guard lock(mu_);
  // Each adapter's write of an entry completes once.
  LMC_CHECK(adapter < adapters_.size() && e->writes_left > 0 && writes_pending_ > 0, "write of '", e->key,
            "' by adapter ", adapter, " done with ", e->writes_left, " left of it and ", writes_pending_, " in all");
  LMC_CHECK(!(e->stored_mask >> adapter & 1), "adapter ", adapter, " stored '", e->key, "' twice");
  if (ok) {
    e->stored_mask |= std::uint64_t{1} << adapter;
    ++stats_.stores_ok;
  } else {
    ++stats_.stores_failed;
  }
  if (--writes_pending_ == 0) idle_.NotifyAllLocked();
  if (--e->writes_left != 0) return false;
  LMC_CHECK(stats_.pending_bytes >= e->staged->data().size(), "pending bytes ", stats_.pending_bytes,
            " below the finished entry's ", e->staged->data().size());
  stats_.pending_bytes -= e->staged->data().size();
  e->staged.reset();               // the staging buffer goes back to the pool
  if (e->superseded) return true;  // a newer value came meanwhile: delete these copies
  if (e->stored_mask == 0) {
    ++stats_.evictions_dropped;  // no adapter took it: the object is gone
    if (auto it = entries_.find(e->key); it != entries_.end() && it->second == e) entries_.erase(it);
  }
  return false;
}

std::optional<Index::Found> Index::Find(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || closed_) return std::nullopt;
  return Found{it->second, it->second->staged, it->second->stored_mask};
}

bool Index::IsCurrent(const std::shared_ptr<const Entry>& e) {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(e->key);
  return !e->superseded && it != entries_.end() && it->second == e;
}

void Index::SetPromoted(const std::shared_ptr<const Entry>& e, const store::L1Store::ObjectRef& object) {
  LMC_DCHECK(object != nullptr, "promoting '", e->key, "' to nothing");
  std::lock_guard lock(mu_);
  // The entry is the index's own (Find hands it out const).
  std::const_pointer_cast<Entry>(e)->promoted = object;
}

void Index::KeepEvictedKeys(std::size_t slots) {
  std::lock_guard lock(mu_);
  evicted_.assign(slots, 0);
}

bool Index::EvictedHere(const std::string& key) {
  std::lock_guard lock(mu_);
  if (evicted_.empty() || plant::Active(plant::Bug::kSharedTierSkipsGuard)) return false;
  const std::uint64_t h = KeyHash(key);
  return evicted_[h % evicted_.size()] == h;
}

bool Index::Contains(const std::string& key) {
  std::lock_guard lock(mu_);
  return entries_.count(key) != 0;
}

std::vector<std::string> Index::Keys() {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const auto& [k, unused] : entries_) keys.push_back(k);
  return keys;
}

void Index::Count(std::uint64_t TierStats::*counter) {
  std::lock_guard lock(mu_);
  ++(stats_.*counter);
}

TierStats Index::Stats() const {
  std::lock_guard lock(mu_);
  TierStats s = stats_;
  s.indexed = entries_.size();
  s.recovering = recovering_;
  return s;
}

void Index::SetRecovering(bool on) {
  std::lock_guard lock(mu_);
  recovering_ = on;
  if (!on) {
    evicted_while_recovering_ = {};
    scan_waiters_.NotifyAllLocked();
  }
}

bool Index::recovering() const {
  std::lock_guard lock(mu_);
  return recovering_;
}

void Index::WaitRecovered(runtime::Env& env, runtime::Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (recovering_ && !closed_) (void)scan_waiters_.Wait(env, lock, deadline);
}

bool Index::Recover(const std::shared_ptr<Entry>& e) {
  LMC_CHECK(e->recovered && e->staged == nullptr && e->writes_left == 0 && e->stored_mask != 0, "recovering '", e->key,
            "' in the state of a write");
  std::lock_guard lock(mu_);
  if (closed_ || evicted_while_recovering_.count(e->key) != 0) return false;
  const auto it = entries_.find(e->key);
  if (it == entries_.end()) {
    ++stats_.recovered;
  } else if (!it->second->recovered || it->second->written_ns >= e->written_ns) {
    return false;  // this run's value, or a newer earlier one
  }
  entries_[e->key] = e;
  return true;
}

void Index::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  scan_waiters_.NotifyAllLocked();  // a GET waiting for the scan misses now
}

bool Index::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool Index::WaitForWrites(runtime::Env& env, runtime::Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return writes_pending_ == 0 || idle_.Wait(env, lock, deadline);
}

}  // namespace lmc::tier
