#include "simnet/disk.h"

#include <algorithm>
#include <cstring>

namespace lmc::simnet {

using runtime::FsError;

namespace {

std::string ParentOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

Disk::Disk(World& world, DiskFaults faults) : world_(world), faults_(faults), rng_(world.sched_rng().Next()) {}

std::uint64_t Disk::used_bytes() const {
  std::set<const Inode*> seen;
  std::uint64_t n = 0;
  for (const auto& [path, inode] : live_.files)
    if (seen.insert(inode.get()).second) n += inode->data.size();
  return n;
}

std::vector<std::string> Disk::FilesUnder(const std::string& folder) const {
  std::vector<std::string> out;
  const std::string prefix = folder + "/";
  for (const auto& [path, inode] : live_.files)
    if (path.compare(0, prefix.size(), prefix) == 0) out.push_back(path);
  return out;
}

Disk::Sync Disk::SyncFaults(const bool& alive) {
  if (!alive) return Sync::kFailed;
  // The sync's latency: the calling worker blocks (never a loop).
  const auto max = static_cast<std::uint64_t>(faults_.sync_latency_max.count());
  if (max > 0 && !world_.InHandler()) {
    const Duration d(static_cast<Duration::rep>(rng_.Below(max + 1)));
    (void)world_.MakeWaiter()->WaitUntil(world_.Now() + d);
  }
  if (!alive) return Sync::kFailed;  // the process died meanwhile
  if (rng_.Chance(faults_.sync_fail_chance)) {
    ++fault_counts_["failed fsync"];
    return Sync::kFailed;
  }
  if (rng_.Chance(faults_.fsync_lie_chance)) {
    ++fault_counts_["lying fsync"];
    return Sync::kLied;
  }
  return Sync::kDurable;
}

void Disk::Crash() {
  // Per folder: the durable entries, or (the entries' metadata reached the
  // disk anyway) the live ones.
  std::set<std::string> folders;
  for (const auto& [path, inode] : live_.files) folders.insert(ParentOf(path));
  for (const auto& [path, inode] : durable_.files) folders.insert(ParentOf(path));
  Entries after;
  for (const std::string& folder : folders) {
    const Entries& from = rng_.Chance(0.5) ? live_ : durable_;
    for (const auto& [path, inode] : from.files)
      if (ParentOf(path) == folder) after.files[path] = inode;
  }
  std::set<Inode*> seen;
  for (const auto& [path, inode] : after.files) {
    if (!seen.insert(inode.get()).second) continue;
    const std::size_t extra = inode->data.size() - inode->durable;
    inode->data.resize(inode->durable + rng_.Below(extra + 1));
    inode->durable = inode->data.size();
  }
  live_ = after;
  durable_ = after;
  ++fault_counts_["disk crash"];
}

class DiskView::File final : public runtime::WritableFile {
 public:
  File(Disk& disk, std::shared_ptr<bool> alive, std::shared_ptr<Disk::Inode> inode)
      : disk_(disk), alive_(std::move(alive)), inode_(std::move(inode)) {}
  FsError Append(std::span<const std::byte> bytes) override {
    if (!*alive_ || closed_) return FsError::kIo;
    Rng& rng = disk_.rng_;
    if (rng.Chance(disk_.faults_.write_fail_chance)) {
      ++disk_.fault_counts_["failed write"];
      return FsError::kIo;
    }
    std::size_t n = bytes.size();
    FsError result = FsError::kOk;
    if (n > 0 && rng.Chance(disk_.faults_.short_write_chance)) {
      ++disk_.fault_counts_["short write"];
      n = rng.Below(n);
      result = FsError::kIo;
    }
    const std::uint64_t used = disk_.used_bytes();
    const std::uint64_t room = disk_.faults_.capacity_bytes > used ? disk_.faults_.capacity_bytes - used : 0;
    if (n > room) {
      ++disk_.fault_counts_["disk full"];
      n = static_cast<std::size_t>(room);
      result = FsError::kNoSpace;
    }
    inode_->data.insert(inode_->data.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    return result;
  }
  FsError Sync() override {
    if (closed_) return FsError::kIo;
    const Disk::Sync s = disk_.SyncFaults(*alive_);
    if (s == Disk::Sync::kDurable) inode_->durable = inode_->data.size();
    return s == Disk::Sync::kFailed ? FsError::kIo : FsError::kOk;
  }
  FsError Close() override {
    if (closed_) return FsError::kOk;
    closed_ = true;
    return *alive_ ? FsError::kOk : FsError::kIo;
  }

 private:
  Disk& disk_;
  std::shared_ptr<bool> alive_;
  std::shared_ptr<Disk::Inode> inode_;
  bool closed_ = false;
};

FsError DiskView::CreateDirectories(const std::string& path) {
  if (!*alive_) return FsError::kIo;
  for (std::string p = path; !p.empty(); p = ParentOf(p)) disk_.dirs_.insert(p);
  return FsError::kOk;
}

FsError DiskView::NewWritableFile(const std::string& path, std::unique_ptr<runtime::WritableFile>* file) {
  if (!*alive_) return FsError::kIo;
  if (disk_.dirs_.count(ParentOf(path)) == 0) return FsError::kNotFound;
  if (disk_.live_.files.count(path) != 0 || disk_.dirs_.count(path) != 0) return FsError::kExists;
  auto inode = std::make_shared<Disk::Inode>();
  disk_.live_.files[path] = inode;
  created_.insert(path);
  *file = std::make_unique<File>(disk_, alive_, std::move(inode));
  return FsError::kOk;
}

FsError DiskView::RenameNoReplace(const std::string& from, const std::string& to) {
  if (!*alive_) return FsError::kIo;
  auto it = disk_.live_.files.find(from);
  if (it == disk_.live_.files.end()) return FsError::kNotFound;
  if (disk_.dirs_.count(ParentOf(to)) == 0) return FsError::kNotFound;
  if (disk_.live_.files.count(to) != 0 || disk_.dirs_.count(to) != 0) return FsError::kExists;
  disk_.live_.files[to] = it->second;
  disk_.live_.files.erase(from);
  created_.erase(from);
  return FsError::kOk;
}

FsError DiskView::SyncDirectory(const std::string& path) {
  if (!*alive_) return FsError::kIo;
  if (disk_.dirs_.count(path) == 0) return FsError::kNotFound;
  const Disk::Sync s = disk_.SyncFaults(*alive_);
  if (s != Disk::Sync::kDurable) return s == Disk::Sync::kFailed ? FsError::kIo : FsError::kOk;
  auto& durable = disk_.durable_.files;
  std::erase_if(durable, [&](const auto& kv) { return ParentOf(kv.first) == path; });
  for (const auto& [p, inode] : disk_.live_.files)
    if (ParentOf(p) == path) durable[p] = inode;
  return FsError::kOk;
}

FsError DiskView::Remove(const std::string& path) {
  if (!*alive_) return FsError::kIo;
  created_.erase(path);
  return disk_.live_.files.erase(path) != 0 ? FsError::kOk : FsError::kNotFound;
}

FsError DiskView::FileSize(const std::string& path, std::uint64_t* size) {
  if (!*alive_) return FsError::kIo;
  auto it = disk_.live_.files.find(path);
  if (it == disk_.live_.files.end()) return disk_.dirs_.count(path) ? FsError::kNotFile : FsError::kNotFound;
  *size = it->second->data.size();
  return FsError::kOk;
}

FsError DiskView::ReadFile(const std::string& path, std::span<std::byte> dst, std::size_t* size, runtime::Links links) {
  (void)links;  // the simulated disk has no links
  if (!*alive_) return FsError::kIo;
  auto it = disk_.live_.files.find(path);
  if (it == disk_.live_.files.end()) return disk_.dirs_.count(path) ? FsError::kNotFile : FsError::kNotFound;
  const std::vector<std::byte>& data = it->second->data;
  if (data.size() > dst.size()) return FsError::kTooLarge;
  std::memcpy(dst.data(), data.data(), data.size());
  *size = data.size();
  if (!data.empty() && disk_.rng_.Chance(disk_.faults_.bit_flip_chance)) {
    ++disk_.fault_counts_["bit flip"];
    const std::uint64_t bit = disk_.rng_.Below(data.size() * 8);
    dst[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
  }
  return FsError::kOk;
}

FsError DiskView::List(const std::string& path, std::vector<std::string>* names) {
  if (!*alive_) return FsError::kIo;
  if (disk_.dirs_.count(path) == 0) return FsError::kNotFound;
  names->clear();
  const std::string prefix = path + "/";
  for (const auto& [p, inode] : disk_.live_.files)
    if (ParentOf(p) == path) names->push_back(p.substr(prefix.size()));
  for (const std::string& d : disk_.dirs_)
    if (ParentOf(d) == path) names->push_back(d.substr(prefix.size()));
  return FsError::kOk;
}

}  // namespace lmc::simnet
