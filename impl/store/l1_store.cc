#include "store/l1_store.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/check.h"

namespace lmc::store {
namespace {
constexpr std::size_t kMinChunkBytes = 4096;
constexpr std::size_t kMinChunksInBudget = 16;

std::size_t EffectiveChunkBytes(const L1Store::Options& o) {
  std::size_t c = std::max(kMinChunkBytes, ChunkPool::Granules(o.chunk_bytes));
  while (c > kMinChunkBytes && o.capacity_bytes / c < kMinChunksInBudget) c = ChunkPool::Granules(c / 2);
  return c;
}
}  // namespace

// The state objects and reservations outlive the store through: the pool,
// the pages and their lock. The index lives here too, under the same lock.
//
// Chunk accounting. Every chunk is free, held whole by one reservation
// (whole_reserved) or one object (whole_objects: in the index or not), or a
// page; checked after every change. Byte accounting: what each holds is its
// whole chunks plus its tail piece; every held byte is a reservation's
// (reserved_bytes), an indexed object's (indexed_bytes) or an object's out
// of the index (detached_bytes: replaced, evicted or cleared while a reader
// pins it, or published and lost to an entry already there). Their sum is
// the whole chunks plus the pages' live pieces.
struct L1Store::Shared {
  struct Page {
    std::uint32_t fill = 0;    // pieces are handed out in order up to here
    std::uint32_t pieces = 0;  // live: tenants plus reservations' tails
    std::size_t live_bytes = 0;
    std::vector<Object*> tenants;  // objects whose tail is here
  };

  Shared(std::size_t chunk, std::uint32_t budget, std::uint32_t intake)
      : pool(chunk, budget + intake, budget), pages(budget + intake), budget_chunks(budget) {}

  std::size_t chunk() const { return pool.chunk_bytes(); }
  std::size_t Held(const Pieces& p) const { return p.chunks.size() * chunk() + p.tail_bytes; }
  // Chunks the budget counts: objects' whole chunks and every page.
  std::size_t BudgetUsedChunks() const { return whole_objects + page_count; }

  void CheckLocked() const {
    LMC_CHECK(whole_reserved + whole_objects + page_count + pool.free_chunks() == pool.chunks(), "reserved ",
              whole_reserved, " + objects ", whole_objects, " + pages ", page_count, " + free ", pool.free_chunks(),
              " != ", pool.chunks(), " chunks");
    LMC_CHECK(
        reserved_bytes + indexed_bytes + detached_bytes == (whole_reserved + whole_objects) * chunk() + page_live_bytes,
        "reserved ", reserved_bytes, " + indexed ", indexed_bytes, " + detached ", detached_bytes,
        " != whole chunks and live pieces");
    LMC_CHECK(page_live_bytes <= page_count * chunk(), "pages hold ", page_live_bytes, " live bytes in ", page_count,
              " pages");
    LMC_CHECK(lru.size() == index.size(), "the LRU list holds ", lru.size(), " keys, the index ", index.size());
  }

  // A chunk for a piece: a free one, else (with `may_evict`) one that
  // evicting least recently used unpinned entries frees now.
  std::optional<std::uint32_t> TakeChunkLocked(std::unique_lock<base::Mutex>& lock, bool may_evict,
                                               const EvictionListener& on_evict) {
    for (;;) {
      if (auto c = pool.Take()) return c;
      if (!may_evict) return std::nullopt;
      std::vector<std::string> victims;
      if (PlanLocked(1, /*keep_newest=*/false, &victims) == 0) return std::nullopt;
      ++stats.early_evictions;
      for (const std::string& key : victims) EvictLocked(lock, key, on_evict);
    }
  }

