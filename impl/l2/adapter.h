// The L2 adapter interface (serde.md §6.1): batched, asynchronous store,
// lookup-and-lock and load of objects by ObjectKey, each submit returning a
// task id. Completion is observable on three pollable event fds (store,
// lookup, load; distinct within and across adapters: one 8-byte count is
// added per completed task) and through the results below, which are
// consume-once as LMCache's are: a second query of an id returns nullopt.
//
// Thread-safe: LMCache's store and prefetch controllers call concurrently.
// Buffers passed to a submit must stay valid until its task completes.
//
// The task ids, results and fds are the edge: LMCache's contract, for
// callers outside the kit. The kit's own callers (the serde wrapper, the
// server's tiers) use StoreThen and LoadThen, which complete through a
// callback with no fd, no poll and no thread in between; every adapter
// builds its edge on them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "serde/serde.h"

namespace lmc::l2 {

using TaskId = std::uint64_t;
using Bitmap = std::vector<bool>;
using serde::ObjectKey;

struct StoreItem {
  ObjectKey key;
  std::span<const std::byte> bytes;
  // The object's shapes and dtypes: required by the serde wrapper, ignored by
  // raw adapters. A batch whose items all have none passes a serde wrapper
  // unserialised (the server's tier stores its small records so).
  const serde::Layout* layout = nullptr;
};

struct LoadItem {
  ObjectKey key;
  std::span<std::byte> dst;
  const serde::Layout* layout = nullptr;  // as in StoreItem
  // true: the key loads only if the stored object has exactly dst.size()
  // bytes (LMCache's "read until the buffer is full", minus its quirk of
  // accepting a longer file). false: any object that fits in dst loads, and
  // its size is reported (variable-size serde blobs).
  bool exact = true;
};

struct LoadResult {
  Bitmap loaded;                   // one bit per key, in submit order
  std::vector<std::size_t> sizes;  // bytes loaded per key (0 where not loaded)
};

struct AdapterStatus {
  bool is_healthy = true;
  std::string type;
  std::string detail;
};

class L2Adapter {
 public:
  virtual ~L2Adapter() = default;

  // `done` runs exactly once, when the task completes, on the thread that
  // completed it (a worker of the adapter's Env, or the caller's own thread
  // when the adapter is closed or the batch fails before any work). It must
  // not block and must not call Close().
  using StoreDone = std::function<void(bool ok)>;
  using LoadDone = std::function<void(LoadResult)>;
  virtual void StoreThen(std::vector<StoreItem> items, StoreDone done) = 0;
  virtual void LoadThen(std::vector<LoadItem> items, LoadDone done) = 0;

  [[nodiscard]] virtual TaskId SubmitStore(std::vector<StoreItem> items) = 0;
  // Every store task completed since the last call: id -> success (task
  // level: false if any key failed; keys stored before and after stay).
  [[nodiscard]] virtual std::map<TaskId, bool> PopCompletedStores() = 0;

  [[nodiscard]] virtual TaskId SubmitLookupAndLock(std::vector<ObjectKey> keys) = 0;
  [[nodiscard]] virtual std::optional<Bitmap> QueryLookupAndLock(TaskId id) = 0;
  // Fire and forget; must eventually succeed.
  virtual void SubmitUnlock(std::vector<ObjectKey> keys) = 0;

  [[nodiscard]] virtual TaskId SubmitLoad(std::vector<LoadItem> items) = 0;
  [[nodiscard]] virtual std::optional<LoadResult> QueryLoad(TaskId id) = 0;

  // Fire and forget (LMCache's newer `delete`).
  virtual void SubmitDelete(std::vector<ObjectKey> keys) = 0;

  virtual int store_event_fd() const = 0;
  virtual int lookup_event_fd() const = 0;
  virtual int load_event_fd() const = 0;

  virtual AdapterStatus ReportStatus() const = 0;
  // The kit's own, with no LMCache counterpart: every object key the adapter
  // holds (the server tier's restart scan), through `done` as the other
  // completions; nullopt where the adapter cannot list (lm://).
  using ListDone = std::function<void(std::optional<std::vector<ObjectKey>>)>;
  virtual void ListThen(ListDone done) { done(std::nullopt); }
  // Finishes or fails every submitted task, then stops; idempotent. Later
  // submits complete at once as failed.
  virtual void Close() = 0;
};

}  // namespace lmc::l2
