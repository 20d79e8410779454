#include "store/l1_store.h"

#include <algorithm>

#include <cassert>
#include <unordered_set>

namespace lmc::store {

// The state objects and reservations outlive the store through: the arena
// and its lock. The index lives here too, under the same lock.
struct L1Store::Shared {
  explicit Shared(std::size_t capacity) : arena(capacity) {}

  void FreeLocked(Arena::Block b) {
    if (b.bytes != 0) arena.Free(b);
  }
  void Free(Arena::Block b) {
    std::lock_guard lock(mu);
    FreeLocked(b);
  }

  mutable std::mutex mu;
  Arena arena;
  // Index: key -> (object, position in the LRU list). Front = least recent.
  std::list<std::string> lru;
  struct Slot {
    ObjectRef object;
    std::list<std::string>::iterator lru_at;
  };
  std::unordered_map<std::string, Slot> index;
  // Keys evicted whose listener has not returned yet (a key may be in it
  // more than once): PublishIfAbsent refuses them, so a value loaded from
  // below cannot slip in before the listener has told the tier.
  std::unordered_multiset<std::string> evicting;
  StoreStats stats;
};

L1Store::Object::~Object() { shared_->Free(block_); }

L1Store::Reservation::Reservation(Reservation&& o) noexcept
    : shared_(std::move(o.shared_)), block_(o.block_), data_(o.data_), size_(o.size_) {
  o.shared_ = nullptr;
}

L1Store::Reservation& L1Store::Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    Release();
    shared_ = std::move(o.shared_);
    block_ = o.block_;
    data_ = o.data_;
    size_ = o.size_;
    o.shared_ = nullptr;
  }
  return *this;
}

L1Store::Reservation::~Reservation() { Release(); }

void L1Store::Reservation::Release() {
  if (shared_ != nullptr) shared_->Free(block_);
  shared_ = nullptr;
}

L1Store::L1Store(Options options) : shared_(std::make_shared<Shared>(options.capacity_bytes)), options_(options) {
  shared_->stats.capacity_bytes = shared_->arena.capacity_bytes();
}

L1Store::~L1Store() {
  // Entries still pinned by a sender keep the shared state alive.
  std::list<ObjectRef> drop;
  {
    std::lock_guard lock(shared_->mu);
    for (auto& [key, slot] : shared_->index) drop.push_back(std::move(slot.object));
    shared_->index.clear();
    shared_->lru.clear();
  }
  // `drop` releases outside the lock (Object's destructor takes it).
}

L1Store::ReserveError L1Store::TryReserve(std::size_t bytes, Reservation* out) {
  return ReserveImpl(bytes, /*may_evict=*/false, out);
}

L1Store::ReserveError L1Store::Reserve(std::size_t bytes, Reservation* out) {
  return ReserveImpl(bytes, /*may_evict=*/true, out);
}

L1Store::ReserveError L1Store::ReserveImpl(std::size_t bytes, bool may_evict, Reservation* out) {
  if (bytes > options_.max_object_bytes || bytes > shared_->arena.capacity_bytes()) {
    std::lock_guard lock(shared_->mu);
    ++shared_->stats.reserve_failures;
    return ReserveError::kTooLarge;
  }
  Reservation r;
  r.shared_ = shared_;
  r.size_ = bytes;
  // Even an empty object takes a granule: every entry then takes room and
  // can be evicted, so a peer cannot grow the index without bound with
  // zero-length PUTs under distinct keys.
  const std::size_t room = std::max<std::size_t>(bytes, 1);
  std::unique_lock lock(shared_->mu);
  for (;;) {
    if (auto block = shared_->arena.Allocate(room)) {
      r.block_ = *block;
      r.data_ = shared_->arena.At(block->offset);
      break;
    }
    if (!may_evict || shared_->lru.empty()) {
      if (may_evict) ++shared_->stats.reserve_failures;  // a try that finds no room is no failure
      r.shared_ = nullptr;
      return ReserveError::kNoSpace;
    }
    EvictOldest(lock);
  }
  lock.unlock();
  *out = std::move(r);
  return ReserveError::kOk;
}

