// The production runtime: real sockets (an AsioTransport), a pool of worker
// threads, the system clock's steady time, POSIX files, eventfds and the
// kernel's random source. The only place in impl/, with net/asio_transport,
// that touches threads, clocks, randomness or files (tests/seam_check.sh).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>

#include "base/mutex.h"
#include "net/asio_transport.h"
#include "runtime/env.h"
#include "runtime/job_pool.h"

namespace lmc::runtime {

struct ProcessEnvOptions {
  // Worker threads for Offload outside any TaskGroup. Each TaskGroup adds
  // its own limit (ReserveWorkers), so the pool holds one thread for every
  // job that may run at once, as if each component had its own threads.
  unsigned workers = 1;
  std::uint64_t seed = 0;  // for Random()
};

// The POSIX file system (never follows a symbolic link at the last
// component; retries EINTR).
class PosixFileSystem final : public FileSystem {
 public:
  FsError CreateDirectories(const std::string& path) override;
  FsError NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  FsError RenameNoReplace(const std::string& from, const std::string& to) override;
  FsError SyncDirectory(const std::string& path) override;
  FsError Remove(const std::string& path) override;
  FsError FileSize(const std::string& path, std::uint64_t* size) override;
  FsError ReadFile(const std::string& path, std::span<std::byte> dst, std::size_t* size, Links links) override;
  FsError List(const std::string& path, std::vector<std::string>* names) override;
};

class ProcessEnv final : public Env {
 public:
  // Over `net`, which the caller runs and which outlives this env.
  explicit ProcessEnv(net::Transport& net, ProcessEnvOptions options = {});
  // Over an AsioTransport of its own (one loop on a background thread):
  // for tools and tests that have no loop of their own.
  explicit ProcessEnv(ProcessEnvOptions options = {});
  // Runs the queued jobs, joins the workers, then stops its own transport.
  ~ProcessEnv() override;
  ProcessEnv(const ProcessEnv&) = delete;
  ProcessEnv& operator=(const ProcessEnv&) = delete;

  net::Transport& Net() override { return *net_; }
  Clock::time_point Now() const override { return net_->Now(); }
  std::uint64_t Random() override;
  bool CryptoRandom(std::span<std::byte> out) override;
  void Offload(Job job, Priority priority) override { workers_.Enqueue(std::move(job), priority == Priority::kUrgent); }
  void ReserveWorkers(unsigned jobs) override { workers_.AddThreads(jobs); }
  std::unique_ptr<Waiter> MakeWaiter() override;
  std::unique_ptr<Signal> MakeSignal() override;
  FileSystem& Files() override { return files_; }

 private:
  std::unique_ptr<net::AsioTransport> own_net_;
  net::Transport* net_;
  base::Mutex rng_mu_;
  std::mt19937_64 rng_;
  PosixFileSystem files_;
  JobPool workers_;  // last: its threads stop before the rest is destroyed
};

}  // namespace lmc::runtime
