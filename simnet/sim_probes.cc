#include "simnet/sim.h"

namespace lmc::simnet {
namespace internal {

// Probes from the counters of the run: the faults the network, the disks
// and the fault table counted, the tier's and the servers' paths.
void Sim::ProbeCounters(Outcome* out) {
  // The live incarnation's, added to the dead ones' (one snapshot).
  const tier::TierStats t = server_ && server_->tier ? server_->tier->Stats() : tier::TierStats{};
  const std::uint64_t hits = l2_hits_ + t.l2_hits, dropped = evictions_dropped_ + t.evictions_dropped,
                      seen = evictions_seen_ + t.evictions_seen, superseded = superseded_ + t.l2_loads_superseded,
                      recovered = recovered_ + t.recovered, shared = shared_hits_ + t.shared_hits;
  const std::uint64_t accept_errors = accept_errors_ + (server_ ? server_->server->counters().accept_errors.load() : 0);
  Count("tier: evictions", seen);
  Count("tier: evictions dropped", dropped);
  Count("tier: L2 hits", hits);
  Count("tier: loads a newer PUT overtook", superseded);
  Count("tier: keys indexed by the restart scan", recovered);
  Count("server incarnations", incarnation_);
  if (hits > 0) Probe("path: a GET served from L2");
  if (hits > 0 && s_.tier_type == "lm") Probe("path: a GET served from an lm:// tier");
  if (hits > 0 && s_.tier_type == "resp") Probe("path: a GET served from a RESP tier");
  Count("tier: GETs served through the shared pointer", shared);
  if (shared > 0) Probe("path: a GET served through a shared tier's pointer");
  Count("RESP node restarts", resp_restarts_);
  if (resp_restarts_ > 0 && hits > hits_at_resp_restart_)
    Probe("recovery: the RESP node restarted and the tier served from it again");
  if (dropped > 0) Probe("path: an eviction dropped over the pending budget");
  if (superseded > 0) Probe("path: a load from L2 overtaken by a PUT of its key");
  if (accept_errors > 0) Probe("path: the server backed off a failed accept");
  std::uint64_t pinned_full = server_counters_->rejects[static_cast<int>(protocol::Reject::kPinnedFull)].load();
  if (server_)
    pinned_full += server_->server->counters().rejects[static_cast<int>(protocol::Reject::kPinnedFull)].load();
  Count("server: GET hits answered as misses past the pin budget", pinned_full);
  if (pinned_full > 0) Probe("path: a GET hit answered as a miss past the pin budget");
  for (const auto& [name, n] : net_.fault_counts()) out->faults[name] += n;
  for (const Disk* d : {&server_disk_, &worker_disk_})
    for (const auto& [name, n] : d->fault_counts()) out->faults[name] += n;
  for (const auto& [name, n] : out->faults)
    if (n > 0) Probe("fault: " + name);
  if (incarnation_ > 1 && failures_.empty()) Probe("recovery: the server restarted");
}

}  // namespace internal

namespace {
// Besides one per fault kind (faults.h): the random faults the network and
// the disks inject on their own, recoveries, and code paths.
constexpr const char* kOtherProbes[] = {
    "fault: disk crash",
    "fault: refused connect",
    "fault: accept failure",
    "fault: failed write",
    "fault: short write",
    "fault: failed fsync",
    "fault: lying fsync",
    "fault: bit flip",
    "recovery: a client call succeeded after a failed one",
    "recovery: the server restarted",
    "recovery: a restarted server served what its disk tier held",
    "recovery: the worker restarted and loaded a stored object",
    "path: a GET served from L2",
    "path: a GET served from an lm:// tier",
    "path: a GET served from a RESP tier",
    "path: a GET served through a shared tier's pointer",
    "recovery: the RESP node restarted and the tier served from it again",
    "path: a GET missed",
    "path: a stalled PUT closed by the deadline",
    "path: a reader that stopped reading closed by the deadline",
    "path: a GET hit answered as a miss past the pin budget",
    "path: an eviction dropped over the pending budget",
    "path: a load from L2 overtaken by a PUT of its key",
    "path: the server backed off a failed accept",
    "path: a wrapped store failed",
    "path: a wrapped load loaded nothing",
};

// The probes only one tier type reaches.
bool NeedsOtherTier(const std::string& probe, const std::string& tier) {
  const bool resp = probe == "fault: resp restart" || probe.find("RESP") != std::string::npos ||
                    probe.find("shared tier") != std::string::npos;
  const bool lm = probe.find("lm:// tier") != std::string::npos;
  const bool fs = probe == "fault: disk full";
  return (resp && tier != "resp") || (lm && tier != "lm") || (fs && tier == "resp");
}
}  // namespace

std::vector<std::string> DeclaredProbes(const std::string& tier) {
  std::vector<std::string> all;
  for (const FaultKindInfo& k : FaultKinds()) all.push_back("fault: " + std::string(k.name));
  for (const char* other : kOtherProbes) all.emplace_back(other);
  if (!tier.empty()) std::erase_if(all, [&](const std::string& p) { return NeedsOtherTier(p, tier); });
  return all;
}

}  // namespace lmc::simnet