void L1Store::EvictOldest(std::unique_lock<std::mutex>& lock) {
  // Its bytes return to the arena when the last reference goes: now, unless
  // a sender still holds it. Free() takes the lock, so references are
  // released with the lock dropped.
  const auto it = shared_->index.find(shared_->lru.front());
  assert(it != shared_->index.end());
  ObjectRef victim = std::move(it->second.object);
  std::string victim_key = std::move(shared_->lru.front());
  shared_->index.erase(it);
  shared_->lru.pop_front();
  ++shared_->stats.evictions;
  const auto evicting = on_evict_ ? shared_->evicting.insert(victim_key) : shared_->evicting.end();
  lock.unlock();
  if (on_evict_) on_evict_(victim_key, victim);
  victim.reset();
  lock.lock();
  if (evicting != shared_->evicting.end()) shared_->evicting.erase(evicting);
}

void L1Store::KeepHeadroomLocked(std::unique_lock<std::mutex>& lock) {
  // Never the object just published (the most recent): at least one stays.
  while (shared_->arena.capacity_bytes() - shared_->arena.used_bytes() < options_.headroom_bytes &&
         shared_->lru.size() > 1) {
    EvictOldest(lock);
  }
}

void L1Store::Publish(std::string key, const ObjectMeta& meta, Reservation reservation) {
  assert(reservation.valid() && reservation.shared_ == shared_);
  auto object = ObjectRef(new Object(shared_, reservation.block_, reservation.data_, reservation.size_, meta));
  reservation.shared_ = nullptr;  // the object owns the block now
  ObjectRef replaced;
  std::unique_lock lock(shared_->mu);
  auto it = shared_->index.find(key);
  if (it != shared_->index.end()) {
    replaced = std::move(it->second.object);
    it->second.object = std::move(object);
    shared_->lru.splice(shared_->lru.end(), shared_->lru, it->second.lru_at);
  } else {
    shared_->lru.push_back(key);
    shared_->index.emplace(std::move(key), Shared::Slot{std::move(object), std::prev(shared_->lru.end())});
  }
  ++shared_->stats.publishes;
  if (replaced) {
    // Released outside the lock (Free() takes it), and before the headroom
    // is measured, so its bytes count as free.
    lock.unlock();
    replaced.reset();
    lock.lock();
  }
  KeepHeadroomLocked(lock);
}

L1Store::ObjectRef L1Store::PublishIfAbsent(std::string key, const ObjectMeta& meta, Reservation reservation,
                                            const std::function<bool()>& still_current) {
  assert(reservation.valid() && reservation.shared_ == shared_);
  // Declared before the lock guard: if it loses, it is released (which
  // takes the lock to free its block) after the guard has unlocked.
  auto object = ObjectRef(new Object(shared_, reservation.block_, reservation.data_, reservation.size_, meta));
  reservation.shared_ = nullptr;  // the object owns the block now
  std::unique_lock lock(shared_->mu);
  if (const auto it = shared_->index.find(key); it != shared_->index.end()) return it->second.object;
  if (shared_->evicting.count(key) != 0 || (still_current && !still_current())) return nullptr;
  shared_->lru.push_back(key);
  shared_->index.emplace(std::move(key), Shared::Slot{object, std::prev(shared_->lru.end())});
  ++shared_->stats.publishes;
  KeepHeadroomLocked(lock);
  return object;
}

L1Store::ObjectRef L1Store::Get(std::string_view key) {
  std::lock_guard lock(shared_->mu);
  const auto it = shared_->index.find(std::string(key));
  if (it == shared_->index.end()) return nullptr;
  shared_->lru.splice(shared_->lru.end(), shared_->lru, it->second.lru_at);
  return it->second.object;
}

void L1Store::Clear() {
  std::unordered_map<std::string, Shared::Slot> dropped;  // released after the lock
  {
    std::lock_guard lock(shared_->mu);
    dropped.swap(shared_->index);
    shared_->lru.clear();
  }
}

bool L1Store::Contains(std::string_view key) const {
  std::lock_guard lock(shared_->mu);
  return shared_->index.count(std::string(key)) != 0;
}

std::vector<std::string> L1Store::Keys() const {
  std::lock_guard lock(shared_->mu);
  return {shared_->lru.begin(), shared_->lru.end()};
}

StoreStats L1Store::Stats() const {
  std::lock_guard lock(shared_->mu);
  StoreStats s = shared_->stats;
  s.objects = shared_->index.size();
  s.used_bytes = shared_->arena.used_bytes();
  return s;
}

}  // namespace lmc::store
