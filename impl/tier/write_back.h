// The tier's write-back: what L1 evicts is copied into a staging buffer (so
// L1 gets its room back at once) and written to every adapter, as one
// single-object store task each, under a new L2 object key. At most
// `max_pending_bytes` are staged; an eviction beyond that is dropped
// (counted), and the object is gone. Once an adapter holds the object, its
// record (tier/record.h) is stored beside it, raw: what lets a restarted
// server serve it again.
//
// Runs on the thread that evicted (an I/O thread publishing a PUT, or a
// worker promoting a load): the copy, then non-blocking submits. The
// writes complete on the adapters' workers.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "l2/adapter.h"
#include "l2/temp_pool.h"
#include "runtime/env.h"
#include "store/l1_store.h"
#include "tier/index.h"

namespace lmc::tier {

class WriteBack {
 public:
  // `run_salt` names this run's objects (see TierOptions::run_id). `shared`:
  // each write to the first adapter also sets the key's pointer (record.h).
  // The index is shared with the writes' completions, so a completion never
  // outlives it.
  WriteBack(runtime::Env& env, std::shared_ptr<Index> index, std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
            std::string run_salt, std::size_t max_pending_bytes, bool shared = false);
  void OnEvict(const std::string& key, const store::L1Store::ObjectRef& object);
  // Each adapter's ReportStatus().type (at most kRecordWriterMax bytes): what
  // this run's records name as their writer, and the restart scan checks.
  const std::vector<std::string>& writers() const { return writers_; }

 private:
  // The L2 object key of the next write of `key` (ObjectKeyFor: the run
  // salt and a sequence number).
  l2::ObjectKey NameFor(const std::string& key);

  runtime::Env& env_;
  const std::shared_ptr<Index> index_;
  const std::vector<std::shared_ptr<l2::L2Adapter>> adapters_;
  std::vector<std::string> writers_;  // each adapter's ReportStatus().type, for its records
  const std::string run_salt_;
  std::shared_ptr<l2::TempPool> staging_;
  std::atomic<std::uint64_t> next_seq_{0};
  const bool shared_;
};

}  // namespace lmc::tier
