// A simulated disk: the file calls of runtime::FileSystem over memory, with
// a durability model and the faults of DiskFaults drawn from the seed.
//
// Durability. A file's bytes are durable up to what its last true Sync
// covered; a folder's entries (creations, renames, removals) are durable as
// of its last SyncDirectory. Crash() keeps the durable state and, of the
// rest, a random prefix of each file's unsynced bytes (a torn write) and,
// per folder, either the durable entries or the live ones. A lying fsync
// answers kOk and makes nothing durable.
//
// A disk outlives the processes that use it: each process incarnation gets
// a DiskView, which fails every call once its process has crashed, so a
// dead server's last jobs cannot write after its death.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/env.h"
#include "simnet/world.h"

namespace lmc::simnet {

struct DiskFaults {
  double write_fail_chance = 0.0;                         // an Append writes nothing and fails (kIo)
  double short_write_chance = 0.0;                        // an Append writes a part, then fails (kIo)
  double sync_fail_chance = 0.0;                          // a Sync or SyncDirectory fails (kIo)
  double fsync_lie_chance = 0.0;                          // a Sync says kOk but makes nothing durable
  double bit_flip_chance = 0.0;                           // opt-in: a ReadFile returns one bit flipped
  std::uint64_t capacity_bytes = std::uint64_t{1} << 30;  // beyond: kNoSpace
  // Each Sync (and SyncDirectory) blocks its worker this long at most
  // (drawn uniformly), so write-backs pile up as on a real disk.
  Duration sync_latency_max = std::chrono::microseconds(0);
};

class Disk {
 public:
  Disk(World& world, DiskFaults faults);
  DiskFaults& faults() { return faults_; }
  // The process died: only the durable state, plus what the model keeps.
  void Crash();
  std::uint64_t used_bytes() const;
  // Regular files under `folder` (full paths), in order.
  std::vector<std::string> FilesUnder(const std::string& folder) const;
  const std::map<std::string, std::uint64_t>& fault_counts() const { return fault_counts_; }

  struct Inode {
    std::vector<std::byte> data;
    std::size_t durable = 0;  // bytes a crash keeps for sure
  };
  // The live and the durable entries: path -> file, and the folders.
  struct Entries {
    std::map<std::string, std::shared_ptr<Inode>> files;
  };

 private:
  friend class DiskView;
  // A Sync or SyncDirectory by a process that is `alive`: blocks the
  // calling worker for its latency, then draws its faults.
  enum class Sync : std::uint8_t { kDurable, kFailed, kLied };
  Sync SyncFaults(const bool& alive);
  World& world_;
  DiskFaults faults_;
  Rng rng_;
  std::set<std::string> dirs_;
  Entries live_, durable_;
  std::map<std::string, std::uint64_t> fault_counts_;
};

// One process incarnation's file system on a disk.
class DiskView final : public runtime::FileSystem {
 public:
  explicit DiskView(Disk& disk) : disk_(disk), alive_(std::make_shared<bool>(true)) {}
  // Every later call fails with kIo (the process is gone).
  void Kill() { *alive_ = false; }
  // Files this incarnation created that are still at their created path:
  // temp files a failed store should have removed (none when quiet).
  const std::set<std::string>& created() const { return created_; }

  runtime::FsError CreateDirectories(const std::string& path) override;
  runtime::FsError NewWritableFile(const std::string& path, std::unique_ptr<runtime::WritableFile>* file) override;
  runtime::FsError RenameNoReplace(const std::string& from, const std::string& to) override;
  runtime::FsError SyncDirectory(const std::string& path) override;
  runtime::FsError Remove(const std::string& path) override;
  runtime::FsError FileSize(const std::string& path, std::uint64_t* size) override;
  runtime::FsError ReadFile(const std::string& path, std::span<std::byte> dst, std::size_t* size,
                            runtime::Links links) override;
  runtime::FsError List(const std::string& path, std::vector<std::string>* names) override;

 private:
  class File;
  Disk& disk_;
  std::shared_ptr<bool> alive_;
  std::set<std::string> created_;
};

}  // namespace lmc::simnet
