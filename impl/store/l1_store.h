// The L1 store of the reference server: objects keyed by the canonical form
// of their parsed cache key (so "…@0x3039@…" and "…@3039@…" are one entry, as
// on LMCache's Python server), held in a pre-faulted ChunkPool under a byte
// budget, evicted least-recently-used first.
//
// Objects are made of fixed-size chunks (Options::chunk_bytes): an object of
// n bytes holds n / chunk whole chunks and, for the rest, one tail piece
// packed with other tails and small objects into a shared chunk, a page.
// Pieces of a page are handed out in order (64-byte granules); a page goes
// back to the free chunks when its last piece does. So any free chunks serve
// any object, and eviction frees what it claims: an object's whole chunks at
// once, its tail when its page's other tenants leave with it (they are
// evicted together, as memcached moves a slab page).
//
// Lifetime rules:
// - A PUT first Begin()s a reservation (a check, taking nothing), then
//   Extend()s it piece by piece as its bytes arrive; the reservation is
//   invisible until Publish(), which replaces any entry of that key in one
//   step. A reservation dropped unpublished (a truncated PUT) frees its
//   chunks and is never seen.
// - Reservations draw on free chunks first: the pool holds the budget plus
//   Options::intake_bytes for PUTs still arriving, so a PUT evicts only once
//   it is published (or when the free chunks run out, as its bytes arrive).
// - Get() returns a reference that pins the object: eviction or replacement
//   removes the entry from the index, but its chunks stay valid until the
//   last reference is gone. Pinned chunks still count against the budget.
//
// Thread-safe: one mutex guards the index and the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "store/chunk_pool.h"
#include "wire/headers.h"

namespace lmc::store {

// What a PUT header said about its object; a GET hit echoes it exactly.
struct ObjectMeta {
  std::int32_t length = 0;
  std::int32_t fmt = 0;
  std::int32_t dtype = 0;
  wire::Shape shape{};

  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

struct StoreStats {
  std::uint64_t objects = 0;
  std::uint64_t used_bytes = 0;      // chunks objects and pages hold (pinned leftovers included), in bytes
  std::uint64_t capacity_bytes = 0;  // the budget
  std::uint64_t reserved_bytes = 0;  // held by reservations (PUTs still arriving): whole chunks and tails
  std::uint64_t chunk_bytes = 0;
  std::uint64_t free_chunks = 0;  // budget and intake chunks together
  std::uint64_t pages = 0;        // chunks holding tail pieces
  std::uint64_t evictions = 0;
  std::uint64_t publishes = 0;
  std::uint64_t reserve_failures = 0;  // no room even after evicting every unpinned entry: nothing evicted
  std::uint64_t pinned_skipped = 0;    // eviction passed over an entry a reader pins (it frees nothing now)
  std::uint64_t early_evictions = 0;   // made for a PUT still arriving: no free chunk was left
};

class L1Store {
  struct Shared;

 public:
  struct Options {
    // The budget: bytes of chunks objects may hold (rounded up to chunks).
    std::size_t capacity_bytes = std::size_t{1} << 30;
    std::size_t max_object_bytes = std::size_t{1} << 31;  // wire lengths are int32
    // Free room kept after each publish (evicting least recently used
    // entries then, never for a PUT still arriving), so the next PUTs find
    // free chunks in the budget. 0: none.
    std::size_t headroom_bytes = 0;
    // Chunks beyond the budget that PUTs still arriving may hold (faulted in
    // on first use), so even a full store takes a PUT's bytes without
    // evicting before the PUT completes. 0: none.
    std::size_t intake_bytes = 0;
    // The chunk size; halved (down to 4 KiB) until the budget holds at least
    // 16 chunks, so a small store is not one page.
    std::size_t chunk_bytes = std::size_t{1} << 20;
  };

  // What an object or a reservation holds: whole chunks, then a tail piece
  // in a page; their bytes in order as spans.
  struct Pieces {
    static constexpr std::uint32_t kNoPage = UINT32_MAX;
    std::vector<std::uint32_t> chunks;
    std::uint32_t page = kNoPage;
    std::uint32_t tail_offset = 0;
    std::uint32_t tail_bytes = 0;  // whole granules, at least one when page != kNoPage
    std::vector<std::span<std::byte>> spans;
    std::size_t size = 0;  // the bytes the spans cover
  };

  // An immutable stored object; holding a reference pins its chunks.
  class Object {
   public:
    ~Object();
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    const ObjectMeta& meta() const { return meta_; }
    std::size_t size() const { return pieces_.size; }
    // The bytes in order: whole chunks, then the tail. Empty for an empty object.
    std::span<const std::span<const std::byte>> spans() const { return spans_; }
    // Copies the object into `out` (at least size() bytes).
    void CopyTo(std::span<std::byte> out) const;
    // True when the object's bytes are `bytes`.
    bool Equals(std::span<const std::byte> bytes) const;
    // What a reader holding it keeps from eviction: its whole chunks, and
    // the whole page its tail is in (page-mates leave together, so a pinned
    // tail holds the page). What a pin budget should charge.
    std::size_t pinned_bytes() const;