  // Gives back a holding that was `from` (reserved_bytes or detached_bytes);
  // reservations' whole chunks are counted in whole_reserved, objects' in
  // whole_objects.
  void ReleaseLocked(const Pieces& p, std::size_t& from, std::size_t& whole) {
    const std::size_t held = Held(p);
    LMC_CHECK(from >= held && whole >= p.chunks.size(), "releasing ", held, " bytes of ", from, " accounted");
    from -= held;
    whole -= p.chunks.size();
    for (const std::uint32_t c : p.chunks) pool.Give(c);
    if (p.page != Pieces::kNoPage) {
      Page& pg = pages[p.page];
      LMC_CHECK(pg.pieces > 0 && pg.live_bytes >= p.tail_bytes, "releasing a piece of page ", p.page,
                " that holds none");
      --pg.pieces;
      pg.live_bytes -= p.tail_bytes;
      page_live_bytes -= p.tail_bytes;
      if (pg.pieces == 0) {
        LMC_CHECK(pg.tenants.empty() && pg.live_bytes == 0, "an empty page ", p.page, " with tenants");
        pg = Page{};
        if (open_page == p.page) open_page = Pieces::kNoPage;
        --page_count;
        pool.Give(p.page);
      }
    }
    CheckLocked();
  }

  void AddTenantLocked(Object* o) {
    if (o->pieces_.page == Pieces::kNoPage) return;
    auto& tenants = pages[o->pieces_.page].tenants;
    o->tenant_slot_ = tenants.size();
    tenants.push_back(o);
  }
  void RemoveTenantLocked(Object* o) {
    if (o->pieces_.page == Pieces::kNoPage) return;
    auto& tenants = pages[o->pieces_.page].tenants;
    LMC_CHECK(o->tenant_slot_ < tenants.size() && tenants[o->tenant_slot_] == o, "an object missing from its page");
    tenants[o->tenant_slot_] = tenants.back();
    tenants[o->tenant_slot_]->tenant_slot_ = o->tenant_slot_;
    tenants.pop_back();
  }

  // A reader (a GET reply being sent) holds a reference: evicting the entry
  // would lose it without freeing a byte until the send ends.
  static bool Pinned(const ObjectRef& o) { return o.use_count() > 1; }

  // The indexed, unpinned entry `o` is (null if it is not one).
  const Object* Evictable(const Object* o, const Object* keep) const {
    if (o == keep) return nullptr;
    const auto it = index.find(o->key_);
    if (it == index.end() || it->second.object.get() != o || Pinned(it->second.object)) return nullptr;
    return o;
  }

  // Entries to evict, least recently used first, so that at least `want`
  // chunks come free now; returns how many would (less than `want` when no
  // plan can). An entry frees its whole chunks, and its tail's page when
  // every piece there belongs to an indexed, unpinned entry: those then go
  // with it. Pinned entries, and entries that would free nothing (a tail
  // alone in a page something else holds), are passed over. Evicts nothing.
  std::size_t PlanLocked(std::size_t want, bool keep_newest, std::vector<std::string>* victims) {
    const Object* keep = keep_newest && !lru.empty() ? index.find(lru.back())->second.object.get() : nullptr;
    std::unordered_set<const Object*> planned;
    std::unordered_set<std::uint32_t> pages_planned;
    std::size_t gain = 0;
    for (auto at = lru.begin(); at != lru.end() && gain < want; ++at) {
      const ObjectRef& ref = index.find(*at)->second.object;
      const Object* o = ref.get();
      if (o == keep || planned.count(o) != 0) continue;
      if (Pinned(ref)) {
        ++stats.pinned_skipped;
        continue;
      }
      std::vector<const Object*> group{o};
      std::size_t g = o->pieces_.chunks.size();
      const std::uint32_t p = o->pieces_.page;
      if (p != Pieces::kNoPage && pages_planned.count(p) == 0) {
        const Page& pg = pages[p];
        bool freeable = pg.pieces == pg.tenants.size();  // no reservation's tail
        for (const Object* t : pg.tenants) freeable = freeable && Evictable(t, keep) != nullptr;
        if (freeable) {
          pages_planned.insert(p);
          group.assign(pg.tenants.begin(), pg.tenants.end());
          g = 1;
          for (const Object* t : group) g += t->pieces_.chunks.size();
        }
      }
      if (g == 0) continue;
      for (const Object* t : group) {
        planned.insert(t);
        victims->push_back(t->key_);
      }
      gain += g;
    }
    return gain;
  }

