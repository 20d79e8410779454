#include "store/l1_store.h"

#include <algorithm>

#include <unordered_set>

#include "base/check.h"

namespace lmc::store {

// The state objects and reservations outlive the store through: the arena
// and its lock. The index lives here too, under the same lock.
//
// Byte accounting. Every block the arena has handed out is in exactly one of
// three places: a reservation (reserved_bytes), an object in the index
// (indexed_bytes), or an object out of it (detached_bytes: replaced, evicted
// or cleared while a reader pins it, or published and lost to an entry
// already there). So reserved + indexed + detached == the arena's used
// bytes, and used + free == capacity; checked after every change.
struct L1Store::Shared {
  explicit Shared(std::size_t capacity) : arena(capacity) {}

  void CheckLocked() const {
    LMC_CHECK(reserved_bytes + indexed_bytes + detached_bytes == arena.used_bytes(), "reserved ", reserved_bytes,
              " + indexed ", indexed_bytes, " + detached ", detached_bytes, " != used ", arena.used_bytes());
    LMC_CHECK(lru.size() == index.size(), "the LRU list holds ", lru.size(), " keys, the index ", index.size());
  }
  // A reservation's block became an object (not yet in the index).
  void AdoptLocked(Arena::Block b) {
    LMC_CHECK(reserved_bytes >= b.bytes, "adopting ", b.bytes, " bytes of ", reserved_bytes, " reserved");
    reserved_bytes -= b.bytes;
    detached_bytes += b.bytes;
  }
  void IndexLocked(Arena::Block b) {
    LMC_CHECK(detached_bytes >= b.bytes, "indexing ", b.bytes, " bytes of ", detached_bytes, " detached");
    detached_bytes -= b.bytes;
    indexed_bytes += b.bytes;
  }
  void UnindexLocked(Arena::Block b) {
    LMC_CHECK(indexed_bytes >= b.bytes, "unindexing ", b.bytes, " bytes of ", indexed_bytes, " indexed");
    indexed_bytes -= b.bytes;
    detached_bytes += b.bytes;
  }
  // Frees a block that was `from` (reserved_bytes or detached_bytes).
  void Free(Arena::Block b, std::size_t& from) {
    if (b.bytes == 0) return;
    std::lock_guard lock(mu);
    LMC_CHECK(from >= b.bytes, "freeing ", b.bytes, " bytes of ", from, " accounted");
    from -= b.bytes;
    arena.Free(b);
    CheckLocked();
  }