   private:
    friend class L1Store;
    Object(std::shared_ptr<Shared> shared, Pieces pieces, std::string key, ObjectMeta meta);
    std::shared_ptr<Shared> shared_;
    Pieces pieces_;
    std::vector<std::span<const std::byte>> spans_;
    std::string key_;
    ObjectMeta meta_;
    std::size_t tenant_slot_ = 0;  // its place among its page's tenants
  };
  using ObjectRef = std::shared_ptr<const Object>;
  // Told of every entry eviction removes (not of replaced ones), with the
  // lock released, on the thread that reserved. The reference pins the
  // bytes for as long as the listener keeps it. Must not block.
  using EvictionListener = std::function<void(const std::string& key, const ObjectRef& object)>;

  // Chunks set aside for one PUT, filled as its bytes arrive. Move-only;
  // unpublished, it frees itself.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&&) noexcept;
    Reservation& operator=(Reservation&&) noexcept;
    ~Reservation();
    bool valid() const { return shared_ != nullptr; }
    // The object's length, and the bytes reserved so far (all of them once
    // complete()).
    std::size_t size() const { return size_; }
    bool complete() const { return done_; }
    // The pieces reserved so far, in order.
    std::span<const std::span<std::byte>> spans() const { return pieces_.spans; }
    // Copies `bytes` (size() of them) into a complete reservation.
    void CopyFrom(std::span<const std::byte> bytes);

   private:
    friend class L1Store;
    void Release();
    std::shared_ptr<Shared> shared_;
    Pieces pieces_;
    std::size_t size_ = 0;
    bool done_ = false;
  };

  enum class [[nodiscard]] ReserveError : std::uint8_t{kOk, kTooLarge, kNoSpace};

  explicit L1Store(Options options);
  ~L1Store();
  L1Store(const L1Store&) = delete;
  L1Store& operator=(const L1Store&) = delete;

  // Starts a reservation of `bytes`, taking no chunk yet. Fails at once,
  // evicting nothing, when the object could not fit the budget even after
  // evicting every entry that frees room now (kNoSpace: entries a reader
  // pins, a GET reply being sent, free nothing until the send ends, and
  // eviction passes over them), or above max_object_bytes or the budget
  // (kTooLarge).
  [[nodiscard]] ReserveError Begin(std::size_t bytes, Reservation* out);
  // Takes the reservation's next piece: a whole chunk, or its tail piece in
  // a page. A free chunk if there is one; else, with `may_evict`, it evicts
  // least recently used entries that free one now (counted as early
  // evictions). kNoSpace when none can. `out` must be valid and incomplete.
  [[nodiscard]] ReserveError Extend(Reservation* out, bool may_evict = true);
  // Begin and Extend until complete (for loads from L2 and tests).
  [[nodiscard]] ReserveError Reserve(std::size_t bytes, Reservation* out);

  // Makes a complete reservation visible under `key`, replacing any entry
  // there, then evicts least recently used entries (never this one) until
  // the objects hold at most the budget less the headroom.
  void Publish(std::string key, const ObjectMeta& meta, Reservation reservation);
  // The same unless `key` is present; returns the entry now under `key`
  // (the reservation's object, or the one that was there first). Null,
  // publishing nothing, while an eviction of `key` is still being told to
  // the listener, or when `still_current` (called under the store's lock:
  // it must not call back into the store) says the value is out of date: a
  // value loaded from below must not land after a newer one left L1.
  // `*published` (if given) says whether the reservation's object is the one
  // returned.
  ObjectRef PublishIfAbsent(std::string key, const ObjectMeta& meta, Reservation reservation,
                            const std::function<bool()>& still_current = {}, bool* published = nullptr);

  // Set once, before the store is shared between threads.
  void SetEvictionListener(EvictionListener listener) { on_evict_ = std::move(listener); }

  // Drops every entry (LMCache's clear(force=True)); not an eviction, so the
  // listener is not told. Pinned bytes go back when their last reader is done.
  void Clear();

  // The object under `key` (marked most recently used), or null.
  ObjectRef Get(std::string_view key);
  bool Contains(std::string_view key) const;
  // Every key, least recently used first.
  std::vector<std::string> Keys() const;
  StoreStats Stats() const;
  std::size_t chunk_bytes() const;
  // Walks the whole store and aborts (LMC_CHECK) on a broken invariant: the
  // LRU list and the index hold the same keys, every chunk is free, whole in
  // one object or reservation, or a page whose pieces are the tails its
  // tenants and reservations hold, and the byte counts add up (indexed +
  // reserved + detached + page slack + free == the pool). O(entries +
  // chunks): for tests and the simulator; the O(1) part (the chunk count
  // identity) is checked on every change anyway.
  void CheckInvariants() const;

 private:
  // The object a complete reservation becomes (not yet in the index).
  ObjectRef MakeObject(std::string key, const ObjectMeta& meta, Reservation& reservation);
  // Evicts until the objects hold at most the budget less the headroom
  // (after a publish; `lock` holds the store's mutex).
  void KeepRoomLocked(std::unique_lock<base::Mutex>& lock);
  std::shared_ptr<Shared> shared_;
  Options options_;
  EvictionListener on_evict_;
};

}  // namespace lmc::store