  // Evicts the entry under `key`; `lock` holds mu and is released around
  // the listener call. Its chunks go back when the last reference does:
  // now, unless a sender took one since the plan. References are released
  // with the lock down (Object's destructor takes it).
  void EvictLocked(std::unique_lock<base::Mutex>& lock, const std::string& key, const EvictionListener& on_evict) {
    const auto it = index.find(key);
    if (it == index.end()) return;  // gone while the lock was down for an earlier victim
    ObjectRef victim = std::move(it->second.object);
    UnindexLocked(*victim);
    std::string victim_key = it->first;
    lru.erase(it->second.lru_at);
    index.erase(it);
    ++stats.evictions;
    CheckLocked();
    const auto mark = on_evict ? evicting.insert(victim_key) : evicting.end();
    lock.unlock();
    if (on_evict) on_evict(victim_key, victim);
    victim.reset();
    lock.lock();
    if (mark != evicting.end()) evicting.erase(mark);
  }

  void IndexLocked(const Object& o) {
    const std::size_t held = Held(o.pieces_);
    LMC_CHECK(detached_bytes >= held, "indexing ", held, " bytes of ", detached_bytes, " detached");
    detached_bytes -= held;
    indexed_bytes += held;
  }
  void UnindexLocked(const Object& o) {
    const std::size_t held = Held(o.pieces_);
    LMC_CHECK(indexed_bytes >= held, "unindexing ", held, " bytes of ", indexed_bytes, " indexed");
    indexed_bytes -= held;
    detached_bytes += held;
  }

  mutable base::Mutex mu;
  ChunkPool pool;
  std::vector<Page> pages;  // by chunk; meaningful for pages only
  std::uint32_t open_page = Pieces::kNoPage;
  std::size_t budget_chunks;
  std::size_t whole_reserved = 0;
  std::size_t whole_objects = 0;
  std::size_t page_count = 0;
  std::size_t page_live_bytes = 0;
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

L1Store::Object::Object(std::shared_ptr<Shared> shared, Pieces pieces, std::string key, ObjectMeta meta)
    : shared_(std::move(shared)), pieces_(std::move(pieces)), key_(std::move(key)), meta_(meta) {
  spans_.assign(pieces_.spans.begin(), pieces_.spans.end());
  pieces_.spans = {};  // spans_ has them
}

L1Store::Object::~Object() {
  std::lock_guard lock(shared_->mu);
  shared_->RemoveTenantLocked(this);
  shared_->ReleaseLocked(pieces_, shared_->detached_bytes, shared_->whole_objects);
}

void L1Store::Object::CopyTo(std::span<std::byte> out) const {
  LMC_CHECK(out.size() >= size(), "copying ", size(), " bytes into ", out.size());
  std::size_t at = 0;
  for (const auto& s : spans_) {
    std::memcpy(out.data() + at, s.data(), s.size());
    at += s.size();
  }
}

std::size_t L1Store::Object::pinned_bytes() const {
  return (pieces_.chunks.size() + (pieces_.page != Pieces::kNoPage ? 1 : 0)) * shared_->chunk();
}

bool L1Store::Object::Equals(std::span<const std::byte> bytes) const {
  if (bytes.size() != size()) return false;
  std::size_t at = 0;
  for (const auto& s : spans_) {
    if (std::memcmp(bytes.data() + at, s.data(), s.size()) != 0) return false;
    at += s.size();
  }
  return true;
}

L1Store::Reservation::Reservation(Reservation&& o) noexcept
    : shared_(std::move(o.shared_)), pieces_(std::move(o.pieces_)), size_(o.size_), done_(o.done_) {
  o.shared_ = nullptr;
  o.pieces_ = {};
}

L1Store::Reservation& L1Store::Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    Release();
    shared_ = std::move(o.shared_);
    pieces_ = std::move(o.pieces_);
    size_ = o.size_;
    done_ = o.done_;
    o.shared_ = nullptr;
    o.pieces_ = {};
  }
  return *this;
}

L1Store::Reservation::~Reservation() { Release(); }

