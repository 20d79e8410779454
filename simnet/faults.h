// The fault kinds a simulated run schedules, in one table. Each entry says
// how often Draw picks the kind, what it becomes when the scenario lacks
// what it needs, how the control actor injects it and heals it, and the
// name it is described, counted and probed under ("fault: NAME"). Adding a
// fault kind is its enumerator in FaultEvent::Kind and its entry here: the
// draw, the control actor, the verbose output and the declared probes all
// read the table.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "simnet/network.h"
#include "simnet/scenario.h"
#include "simnet/world.h"

namespace lmc::simnet {

// What a fault acts on; the harness's Sim lends itself.
class FaultTarget {
 public:
  virtual ~FaultTarget() = default;
  virtual Network& net() = 0;
  virtual Rng& rng() = 0;  // the world's scheduling generator
  virtual Time now() = 0;
  virtual std::string server_node() = 0;
  virtual std::string NodeOf(int target) = 0;  // client `target`'s node; -1: the lm:// tier's backend
  virtual bool CrashServer() = 0;              // false when it is down already
  virtual void RestartServer() = 0;
  virtual bool CrashWorker() = 0;  // false when there is no worker, or it is down
  virtual void FillServerDisk() = 0;
  virtual void FreeServerDisk() = 0;
  virtual bool RestartRespNode() = 0;  // false when there is none
};

struct FaultKindInfo {
  FaultEvent::Kind kind;
  std::string_view name;
  std::uint64_t weight;  // percent of drawn faults; the table adds up to 100
  // Whether the scenario has what the fault needs (null: always); when it
  // has not, the fault drawn is `instead`.
  bool (*fits)(const Scenario&);
  FaultEvent::Kind instead;
  bool may_cut_backend;  // a partition may cut off the lm:// tier's backend
  // False when there was nothing to act on: then it is neither counted nor
  // healed.
  bool (*inject)(FaultTarget&, const FaultEvent&);
  // Run `length` after the injection; null when the fault ends by itself
  // (the network times clogs and partitions) or never does.
  void (*heal)(FaultTarget&, const FaultEvent&);
};

inline constexpr std::size_t kFaultKindCount = static_cast<std::size_t>(FaultEvent::Kind::kCount);
const std::array<FaultKindInfo, kFaultKindCount>& FaultKinds();
const FaultKindInfo& FaultKindOf(FaultEvent::Kind k);
// One kind by the table's weights: one draw of r.Below(100).
FaultEvent::Kind DrawFaultKind(Rng& r);

}  // namespace lmc::simnet