  mutable base::Mutex mu;
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
  std::size_t reserved_bytes = 0;
  std::size_t indexed_bytes = 0;
  std::size_t detached_bytes = 0;
};

L1Store::Object::~Object() { shared_->Free(block_, shared_->detached_bytes); }

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
  if (shared_ != nullptr) shared_->Free(block_, shared_->reserved_bytes);
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
    shared_->detached_bytes += shared_->indexed_bytes;
    shared_->indexed_bytes = 0;
    shared_->CheckLocked();
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
      shared_->reserved_bytes += block->bytes;
      shared_->CheckLocked();
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

void L1Store::EvictOldest(std::unique_lock<base::Mutex>& lock) {
  // Its bytes return to the arena when the last reference goes: now, unless
  // a sender still holds it. Free() takes the lock, so references are
  // released with the lock dropped.
  const auto it = shared_->index.find(shared_->lru.front());
  LMC_CHECK(it != shared_->index.end(), "the LRU list's oldest key is not in the index");
  ObjectRef victim = std::move(it->second.object);
  shared_->UnindexLocked(victim->block_);
  std::string victim_key = std::move(shared_->lru.front());
  shared_->index.erase(it);
  shared_->lru.pop_front();
  ++shared_->stats.evictions;
  shared_->CheckLocked();
  const auto evicting = on_evict_ ? shared_->evicting.insert(victim_key) : shared_->evicting.end();
  lock.unlock();
  if (on_evict_) on_evict_(victim_key, victim);
  victim.reset();
  lock.lock();
  if (evicting != shared_->evicting.end()) shared_->evicting.erase(evicting);
}

void L1Store::KeepHeadroomLocked(std::unique_lock<base::Mutex>& lock) {
  // Never the object just published (the most recent): at least one stays.
  while (shared_->arena.capacity_bytes() - shared_->arena.used_bytes() < options_.headroom_bytes &&
         shared_->lru.size() > 1) {
    EvictOldest(lock);
  }
}

void L1Store::Publish(std::string key, const ObjectMeta& meta, Reservation reservation) {
  LMC_CHECK(reservation.valid() && reservation.shared_ == shared_, "publishing a reservation not of this store");
  auto object = ObjectRef(new Object(shared_, reservation.block_, reservation.data_, reservation.size_, meta));
  reservation.shared_ = nullptr;  // the object owns the block now
  ObjectRef replaced;
  std::unique_lock lock(shared_->mu);
  shared_->AdoptLocked(object->block_);
  shared_->IndexLocked(object->block_);
  auto it = shared_->index.find(key);
  if (it != shared_->index.end()) {
    shared_->UnindexLocked(it->second.object->block_);
    replaced = std::move(it->second.object);
    it->second.object = std::move(object);
    shared_->lru.splice(shared_->lru.end(), shared_->lru, it->second.lru_at);
  } else {
    shared_->lru.push_back(key);
    shared_->index.emplace(std::move(key), Shared::Slot{std::move(object), std::prev(shared_->lru.end())});
  }
  ++shared_->stats.publishes;
  shared_->CheckLocked();
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
  LMC_CHECK(reservation.valid() && reservation.shared_ == shared_, "publishing a reservation not of this store");
  // Declared before the lock guard: if it loses, it is released (which
  // takes the lock to free its block) after the guard has unlocked.
  auto object = ObjectRef(new Object(shared_, reservation.block_, reservation.data_, reservation.size_, meta));
  reservation.shared_ = nullptr;  // the object owns the block now
  std::unique_lock lock(shared_->mu);
  shared_->AdoptLocked(object->block_);
  if (const auto it = shared_->index.find(key); it != shared_->index.end()) return it->second.object;
  if (shared_->evicting.count(key) != 0 || (still_current && !still_current())) return nullptr;
  shared_->IndexLocked(object->block_);
  shared_->lru.push_back(key);
  shared_->index.emplace(std::move(key), Shared::Slot{object, std::prev(shared_->lru.end())});
  ++shared_->stats.publishes;
  shared_->CheckLocked();
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
    shared_->detached_bytes += shared_->indexed_bytes;
    shared_->indexed_bytes = 0;
    shared_->CheckLocked();
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

void L1Store::CheckInvariants() const {
  std::lock_guard lock(shared_->mu);
  shared_->CheckLocked();
  std::size_t indexed = 0;
  for (auto at = shared_->lru.begin(); at != shared_->lru.end(); ++at) {
    const auto it = shared_->index.find(*at);
    LMC_CHECK(it != shared_->index.end(), "LRU key '", *at, "' is not in the index");
    LMC_CHECK(it->second.lru_at == at, "the index entry of '", *at, "' points at another LRU position");
    LMC_CHECK(it->second.object != nullptr, "the index entry of '", *at, "' holds no object");
    indexed += it->second.object->block_.bytes;
  }
  LMC_CHECK(indexed == shared_->indexed_bytes, "entries hold ", indexed, " bytes, accounted ", shared_->indexed_bytes);
  shared_->arena.CheckInvariants();
}

StoreStats L1Store::Stats() const {
  std::lock_guard lock(shared_->mu);
  StoreStats s = shared_->stats;
  s.objects = shared_->index.size();
  s.used_bytes = shared_->arena.used_bytes();
  return s;
}

}  // namespace lmc::store
