#include "simnet/sim_env.h"

#include <cstring>

namespace lmc::simnet {
namespace {

class SimSignal final : public runtime::Signal {
 public:
  int fd() const override { return -1; }
  void Raise() override { ++count_; }
  void Clear() override { count_ = 0; }

 private:
  std::uint64_t count_ = 0;
};

// What a process without a disk sees.
class NoFiles final : public runtime::FileSystem {
  using FsError = runtime::FsError;

 public:
  FsError CreateDirectories(const std::string&) override { return FsError::kIo; }
  FsError NewWritableFile(const std::string&, std::unique_ptr<runtime::WritableFile>*) override { return FsError::kIo; }
  FsError RenameNoReplace(const std::string&, const std::string&) override { return FsError::kIo; }
  FsError SyncDirectory(const std::string&) override { return FsError::kIo; }
  FsError Remove(const std::string&) override { return FsError::kIo; }
  FsError FileSize(const std::string&, std::uint64_t*) override { return FsError::kIo; }
  FsError ReadFile(const std::string&, std::span<std::byte>, std::size_t*, runtime::Links) override {
    return FsError::kIo;
  }
  FsError List(const std::string&, std::vector<std::string>*) override { return FsError::kIo; }
};

}  // namespace

SimEnv::SimEnv(World& world, SimTransport& net, DiskView* files, std::uint64_t seed)
    : world_(world), net_(net), files_(files), rng_(seed), crypto_(seed ^ 0xc0ffee5eedULL) {
  if (files_ == nullptr) no_files_ = std::make_unique<NoFiles>();
}

SimEnv::~SimEnv() = default;

bool SimEnv::CryptoRandom(std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); i += 8) {
    const std::uint64_t v = crypto_.Next();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, out.size() - i));
  }
  return true;
}

void SimEnv::Offload(Job job, Priority priority) {
  // A worker picks the job up after a scheduling delay; urgent jobs sooner.
  const std::uint64_t max_us = priority == Priority::kUrgent ? 20 : 200;
  const Time at = world_.Now() + std::chrono::microseconds(world_.sched_rng().Below(max_us));
  ++*jobs_;
  world_.Schedule(
      at, world_.NewContext(),
      [job = std::move(job), jobs = jobs_] {
        job(false);
        --*jobs;
      },
      /*job=*/true);
}

std::unique_ptr<runtime::Signal> SimEnv::MakeSignal() { return std::make_unique<SimSignal>(); }

runtime::FileSystem& SimEnv::Files() { return files_ ? static_cast<runtime::FileSystem&>(*files_) : *no_files_; }

}  // namespace lmc::simnet
