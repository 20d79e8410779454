// The runtime seam: everything the kit's code needs from the world, behind
// one interface, so that the same server, client, tiers, adapters and
// serdes run over real sockets, threads and files (ProcessEnv, the
// production implementation in process_env.h) or inside a simulated world
// that replays from one seed (simnet/, the second implementation).
//
// The seam holds:
// - the network: Net() is a net::Transport (streams, listeners, loop timers,
//   posting to a loop); its clock is the only clock (Now());
// - blocking work off the I/O loops: Offload() runs a job on a worker;
// - waiting: a Waiter is the only way a thread blocks (with a deadline);
// - randomness: Random() is the one seeded generator every random choice
//   draws from; CryptoRandom() is the separate source for secrets (aesgcm
//   IVs, run salts), never seeded, never replayed;
// - files: Files() holds the calls the fs back end makes;
// - signals: a Signal is a pollable count for callers outside the kit
//   (LMCache's adapter and serde contracts expose eventfds); nothing inside
//   the kit waits on one.
//
// Outside this folder's production implementation and net/asio_transport,
// impl/ has no threads, condition variables, futures, sleeps, clocks, OS
// randomness or file-system calls: tests/seam_check.sh greps for them.
//
// Threading rules (docs/ARCHITECTURE.md has the whole picture):
// - Every method of Env, FileSystem, Waiter and Signal may be called from
//   any thread, loop threads included, except that Waiter::WaitUntil blocks
//   and so must never run on an I/O loop.
// - A job given to Offload runs on a worker, never inline in Offload, and
//   may block (files, a bounded wait); a handler on a loop must not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/transport.h"

namespace lmc::runtime {

using Clock = net::Clock;

// A one-shot event a thread can block on. Notify() from any thread; a wait
// after it returns at once.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void Notify() = 0;
  // Blocks until Notify() or `deadline`; true if notified. Never on a loop.
  [[nodiscard]] virtual bool WaitUntil(Clock::time_point deadline) = 0;
};

// A pollable completion count for callers outside the kit (an eventfd in
// production: one 8-byte count added per Raise; poll() it, read() it).
class Signal {
 public:
  virtual ~Signal() = default;
  // The descriptor a caller may poll; -1 where there is none (simulated).
  virtual int fd() const = 0;
  virtual void Raise() = 0;
  // Clears the count (for callers that wait on fd()).
  virtual void Clear() = 0;
};

enum class [[nodiscard]] FsError : std::uint8_t{
    kOk = 0,
    kNotFound,  // no such file or folder
    kExists,    // the target exists (exclusive create, rename without replace)
    kNoSpace,   // the disk is full
    kTooLarge,  // the file does not fit the buffer given
    kNotFile,   // not a regular file (a folder, a link, a device)
    kIo,        // any other failure
};
[[nodiscard]] std::string_view FsErrorName(FsError e);

// A file being written: appended to, synced, closed. Closing is part of
// writing (a close may report a failed write); the destructor closes too.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  [[nodiscard]] virtual FsError Append(std::span<const std::byte> bytes) = 0;
  [[nodiscard]] virtual FsError Sync() = 0;
  [[nodiscard]] virtual FsError Close() = 0;
};

// Whether a call follows a symbolic link at the path's last component.
enum class Links : std::uint8_t {
  kRefuse,  // the fs back end: a link planted in its folder is never followed
  kFollow,  // configuration files (a key mounted as a Kubernetes secret is a link)
};

// The file calls the fs back end (and configuration) make. Paths are plain
// strings; only ReadFile with Links::kFollow follows a symbolic link at the
// last component.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  [[nodiscard]] virtual FsError CreateDirectories(const std::string& path) = 0;
  // Creates `path`, failing with kExists if anything is there.
  [[nodiscard]] virtual FsError NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // Renames `from` to `to`, atomically, failing with kExists if `to` exists.
  [[nodiscard]] virtual FsError RenameNoReplace(const std::string& from, const std::string& to) = 0;
  // Makes the folder's entries (a rename into it) durable.
  [[nodiscard]] virtual FsError SyncDirectory(const std::string& path) = 0;
  [[nodiscard]] virtual FsError Remove(const std::string& path) = 0;
  // The size of the regular file at `path` (kNotFile for anything else).
  [[nodiscard]] virtual FsError FileSize(const std::string& path, std::uint64_t* size) = 0;
  // Reads the whole regular file at `path` into `dst`; kTooLarge if it does
  // not fit (nothing is read then). `*size` is the bytes read.
  [[nodiscard]] virtual FsError ReadFile(const std::string& path, std::span<std::byte> dst, std::size_t* size,
                                         Links links) = 0;
  // The names in folder `path` (not "." or ".."), in no particular order.
  [[nodiscard]] virtual FsError List(const std::string& path, std::vector<std::string>* names) = 0;
};

class Env {
 public:
  // A job for a worker. `closing` is true when it runs because its runner
  // is shutting down (it then runs at once on the caller's thread): it
  // should complete its task as failed without doing the work.
  using Job = std::function<void(bool closing)>;
  enum class Priority : std::uint8_t { kNormal, kUrgent };

  virtual ~Env() = default;
  virtual net::Transport& Net() = 0;
  // The one clock (the transport's).
  virtual Clock::time_point Now() const = 0;
  // The one seeded generator: a uniform 64-bit draw. Thread-safe.
  [[nodiscard]] virtual std::uint64_t Random() = 0;
  // Secrets (aesgcm IVs, run salts): never from the seeded generator. False
  // if the source failed (nothing may then be encrypted).
  [[nodiscard]] virtual bool CryptoRandom(std::span<std::byte> out) = 0;
  // Runs `job` on a worker, urgent jobs first (a GET waiting on an L2 load
  // must not queue behind a backlog of eviction writes).
  virtual void Offload(Job job, Priority priority) = 0;
  // A component will run up to `jobs` jobs at once, which may block (file
  // calls, an lm:// call): the Env makes room for them, so one component's
  // blocked jobs never starve another's (each TaskGroup reserves its limit).
  virtual void ReserveWorkers(unsigned jobs) = 0;
  [[nodiscard]] virtual std::unique_ptr<Waiter> MakeWaiter() = 0;
  // Throws std::runtime_error if the OS cannot make one (start-up only).
  [[nodiscard]] virtual std::unique_ptr<Signal> MakeSignal() = 0;
  virtual FileSystem& Files() = 0;

  // Blocks the calling thread (never a loop) until `deadline`.
  void SleepUntil(Clock::time_point deadline) { (void)MakeWaiter()->WaitUntil(deadline); }
};

}  // namespace lmc::runtime
