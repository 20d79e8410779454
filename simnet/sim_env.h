// The runtime seam's second implementation: one process incarnation on a
// simulated node. Its network is the node's SimTransport, its clock the
// world's, its workers are tasks of the world (each job in a context of its
// own, started after a short random delay: the scheduling and disk latency
// of a real worker), its files a DiskView, its generators are seeded from
// the world. CryptoRandom is seeded too: in a simulated world secrets need
// not be secret, and the run must replay.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/env.h"
#include "simnet/disk.h"
#include "simnet/network.h"
#include "simnet/world.h"

namespace lmc::simnet {

class SimEnv final : public runtime::Env {
 public:
  // `files` may be null (a process with no disk: every file call fails).
  SimEnv(World& world, SimTransport& net, DiskView* files, std::uint64_t seed);
  ~SimEnv() override;

  net::Transport& Net() override { return net_; }
  Clock::time_point Now() const override { return world_.Now(); }
  std::uint64_t Random() override { return rng_.Next(); }
  bool CryptoRandom(std::span<std::byte> out) override;
  void Offload(Job job, Priority priority) override;
  void ReserveWorkers(unsigned jobs) override { (void)jobs; }  // a world has a fiber for every blocked job
  std::unique_ptr<runtime::Waiter> MakeWaiter() override { return world_.MakeWaiter(); }
  std::unique_ptr<runtime::Signal> MakeSignal() override;
  runtime::FileSystem& Files() override;

  // Jobs offloaded and not yet finished (the leftover check: none when quiet).
  std::size_t jobs_in_flight() const { return *jobs_; }

 private:
  World& world_;
  SimTransport& net_;
  DiskView* files_;
  std::unique_ptr<runtime::FileSystem> no_files_;
  Rng rng_;
  Rng crypto_;
  std::shared_ptr<std::size_t> jobs_ = std::make_shared<std::size_t>(0);
};

}  // namespace lmc::simnet
