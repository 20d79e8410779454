#include "simnet/sim.h"

namespace lmc::simnet::internal {

void Sim::Control() {
  SimEnv& env = *control_env_;
  for (std::size_t i = 0; i < s_.faults.size(); ++i) {
    const FaultEvent& f = s_.faults[i];
    env.SleepUntil(start_ + f.at);
    world_.trace().Add(10, i, static_cast<std::uint64_t>(f.kind));
    const FaultKindInfo& kind = FaultKindOf(f.kind);
    if (!kind.inject(*this, f)) continue;
    net_.Count(std::string(kind.name));
    if (kind.heal == nullptr) continue;
    env.SleepUntil(env.Now() + f.length);
    kind.heal(*this, f);
  }
  env.SleepUntil(start_ + s_.heal_at);
  // Heal: every fault ends, the server is up.
  net_.Heal();
  NetFaults& nf = net_.mutable_faults();
  nf.tail_chance = nf.refuse_chance = nf.accept_fail_chance = 0;
  for (Disk* d : {&server_disk_, &worker_disk_}) {
    d->faults().write_fail_chance = d->faults().short_write_chance = d->faults().sync_fail_chance = 0;
    d->faults().capacity_bytes = std::uint64_t{1} << 30;
  }
  healed_ = true;
  heal_time_ = env.Now();
  control_done_ = true;
}

bool Sim::CrashServer() {
  if (!server_up_) return false;
  server_crashes_.push_back(world_.Now());
  net_.Crash(kServer);
  server_->view->Kill();
  server_disk_.Crash();
  server_up_ = false;
  StopServer(std::move(server_));
  return true;
}

void Sim::RestartServer() {
  net_.Revive(kServer);
  server_ = StartServer();
}

bool Sim::CrashWorker() {
  if (!worker_ || worker_crashed_) return false;
  worker_->view->Kill();
  worker_disk_.Crash();
  worker_crashed_ = true;
  return true;
}

void Sim::FillServerDisk() {
  disk_capacity_before_full_ = server_disk_.faults().capacity_bytes;
  server_disk_.faults().capacity_bytes = server_disk_.used_bytes();
}

bool Sim::RestartRespNode() {
  if (!resp_node_) return false;
  // Back to its last snapshot (the previous restart's): every write since is
  // lost, and every connection dropped. The tier must miss, never serve
  // wrong bytes, and store again once it reconnects.
  resp_node_->Restart();
  resp_node_->Save();
  ++resp_restarts_;
  hits_at_resp_restart_ = L2Hits();
  return true;
}

void Sim::FreeServerDisk() { server_disk_.faults().capacity_bytes = disk_capacity_before_full_; }

}  // namespace lmc::simnet::internal
