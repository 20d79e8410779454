// L2 tiers under the server's L1 store (`lmcache-server --l2-adapter`): the
// index (index.h), the write-back (write_back.h) and the promotion
// (promotion.h), put together as the server's MissSource.
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
//   first) and served. Nothing on an I/O thread blocks: the load runs on
//   the adapter's worker, which answers; the GET (and the requests behind
//   it on its connection) waits for it at most `load_timeout`, past which
//   it is a miss.
// - The index lives in memory. Each write goes under a new object key (the
//   cache key's XXH3-128 as chunk hash, a per-run salt and a sequence
//   number), so a file of an earlier value is never read by mistake, and
//   the previous copy of a key is deleted when a newer value of it is
//   evicted. Beside each object goes its record (record.h): at start, the
//   restart scan indexes the newest recorded value of each key that adapters
//   which can list still hold, so a restarted server serves what its disk
//   tier held. Records that do not parse, fail their check, were written by
//   another adapter stack or lost their object are skipped, counted and
//   named in the log, and left where they are.
//   A GET that misses while the scan runs waits for it (on a worker, within
//   its load deadline) and looks again.
// - A newer value of a key (a PUT) supersedes the L2 copy from the moment it
//   is evicted; until then L1 answers first, so the older L2 copy is never
//   served while the newer one is in L1.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "l2/adapter.h"
#include "protocol/miss_source.h"
#include "runtime/env.h"
#include "store/l1_store.h"
#include "tier/index.h"
#include "tier/promotion.h"
#include "tier/write_back.h"

namespace lmc::tier {

struct TierOptions {
  std::chrono::milliseconds load_timeout{5000};
  // Names this run's objects in L2. Must differ from every earlier run's on
  // the same storage: the fs adapter never overwrites, so a reused name
  // would read back an earlier run's bytes. The server draws it from the
  // Env's CryptoRandom.
  std::uint64_t run_id = 0;
  std::size_t max_pending_bytes = std::size_t{256} << 20;
  unsigned copy_workers = 2;  // copies back from staging run on at most this many workers
  // Index what an earlier run left in the adapters that can list (fs,
  // memory): the restart scan, started by Create and run on the adapters'
  // workers.
  bool recover = true;
  // Several servers share the first adapter (a Redis): each write there
  // also sets the key's pointer, and a GET that misses this server's index
  // follows the pointer there (record.h), so what one server evicted
  // another serves. So does an EXIST (SharedBelow), which brings the object
  // into L1 for the GET that follows; LIST answers from this server alone.
  bool shared = false;
  // How many key hashes the shared tier's guard keeps (Index::KeepEvictedKeys).
  std::size_t shared_evicted_slots = std::size_t{1} << 20;
  // Where the scan says what it skipped and what it found (a line each,
  // without a newline); null: nowhere.
  std::function<void(std::string_view)> log = nullptr;
};

class Tier final : public protocol::MissSource {
 public:
  // Installs itself as `l1`'s eviction listener. Adapters are tried in
  // order. `env` outlives the tier.
  [[nodiscard]] static std::shared_ptr<Tier> Create(runtime::Env& env, const std::shared_ptr<store::L1Store>& l1,
                                                    std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
                                                    TierOptions options);
  ~Tier() override;
  Tier(const Tier&) = delete;
  Tier& operator=(const Tier&) = delete;

  // Blocking (never on an I/O loop): FetchAsync, waited for.
  [[nodiscard]] store::L1Store::ObjectRef Fetch(const std::string& key);
  void FetchAsync(std::string key, std::function<void(store::L1Store::ObjectRef)> done) override {
    promotion_.FetchAsync(std::move(key), std::move(done));
  }
  // Index look-ups: never wait for a copy or a load.
  bool Contains(const std::string& key) override { return index_->Contains(key); }
  std::vector<std::string> Keys() override { return index_->Keys(); }
  bool SharedBelow() const override { return options_.shared; }

  TierStats Stats() const;
  // Blocking (never on an I/O loop): until the restart scan has ended, or
  // `deadline`; false at the deadline.
  [[nodiscard]] bool WaitRecovered(runtime::Clock::time_point deadline);
  // Stops evictions and fetches, waits (bounded by the adapters' own
  // deadlines, and 60 s) for the pending writes, then closes the adapters,
  // which answers every load in flight. Idempotent; never from an adapter's
  // callback.
  void Close();

 private:
  Tier(runtime::Env& env, std::shared_ptr<store::L1Store> l1, std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
       TierOptions options);
  struct Recovery;
  void StartRecovery();

  runtime::Env& env_;
  std::shared_ptr<store::L1Store> l1_;
  std::vector<std::shared_ptr<l2::L2Adapter>> adapters_;
  TierOptions options_;
  // Shared with the write-back's completions; the write-back is shared with
  // L1's eviction listener (weakly), never the tier itself: a listener or a
  // completion that ran last must not destroy the tier on a worker.
  std::shared_ptr<Index> index_;
  std::shared_ptr<WriteBack> write_back_;
  Promotion promotion_;
  std::shared_ptr<runtime::Waiter> recovery_done_;  // notified when the restart scan ends
  std::once_flag closed_;
};

// The stats as one line of text, for the server's counters.
std::string FormatStats(const TierStats& s);

// The wire dtype code and shape of an object as a serde layout: the shape's
// leading positive dimensions when their product times the dtype's size is
// the object's length, else one uint8 group of `length` bytes.
serde::Layout LayoutOf(const store::ObjectMeta& meta);

}  // namespace lmc::tier
