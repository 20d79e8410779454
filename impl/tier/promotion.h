// The tier's promotion: a GET that missed L1 looks the key up in the index.
// An object still being written is copied back from its staging buffer; an
// object written to L2 is loaded from the first adapter that holds it (then
// the next), straight into an L1 reservation. Either way it is published in
// L1 (unless a PUT got there first) and served; past `load_timeout` the GET
// gets a miss.
//
// Hand-offs: the look-up and the load's submit run on the GET's I/O thread
// (nothing there blocks); the load, its deserialisation and the publish run
// on the adapter's worker, which answers; the staging copy runs on an Env
// worker. A GET served from L2 thus crosses two threads: to the worker and
// back to its connection's loop.
//
// Deadlines: every fetch has the same timeout, so they expire in the order
// the fetches started. One timer on the Env's loop serves them all, armed
// for the oldest fetch still waiting and re-armed when it fires: no timer
// call, and no wake-up of the Env's loop, per GET.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "l2/adapter.h"
#include "runtime/env.h"
#include "runtime/task_group.h"
#include "store/l1_store.h"
#include "tier/index.h"

namespace lmc::tier {

class Promotion {
 public:
  using Done = std::function<void(store::L1Store::ObjectRef)>;
  Promotion(runtime::Env& env, Index& index, std::shared_ptr<store::L1Store> l1,
            std::vector<std::shared_ptr<l2::L2Adapter>> adapters, std::chrono::milliseconds load_timeout,
            unsigned copy_workers, bool shared = false);
  // Calls `done` exactly once, never before returning, on a worker or the
  // Env's loop, within load_timeout (and the timer's own latency).
  void FetchAsync(std::string key, Done done);
  // The GETs answered from L2 and the load failures so far.
  void AddStats(TierStats* s) const;
  ~Promotion();
  // Waits for the staging copies under way. The loads finish when the
  // adapters close (the tier closes them next).
  void Close() { copies_.Close(); }

 private:
  struct Fetch;
  struct Deadlines;
  struct Counters {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> load_failures{0};
    std::atomic<std::uint64_t> superseded{0};
    std::atomic<std::uint64_t> shared_lookups{0};
    std::atomic<std::uint64_t> shared_hits{0};
    std::atomic<std::uint64_t> shared_misses{0};
  };
  // Expires the fetches past their deadline and re-arms the timer.
  static void OnTimer(const std::shared_ptr<Deadlines>& d);
  // Loads from the next adapter in the entry's mask, or fails the fetch.
  void LoadFromNext(const std::shared_ptr<Fetch>& f);
  // Answers the fetch unless it was answered, counting the answer in
  // `count` first (a caller that reads the stats after its answer sees it).
  static void Finish(const std::shared_ptr<Fetch>& f, store::L1Store::ObjectRef object,
                     std::atomic<std::uint64_t>& count);
  // Publishes a value loaded from `entry` unless a newer one is in L1
  // (returned instead) or has already left it (null: a miss).
  store::L1Store::ObjectRef PublishIfCurrent(std::string key, const std::shared_ptr<const Entry>& entry,
                                             store::L1Store::Reservation res, bool* ours = nullptr);
  // Answers a miss after returning (on the Env's loop).
  void MissLater(Done done);
  // Queues the fetch's deadline (and arms the timer).
  void Track(const std::shared_ptr<Fetch>& f, runtime::Clock::time_point deadline);
  // Reserves the fetch's room in L1 (meta.length of its entry) and sets
  // where the adapter loads into; false if L1 has no room.
  bool Prepare(Fetch& f);
  // A key this server's index does not hold, in the shared adapter: its
  // pointer, then its record, then the object (record.h).
  void FetchShared(std::string key, Done done, runtime::Clock::time_point deadline);
  // FetchAsync with the GET's deadline (a GET that waited for the restart
  // scan keeps the one it had).
  void FetchBy(std::string key, Done done, runtime::Clock::time_point deadline);

  runtime::Env& env_;
  Index& index_;
  const std::shared_ptr<store::L1Store> l1_;
  const std::vector<std::shared_ptr<l2::L2Adapter>> adapters_;
  const std::chrono::milliseconds load_timeout_;
  const bool shared_;
  std::shared_ptr<Counters> counters_;    // shared with the fetches
  std::shared_ptr<Deadlines> deadlines_;  // shared with the timer's handler
  runtime::TaskGroup copies_;             // copies back from staging, off the I/O threads
};

}  // namespace lmc::tier
