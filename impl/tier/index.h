// The tier's index: for each key held below L1, the newest entry (what was
// evicted, under which L2 object key, which adapters hold it, the staging
// copy while it is being written), and the write-back's counters. One lock,
// never held across a copy, an adapter call, or a wait: EXIST and LIST take
// it on I/O threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/mutex.h"
#include "l2/adapter.h"
#include "l2/temp_pool.h"
#include "runtime/env.h"
#include "runtime/wait_list.h"
#include "store/l1_store.h"

namespace lmc::tier {

struct TierStats {
  std::uint64_t evictions_seen = 0;
  std::uint64_t evictions_dropped = 0;  // over max_pending_bytes, or no adapter could take it
  std::uint64_t stores_ok = 0;          // per adapter task
  std::uint64_t stores_failed = 0;
  std::uint64_t l2_hits = 0;              // GETs answered from L2 (or from a pending write): the promotion's
  std::uint64_t l2_load_failures = 0;     // indexed, but no adapter produced it in time: the promotion's
  std::uint64_t l2_loads_superseded = 0;  // loaded, but a PUT of the key had reached L1 first: its value answered
  std::uint64_t indexed = 0;              // keys held below L1 now
  std::uint64_t records_failed = 0;       // objects stored whose record was not: not served after a restart
  std::uint64_t recovered = 0;            // keys indexed from an earlier run's records (the restart scan)
  std::uint64_t recovery_skipped = 0;     // records that did not parse, failed their check, or lost their object
  bool recovering = false;                // the restart scan is running
  std::uint64_t shared_lookups = 0;       // misses looked up in the shared adapter (TierOptions::shared)
  std::uint64_t shared_hits = 0;          // of which served from another writer's object
  std::uint64_t pending_bytes = 0;
};

// One evicted value of a key. The fields above the line are fixed once it
// is indexed; those below are the index's, read and written under its lock.
struct Entry {
  std::string key;
  l2::ObjectKey okey;
  store::ObjectMeta meta;
  serde::Layout layout;
  // ----
  std::shared_ptr<l2::TempPool::Buffer> staged;  // a copy, while being written
  std::size_t writes_left = 0;
  std::uint64_t stored_mask = 0;  // adapters that hold it
  bool superseded = false;        // a newer value of the key was evicted
  std::uint64_t written_ns = 0;   // the record's: the newest recovered value of a key wins
  bool recovered = false;         // indexed by the restart scan, from an earlier run's record
  // The L1 object last loaded from it. A weak reference, not an address:
  // once that object is gone (replaced by a PUT), its block may come back
  // under a newer value of the key, which must not pass for it.
  std::weak_ptr<const store::L1Store::Object> promoted;
};

class Index {
 public:
  // Deletes of superseded copies go to these (the tier's adapters, in order).
  explicit Index(std::vector<std::shared_ptr<l2::L2Adapter>> adapters) : adapters_(std::move(adapters)) {}

  // An eviction of `key` holding `object`: counted. False if `object` is
  // the very object promoted from an entry already written (its L2 copy is
  // kept, nothing to write); else any older entry of the key is superseded
  // and the caller writes the object.
  [[nodiscard]] bool OnEviction(const std::string& key, const store::L1Store::ObjectRef& object);
  // Indexes `e` (staged, with writes_left set) as the newest value of its
  // key, superseding any other; false (dropped) once closed.
  [[nodiscard]] bool Insert(const std::shared_ptr<Entry>& e);
  // One adapter's write of `e` completed.
  void OnWriteDone(const std::shared_ptr<Entry>& e, std::size_t adapter, bool ok);

  // What a fetch needs: the entry and, while it is being written, its copy.
  struct Found {
    std::shared_ptr<const Entry> entry;
    std::shared_ptr<l2::TempPool::Buffer> staged;
    std::uint64_t stored_mask = 0;
  };
  [[nodiscard]] std::optional<Found> Find(const std::string& key);
  // Whether `e` is still the newest value of its key below L1 (no newer
  // value was evicted since it was found). L1 calls it under its lock while
  // a loaded value is published: it takes only the index's lock.
  [[nodiscard]] bool IsCurrent(const std::shared_ptr<const Entry>& e);
  // `object` was loaded from `e` and published in L1.
  void SetPromoted(const std::shared_ptr<const Entry>& e, const store::L1Store::ObjectRef& object);

  // The restart scan: while it runs, the keys this run evicts are noted so
  // that no earlier run's value of them is indexed after.
  void SetRecovering(bool on);
  bool recovering() const;
  // Blocks (a worker, never an I/O loop) until the restart scan has ended
  // or the index closed, or `deadline`.
  void WaitRecovered(runtime::Env& env, runtime::Clock::time_point deadline);
  // Indexes `e` (no staged copy, no write left), found by the restart scan,
  // unless this run has evicted a value of its key or a newer record of it
  // is indexed. The loser's copies stay where they are.
  [[nodiscard]] bool Recover(const std::shared_ptr<Entry>& e);

  bool Contains(const std::string& key);
  // A shared tier's guard (TierOptions::shared): keys of which this server
  // evicted a value in this run, in a table of `slots` key hashes (0: none
  // kept). A key it evicted and no longer indexes had its newest value here
  // lost (a failed write): the shared pointer may still name an older value,
  // so such a key is a miss, not a shared look-up. A key whose slot another
  // key took since is forgotten (the table is bounded; docs/L2.md).
  void KeepEvictedKeys(std::size_t slots);
  bool EvictedHere(const std::string& key);
  std::vector<std::string> Keys();

  void Count(std::uint64_t TierStats::*counter);
  TierStats Stats() const;

  // From here on fetches miss and evictions are dropped.
  void Close();
  bool closed() const;
  // Waits until no write is pending, or `deadline`; false at the deadline.
  [[nodiscard]] bool WaitForWrites(runtime::Env& env, runtime::Clock::time_point deadline);

 private:
  using Deletes = std::vector<std::shared_ptr<Entry>>;
  // Drops the entry of `key`; its L2 copies go into `deletes` if written.
  void SupersedeLocked(const std::string& key, Deletes* deletes);
  // Deletes those copies, after the lock is released.
  void Delete(const Deletes& deletes);
  // The bookkeeping of OnWriteDone; true if `e`'s copies are to be deleted.
  bool RecordWrite(const std::shared_ptr<Entry>& e, std::size_t adapter, bool ok);

  const std::vector<std::shared_ptr<l2::L2Adapter>> adapters_;
  mutable base::Mutex mu_;
  bool closed_ = false;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;  // newest entry per key
  bool recovering_ = false;
  std::unordered_set<std::string> evicted_while_recovering_;
  std::size_t writes_pending_ = 0;  // adapter writes not yet completed
  runtime::WaitList idle_;          // WaitForWrites callers
  runtime::WaitList scan_waiters_;  // WaitRecovered callers
  TierStats stats_;
  std::vector<std::uint64_t> evicted_;  // KeepEvictedKeys' table: key hashes, 0 = empty
};

}  // namespace lmc::tier
