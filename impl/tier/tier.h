// L2 tiers under the server's L1 store (`lmcache-server --l2-adapter`).
//
// Policy (docs/L2.md has the failure cases):
// - Write-back on eviction: what L1 evicts is copied into a staging buffer
//   (so L1 gets its room back at once) and written to every adapter, as one
//   single-object store task each. At most `max_pending_bytes` are staged;
//   an eviction beyond that is dropped (counted), and the object is gone.
// - An L1 miss looks the key up in the tier's index: an object still being
//   written is copied back from its staging buffer; an object written to L2
//   is loaded from the first adapter that holds it, straight into an L1
//   reservation. Either way it is published in L1 (unless a PUT got there
//   first) and served. The lookup runs on the tier's fetch threads, never
//   on an I/O thread; the GET (and the requests behind it on its
//   connection) waits for it at most `load_timeout`, past which it is a miss.
// - The index lives in memory: what the tier knows is what this process
//   wrote. Each write goes under a new object key (the cache key's XXH3-128
//   as chunk hash, a per-run salt and a sequence number), so a file of an
//   earlier run or an earlier value is never read by mistake, and the
//   previous copy of a key is deleted when a newer value of it is evicted.
// - A newer value of a key (a PUT) supersedes the L2 copy from the moment it
//   is evicted; until then L1 answers first, so the older L2 copy is never
//   served while the newer one is in L1.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "l2/adapter.h"
#include "l2/task_book.h"
#include "l2/temp_pool.h"
#include "protocol/server_session.h"
#include "store/l1_store.h"

namespace lmc::tier {

struct TierOptions {
  std::chrono::milliseconds load_timeout{5000};
  // Names this run's objects in L2. Must differ from every earlier run's on
  // the same storage: the fs adapter never overwrites, so a reused name
  // would read back an earlier run's bytes.
  std::uint64_t run_id = 0;
  std::size_t max_pending_bytes = std::size_t{256} << 20;
  unsigned fetch_threads = 4;  // GETs that miss L1 wait on these, not on I/O threads
};

struct TierStats {
  std::uint64_t evictions_seen = 0;
  std::uint64_t evictions_dropped = 0;  // over max_pending_bytes, or no adapter could take it
  std::uint64_t stores_ok = 0;          // per adapter task
  std::uint64_t stores_failed = 0;
  std::uint64_t l2_hits = 0;           // GETs answered from L2 (or from a pending write)
  std::uint64_t l2_load_failures = 0;  // indexed, but no adapter produced it in time
  std::uint64_t indexed = 0;           // keys held below L1 now
  std::uint64_t pending_bytes = 0;
};

class Tier final : public protocol::MissSource, public std::enable_shared_from_this<Tier> {
 public:
  // Installs itself as `l1`'s eviction listener. Adapters are tried in order.
  [[nodiscard]] static std::shared_ptr<Tier> Create(const std::shared_ptr<store::L1Store>& l1,
                                                    std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
                                                    TierOptions options);
  ~Tier() override;

  // Blocking: waits at most load_timeout.
  [[nodiscard]] store::L1Store::ObjectRef Fetch(const std::string& key);
  // Runs Fetch on one of the tier's fetch threads, then `done`.
  void FetchAsync(std::string key, std::function<void(store::L1Store::ObjectRef)> done) override;
  bool Contains(const std::string& key) override;
  std::vector<std::string> Keys() override;

  TierStats Stats() const;
  // Waits (bounded by the adapters' own deadlines) for the pending writes,
  // then closes the adapters. Later evictions are dropped.
  void Close();

 private:
  struct Entry;
  Tier(std::shared_ptr<store::L1Store> l1, std::vector<std::shared_ptr<l2::L2Adapter>> adapters, TierOptions options);
  void OnEvict(const std::string& key, const store::L1Store::ObjectRef& object);
  void OnAdapterEvent();  // the pump's wake-up: writes done, abandoned loads
  void OnStoreDone(std::size_t adapter, l2::TaskId id, bool ok);
  // Drops the index entry of `key` (a newer value supersedes it); mu_ held.
  void SupersedeLocked(const std::string& key);
  // Publishes `bytes` under `key` in L1 (unless present) and returns L1's
  // entry; null if L1 has no room.
  store::L1Store::ObjectRef Promote(const std::string& key, const store::ObjectMeta& meta,
                                    std::span<const std::byte> bytes);

  std::shared_ptr<store::L1Store> l1_;
  std::vector<std::shared_ptr<l2::L2Adapter>> adapters_;
  TierOptions options_;
  std::string run_salt_;
  std::shared_ptr<l2::TempPool> staging_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a load completed, a write finished
  std::uint64_t generation_ = 0;
  std::uint64_t next_seq_ = 0;
  bool closed_ = false;
  std::unordered_map<std::string, std::shared_ptr<Entry>> index_;  // newest entry per key
  std::map<std::pair<std::size_t, l2::TaskId>, std::shared_ptr<Entry>> stores_in_flight_;
  // Loads whose GET gave up: the buffer (and the layout the task reads) stay
  // alive until the adapter is done with them.
  std::map<std::pair<std::size_t, l2::TaskId>, std::pair<store::L1Store::Reservation, std::shared_ptr<Entry>>>
      abandoned_loads_;
  TierStats stats_;
  l2::EventPump pump_;
  base::JobPool fetchers_;  // last: its threads stop before the rest is destroyed
};

// The stats as one line of text, for the server's counters.
std::string FormatStats(const TierStats& s);

// The wire dtype code and shape of an object as a serde layout: the shape's
// leading positive dimensions when their product times the dtype's size is
// the object's length, else one uint8 group of `length` bytes.
serde::Layout LayoutOf(const store::ObjectMeta& meta);

}  // namespace lmc::tier
