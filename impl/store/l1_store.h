// The L1 store of the reference server: objects keyed by the canonical form
// of their parsed cache key (so "…@0x3039@…" and "…@3039@…" are one entry, as
// on LMCache's Python server), held in a pre-faulted Arena under a byte
// budget, evicted least-recently-used first.
//
// Lifetime rules:
// - A PUT first Reserve()s its bytes (evicting as needed); the reservation
//   is invisible until Publish(), which replaces any entry of that key in one
//   step. A reservation dropped unpublished (a truncated PUT) frees its bytes
//   and is never seen.
// - Get() returns a reference that pins the object: eviction or replacement
//   removes the entry from the index, but its bytes stay valid until the last
//   reference is gone. Pinned bytes still count against the budget.
//
// Thread-safe: one mutex guards the index and the arena.
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
#include "store/arena.h"
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
  std::uint64_t used_bytes = 0;  // in the arena, pinned leftovers included
  std::uint64_t capacity_bytes = 0;
  std::uint64_t evictions = 0;
  std::uint64_t publishes = 0;
  std::uint64_t reserve_failures = 0;  // no room even after evicting every unpinned entry: nothing evicted
  std::uint64_t pinned_skipped = 0;    // eviction passed over an entry a reader pins (it frees nothing now)
};

class L1Store {
  struct Shared;

 public:
  struct Options {
    std::size_t capacity_bytes = std::size_t{1} << 30;
    std::size_t max_object_bytes = std::size_t{1} << 31;  // wire lengths are int32
    // Free room kept after each publish (evicting least recently used
    // entries then, never for a PUT still arriving), so the next PUTs find
    // room without waiting in the server's intake pool. 0: none.
    std::size_t headroom_bytes = 0;
  };

  // An immutable stored object; holding a reference pins its bytes.
  class Object {
   public:
    ~Object();
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    const ObjectMeta& meta() const { return meta_; }
    std::span<const std::byte> data() const { return {data_, size_}; }

   private:
    friend class L1Store;
    Object(std::shared_ptr<Shared> shared, Arena::Block block, std::byte* data, std::size_t size, ObjectMeta meta)
        : shared_(std::move(shared)), block_(block), data_(data), size_(size), meta_(meta) {}
    std::shared_ptr<Shared> shared_;
    Arena::Block block_;
    std::byte* data_;
    std::size_t size_;
    ObjectMeta meta_;
  };
  using ObjectRef = std::shared_ptr<const Object>;
  // Told of every entry eviction removes (not of replaced ones), with the
  // lock released, on the thread that reserved. The reference pins the
  // bytes for as long as the listener keeps it. Must not block.
  using EvictionListener = std::function<void(const std::string& key, const ObjectRef& object)>;

  // Bytes set aside for one PUT. Move-only; unpublished, it frees itself.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&&) noexcept;
    Reservation& operator=(Reservation&&) noexcept;
    ~Reservation();
    std::span<std::byte> data() const { return {data_, size_}; }
    bool valid() const { return shared_ != nullptr; }

   private:
    friend class L1Store;
    void Release();
    std::shared_ptr<Shared> shared_;
    Arena::Block block_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
  };

  enum class [[nodiscard]] ReserveError : std::uint8_t{kOk, kTooLarge, kNoSpace};

  explicit L1Store(Options options);
  ~L1Store();
  L1Store(const L1Store&) = delete;
  L1Store& operator=(const L1Store&) = delete;

  // Sets aside `bytes`, evicting as needed, but only what frees room now:
  // an entry a reader pins (a GET reply being sent) frees nothing until the
  // send ends, so eviction passes over it and it stays stored. The plan is
  // made before anything is evicted:
  // - when the least recently used unpinned entry is at least as large as
  //   the request, entries go in LRU order (objects of one size, LMCache's
  //   workload: each eviction makes the room for one);
  // - else (a request larger than that entry) the contiguous run of free
  //   blocks and unpinned entries that needs the fewest bytes evicted is
  //   chosen, so a large PUT evicts about what it needs, not the store;
  // - when no run of free and unpinned blocks is large enough, it fails at
  //   once (kNoSpace) and evicts nothing.
  // kTooLarge: above max_object_bytes or the whole budget. Never allocates
  // outside the arena.
  [[nodiscard]] ReserveError Reserve(std::size_t bytes, Reservation* out);
  // The same without evicting anything: kNoSpace when no free block fits.
  // A PUT reserves so while its payload is still on the way (an incomplete
  // PUT must not push out what is stored); not counted as a failure.
  [[nodiscard]] ReserveError TryReserve(std::size_t bytes, Reservation* out);

  // Makes the reservation visible under `key`, replacing any entry there.
  void Publish(std::string key, const ObjectMeta& meta, Reservation reservation);
  // The same unless `key` is present; returns the entry now under `key`
  // (the reservation's object, or the one that was there first). Null,
  // publishing nothing, while an eviction of `key` is still being told to
  // the listener, or when `still_current` (called under the store's lock:
  // it must not call back into the store) says the value is out of date: a
  // value loaded from below must not land after a newer one left L1.
  ObjectRef PublishIfAbsent(std::string key, const ObjectMeta& meta, Reservation reservation,
                            const std::function<bool()>& still_current = {});

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
  // Walks the whole store and aborts (LMC_CHECK) on a broken invariant: the
  // LRU list and the index hold the same keys, the indexed bytes are the
  // sum of the entries', and the arena's free list adds up (Arena's own
  // CheckInvariants). O(entries): for tests and the simulator; the O(1) part
  // (the byte identity) is checked on every change anyway.
  void CheckInvariants() const;

 private:
  struct Entry;
  // Evicts the least recently used entry; `lock` holds shared_->mu and is
  // released around the listener call.
  [[nodiscard]] ReserveError ReserveImpl(std::size_t bytes, bool may_evict, Reservation* out);
  // Evicts the entry under `key`; `lock` holds shared_->mu and is released
  // around the listener call.
  void EvictLocked(std::unique_lock<base::Mutex>& lock, const std::string& key);
  // Evicts until headroom_bytes are free (after a publish, under `lock`).
  void KeepHeadroomLocked(std::unique_lock<base::Mutex>& lock);
  std::shared_ptr<Shared> shared_;
  Options options_;
  EvictionListener on_evict_;
};

}  // namespace lmc::store
