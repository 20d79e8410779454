// One simulated run: the real lm:// server (with an fs L2 tier and its
// serde), clients using the real client library, a raw sender whose PUTs
// stop short, and an L2 worker driving the real serde wrapper over the fs
// back end in batches; all on one World, under the scenario's faults.
//
// Checked all the time (each failure is one line in Outcome::failures):
// - a GET hit returns exactly the bytes and metadata of one complete PUT of
//   that key (through a lossy fp8 tier: that PUT's fp8 round trip), never
//   those of a PUT cut short;
// - a GET never returns a client's own older value once that client's newer
//   PUT of the key went out on the same connection, unless the server
//   rejected a request meanwhile (the tier's "never older" rule);
// - a wrapped load returns exact bytes for every key it reports loaded;
//   with honest fsyncs and no bit flips, every key whose store reported
//   success loads, after crashes too, in every batch that asks for it;
// - after every batch no temp buffer, temp file or job is left, and at
//   the end no connection, stream, wait, job or staged byte is;
// - the server never crashes or blocks a loop (the world records that);
// - once the faults heal, every client's HEALTH succeeds within
//   kRecoveryBound.
// Coverage probes name each fault and recovery path; a campaign fails if a
// declared one was never reached (DeclaredProbes).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pcap/pcap.h"
#include "simnet/scenario.h"

namespace lmc::simnet {

// How long after the faults heal (and the server is back) every client
// must have a HEALTH answered.
inline constexpr Duration kRecoveryBound = std::chrono::seconds(10);

struct RunConfig {
  std::uint32_t plants = 0;  // plant::Bug bits
  // Every connection of the run, written as TCP streams (lmcache-sim --pcap).
  pcap::TcpCapture* capture = nullptr;
};

struct Outcome {
  std::vector<std::string> failures;
  std::uint64_t trace_hash = 0;
  std::uint64_t trace_events = 0;
  std::uint64_t steps = 0;
  double sim_seconds = 0;
  double wall_seconds = 0;
  std::map<std::string, std::uint64_t> faults;  // injected, by type
  std::set<std::string> probes;                 // reached
  std::map<std::string, std::uint64_t> counts;  // what the run did (GETs checked, L2 hits, ...)
  bool ok() const { return failures.empty(); }
};

Outcome Run(const Scenario& s, const RunConfig& config);

// Every probe a default campaign must reach.
// `tier`: as Draw's (a campaign with every seed's tier forced leaves out the
// probes only another tier reaches).
std::vector<std::string> DeclaredProbes(const std::string& tier = "");

}  // namespace lmc::simnet