void L1Store::Reservation::Release() {
  if (shared_ != nullptr) {
    std::lock_guard lock(shared_->mu);
    shared_->ReleaseLocked(pieces_, shared_->reserved_bytes, shared_->whole_reserved);
  }
  shared_ = nullptr;
  pieces_ = {};
}

void L1Store::Reservation::CopyFrom(std::span<const std::byte> bytes) {
  LMC_CHECK(complete() && bytes.size() == size_, "copying ", bytes.size(), " bytes into a reservation of ", size_,
            complete() ? "" : " (incomplete)");
  std::size_t at = 0;
  for (const auto& s : pieces_.spans) {
    std::memcpy(s.data(), bytes.data() + at, s.size());
    at += s.size();
  }
}

L1Store::L1Store(Options options) : options_(options) {
  const std::size_t chunk = EffectiveChunkBytes(options);
  const auto budget = static_cast<std::uint32_t>((options.capacity_bytes + chunk - 1) / chunk);
  const auto intake = static_cast<std::uint32_t>((options.intake_bytes + chunk - 1) / chunk);
  shared_ = std::make_shared<Shared>(chunk, budget, intake);
  shared_->stats.capacity_bytes = std::size_t{budget} * chunk;
  shared_->stats.chunk_bytes = chunk;
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

std::size_t L1Store::chunk_bytes() const { return shared_->chunk(); }

L1Store::ReserveError L1Store::Begin(std::size_t bytes, Reservation* out) {
  std::unique_lock lock(shared_->mu);
  if (bytes > options_.max_object_bytes || bytes > shared_->stats.capacity_bytes) {
    ++shared_->stats.reserve_failures;
    return ReserveError::kTooLarge;
  }
  // Whole chunks, and a page for the tail (it may fit the open page; this
  // counts it as new). Even an empty object takes a granule: every entry
  // then takes room and can be evicted, so a peer cannot grow the index
  // without bound with zero-length PUTs under distinct keys.
  const std::size_t chunk = shared_->chunk();
  const std::size_t need = bytes / chunk + (bytes % chunk != 0 || bytes == 0 ? 1 : 0);
  const std::size_t used = shared_->BudgetUsedChunks();
  const std::size_t avail = used < shared_->budget_chunks ? shared_->budget_chunks - used : 0;
  if (need > avail) {
    std::vector<std::string> victims;
    if (shared_->PlanLocked(need - avail, /*keep_newest=*/false, &victims) < need - avail) {
      ++shared_->stats.reserve_failures;
      return ReserveError::kNoSpace;
    }
  }
  lock.unlock();
  Reservation r;
  r.shared_ = shared_;
  r.size_ = bytes;
  r.pieces_.spans.reserve(need);
  *out = std::move(r);
  return ReserveError::kOk;
}

L1Store::ReserveError L1Store::Extend(Reservation* out, bool may_evict) {
  LMC_CHECK(out->valid() && out->shared_ == shared_ && !out->complete(), "extending a reservation that is ",
            out->valid() ? "complete" : "not valid");
  Shared& sh = *shared_;
  Pieces& p = out->pieces_;
  const std::size_t chunk = sh.chunk();
  const std::size_t left = out->size_ - p.size;
  std::unique_lock lock(sh.mu);
  if (left >= chunk) {
    const std::optional<std::uint32_t> c = sh.TakeChunkLocked(lock, may_evict, on_evict_);
    if (!c) return ReserveError::kNoSpace;
    p.chunks.push_back(*c);
    p.spans.emplace_back(sh.pool.At(*c), chunk);
    p.size += chunk;
    ++sh.whole_reserved;
    sh.reserved_bytes += chunk;
    out->done_ = p.size == out->size_;
  } else {
    const std::size_t g = ChunkPool::Granules(std::max<std::size_t>(left, 1));
    if (sh.open_page == Pieces::kNoPage || chunk - sh.pages[sh.open_page].fill < g) {
      const std::optional<std::uint32_t> c = sh.TakeChunkLocked(lock, may_evict, on_evict_);
      if (!c) return ReserveError::kNoSpace;
      // The lock may have been down: another tail may have opened a page
      // meanwhile; this one replaces it as the open page (that one keeps
      // its pieces and fills no further).
      sh.open_page = *c;
      sh.pages[*c] = Shared::Page{};
      ++sh.page_count;
    }
    Shared::Page& pg = sh.pages[sh.open_page];
    p.page = sh.open_page;
    p.tail_offset = pg.fill;
    p.tail_bytes = static_cast<std::uint32_t>(g);
    pg.fill += static_cast<std::uint32_t>(g);
    ++pg.pieces;
    pg.live_bytes += g;
    sh.page_live_bytes += g;
    sh.reserved_bytes += g;
    if (left > 0) p.spans.emplace_back(sh.pool.At(p.page) + p.tail_offset, left);
    p.size += left;
    out->done_ = true;
  }
  sh.CheckLocked();
  return ReserveError::kOk;
}

L1Store::ReserveError L1Store::Reserve(std::size_t bytes, Reservation* out) {
  Reservation r;
  if (const ReserveError e = Begin(bytes, &r); e != ReserveError::kOk) return e;
  while (!r.complete()) {
    if (Extend(&r) != ReserveError::kOk) {
      std::lock_guard lock(shared_->mu);
      ++shared_->stats.reserve_failures;
      return ReserveError::kNoSpace;  // `r` gives back what it took
    }
  }
  *out = std::move(r);
  return ReserveError::kOk;
}

void L1Store::KeepRoomLocked(std::unique_lock<base::Mutex>& lock) {
  // Never the object just published (the most recent): at least one stays.
  // Pinned entries free nothing now: passed over.
  Shared& sh = *shared_;
  const std::size_t chunk = sh.chunk();
  const std::size_t keep_free = (options_.headroom_bytes + chunk - 1) / chunk;
  const std::size_t limit = sh.budget_chunks > keep_free ? sh.budget_chunks - keep_free : 0;
  while (sh.BudgetUsedChunks() > limit) {
    std::vector<std::string> victims;
    if (sh.PlanLocked(sh.BudgetUsedChunks() - limit, /*keep_newest=*/true, &victims) == 0) break;
    for (const std::string& key : victims) sh.EvictLocked(lock, key, on_evict_);
  }
}

L1Store::ObjectRef L1Store::MakeObject(std::string key, const ObjectMeta& meta, Reservation& reservation) {
  LMC_CHECK(reservation.valid() && reservation.shared_ == shared_ && reservation.complete(),
            "publishing a reservation not of this store or incomplete");
  Object* o = new Object(shared_, std::move(reservation.pieces_), std::move(key), meta);
  reservation.shared_ = nullptr;  // the object owns the pieces now
  reservation.pieces_ = {};
  ObjectRef ref(o);
  std::lock_guard lock(shared_->mu);
  // Its chunks and bytes move from the reservation's to the objects'.
  Shared& sh = *shared_;
  const std::size_t held = sh.Held(o->pieces_);
  LMC_CHECK(sh.reserved_bytes >= held, "adopting ", held, " bytes of ", sh.reserved_bytes, " reserved");
  sh.reserved_bytes -= held;
  sh.detached_bytes += held;
  sh.whole_reserved -= o->pieces_.chunks.size();
  sh.whole_objects += o->pieces_.chunks.size();
  sh.AddTenantLocked(o);
  sh.CheckLocked();
  return ref;
}

void L1Store::Publish(std::string key, const ObjectMeta& meta, Reservation reservation) {
  ObjectRef object = MakeObject(key, meta, reservation);
  ObjectRef replaced;
  std::unique_lock lock(shared_->mu);
  shared_->IndexLocked(*object);
  auto it = shared_->index.find(key);
  if (it != shared_->index.end()) {
    shared_->UnindexLocked(*it->second.object);
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
    // Released outside the lock (its destructor takes it), and before the
    // room is measured, so its chunks count as free.
    lock.unlock();
    replaced.reset();
    lock.lock();
  }
  KeepRoomLocked(lock);
}

L1Store::ObjectRef L1Store::PublishIfAbsent(std::string key, const ObjectMeta& meta, Reservation reservation,
                                            const std::function<bool()>& still_current, bool* published) {
  if (published != nullptr) *published = false;
  // Made before the lock is taken: if it loses, it is released (which takes
  // the lock to free its chunks) after the lock is down.
  ObjectRef object = MakeObject(key, meta, reservation);
  std::unique_lock lock(shared_->mu);
  if (const auto it = shared_->index.find(key); it != shared_->index.end()) {
    ObjectRef there = it->second.object;
    lock.unlock();
    return there;
  }
  if (shared_->evicting.count(key) != 0 || (still_current && !still_current())) {
    lock.unlock();
    return nullptr;
  }
  shared_->IndexLocked(*object);
  shared_->lru.push_back(key);
  shared_->index.emplace(std::move(key), Shared::Slot{object, std::prev(shared_->lru.end())});
  ++shared_->stats.publishes;
  shared_->CheckLocked();
  if (published != nullptr) *published = true;
  KeepRoomLocked(lock);
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
  const Shared& sh = *shared_;
  sh.CheckLocked();
  std::size_t indexed = 0;
  for (auto at = sh.lru.begin(); at != sh.lru.end(); ++at) {
    const auto it = sh.index.find(*at);
    LMC_CHECK(it != sh.index.end(), "LRU key '", *at, "' is not in the index");
    LMC_CHECK(it->second.lru_at == at, "the index entry of '", *at, "' points at another LRU position");
    LMC_CHECK(it->second.object != nullptr, "the index entry of '", *at, "' holds no object");
    LMC_CHECK(it->second.object->key_ == *at, "the object under '", *at, "' says it is '", it->second.object->key_,
              "'");
    indexed += sh.Held(it->second.object->pieces_);
  }
  LMC_CHECK(indexed == sh.indexed_bytes, "entries hold ", indexed, " bytes, accounted ", sh.indexed_bytes);
  sh.pool.CheckInvariants();
  std::size_t live = 0;
  std::size_t pages = 0;
  for (std::uint32_t c = 0; c < sh.pages.size(); ++c) {
    const Shared::Page& pg = sh.pages[c];
    if (pg.pieces == 0) {
      LMC_CHECK(pg.tenants.empty() && pg.live_bytes == 0 && pg.fill == 0, "chunk ", c, " is no page but has pieces");
      continue;
    }
    ++pages;
    live += pg.live_bytes;
    LMC_CHECK(pg.fill <= sh.chunk() && pg.live_bytes <= pg.fill && pg.tenants.size() <= pg.pieces, "page ", c,
              ": fill ", pg.fill, ", live ", pg.live_bytes, ", ", pg.tenants.size(), " tenants of ", pg.pieces,
              " pieces");
    std::size_t tenant_bytes = 0;
    for (std::size_t i = 0; i < pg.tenants.size(); ++i) {
      const Object* t = pg.tenants[i];
      LMC_CHECK(t->pieces_.page == c && t->tenant_slot_ == i, "a tenant of page ", c, " is not where it says");
      LMC_CHECK(t->pieces_.tail_offset + t->pieces_.tail_bytes <= pg.fill, "a tail past page ", c, "'s fill");
      tenant_bytes += t->pieces_.tail_bytes;
    }
    LMC_CHECK(tenant_bytes <= pg.live_bytes, "page ", c, "'s tenants hold more than its live bytes");
  }
  LMC_CHECK(pages == sh.page_count && live == sh.page_live_bytes, pages, " pages hold ", live, " live bytes; counted ",
            sh.page_count, " and ", sh.page_live_bytes);
}

StoreStats L1Store::Stats() const {
  std::lock_guard lock(shared_->mu);
  StoreStats s = shared_->stats;
  s.objects = shared_->index.size();
  s.used_bytes = shared_->BudgetUsedChunks() * shared_->chunk();
  s.reserved_bytes = shared_->reserved_bytes;
  s.free_chunks = shared_->pool.free_chunks();
  s.pages = shared_->page_count;
  return s;
}

}  // namespace lmc::store
