#include "store/l1_store.h"

#include <algorithm>

#include <cstdint>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

  // A reader (a GET reply being sent) holds a reference: evicting the entry
  // would lose it without freeing a byte until the send ends.
  static bool Pinned(const Slot& slot) { return slot.object.use_count() > 1; }

  // The least recently used entry no reader pins (not the most recent one
  // if `keep_newest`), or index.end().
  std::unordered_map<std::string, Slot>::const_iterator OldestUnpinnedLocked(bool keep_newest) {
    const auto end = keep_newest && !lru.empty() ? std::prev(lru.end()) : lru.end();
    for (auto at = lru.begin(); at != end; ++at) {
      const auto it = index.find(*at);
      if (!Pinned(it->second)) return it;
      ++stats.pinned_skipped;
    }
    return index.end();
  }

  // The contiguous run of free blocks and unpinned entries, at least `room`
  // bytes long, whose entries hold the fewest bytes; its entries go into
  // `victims`. False when no such run exists: reservations, pinned entries
  // and detached objects split the arena into runs all shorter than `room`.
  bool PlanRunLocked(std::size_t room, std::vector<std::string>* victims) const {
    struct Piece {
      std::size_t offset, bytes;
      const std::string* key;  // null: a free block
      std::size_t rank;        // the entry's place in the LRU list (0: least recent); 0 for a free block
    };
    std::vector<Piece> pieces;
    pieces.reserve(arena.free_blocks().size() + index.size());
    for (const auto& [offset, bytes] : arena.free_blocks()) pieces.push_back({offset, bytes, nullptr, 0});
    std::size_t rank = 0;
    for (const std::string& key : lru) {
      const Slot& slot = index.find(key)->second;
      if (!Pinned(slot)) pieces.push_back({slot.object->block_.offset, slot.object->block_.bytes, &key, rank});
      ++rank;
    }
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
    // Each run of adjacent pieces, then the cheapest window [i, j) of it at
    // least `room` long; ties go to the window whose newest entry is the
    // oldest. Two pointers, and a deque for the window's newest entry (its
    // ranks decreasing front to back): O(pieces) after the sort.
    const auto cost_of = [&](std::size_t k) { return pieces[k].key != nullptr ? pieces[k].bytes : 0; };
    std::size_t best_cost = SIZE_MAX, best_newest = SIZE_MAX, best_i = 0, best_j = 0;
    std::deque<std::size_t> newest;  // indices into the window
    for (std::size_t r0 = 0, r1 = 0; r0 < pieces.size(); r0 = r1) {
      r1 = r0 + 1;
      while (r1 < pieces.size() && pieces[r1 - 1].offset + pieces[r1 - 1].bytes == pieces[r1].offset) ++r1;
      std::size_t j = r0, span = 0, cost = 0;
      newest.clear();
      for (std::size_t i = r0; i < r1; ++i) {
        while (j < r1 && span < room) {
          span += pieces[j].bytes;
          cost += cost_of(j);
          while (!newest.empty() && pieces[newest.back()].rank <= pieces[j].rank) newest.pop_back();
          newest.push_back(j);
          ++j;
        }
        if (span < room) break;  // no window of this run starts at i or later
        while (newest.front() < i) newest.pop_front();
        const std::size_t window_newest = pieces[newest.front()].rank;
        if (cost < best_cost || (cost == best_cost && window_newest < best_newest)) {
          best_cost = cost;
          best_newest = window_newest;
          best_i = i;
          best_j = j;
        }
        span -= pieces[i].bytes;
        cost -= cost_of(i);
      }
    }
    if (best_cost == SIZE_MAX) return false;
    for (std::size_t k = best_i; k < best_j; ++k)
      if (pieces[k].key != nullptr) victims->push_back(*pieces[k].key);
    return true;
  }
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
    if (!may_evict) {
      r.shared_ = nullptr;
      return ReserveError::kNoSpace;  // a try that finds no room is no failure
    }
    // The plan (see the header): LRU while the oldest unpinned entry alone
    // makes the room, else the cheapest run; none: fail, evicting nothing.
    const auto oldest = shared_->OldestUnpinnedLocked(/*keep_newest=*/false);
    const bool any = oldest != shared_->index.end();
    std::vector<std::string> victims;
    if (any && oldest->second.object->block_.bytes >= Arena::BlockBytes(room)) {
      victims.push_back(oldest->first);
    } else if (!any || !shared_->PlanRunLocked(Arena::BlockBytes(room), &victims)) {
      ++shared_->stats.reserve_failures;
      r.shared_ = nullptr;
      return ReserveError::kNoSpace;
    }
    for (const std::string& key : victims) EvictLocked(lock, key);
  }
  lock.unlock();
  *out = std::move(r);
  return ReserveError::kOk;
}

void L1Store::EvictLocked(std::unique_lock<base::Mutex>& lock, const std::string& key) {
  // Its bytes return to the arena when the last reference goes: now, unless
  // a sender took one since the plan. Free() takes the lock, so references
  // are released with the lock dropped.
  const auto it = shared_->index.find(key);
  if (it == shared_->index.end()) return;  // gone while the lock was down for an earlier victim
  ObjectRef victim = std::move(it->second.object);
  shared_->UnindexLocked(victim->block_);
  std::string victim_key = it->first;
  shared_->lru.erase(it->second.lru_at);
  shared_->index.erase(it);
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
  // Pinned entries free nothing now: passed over.
  while (shared_->arena.capacity_bytes() - shared_->arena.used_bytes() < options_.headroom_bytes) {
    const auto oldest = shared_->OldestUnpinnedLocked(/*keep_newest=*/true);
    if (oldest == shared_->index.end()) break;
    EvictLocked(lock, std::string(oldest->first));  // a copy: the entry goes during the call
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
