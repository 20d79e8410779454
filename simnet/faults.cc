#include "simnet/faults.h"

namespace lmc::simnet {
namespace {

using K = FaultEvent::Kind;

// In the order of FaultEvent::Kind (checked below); the order is also the
// order of the weighted draw, so a seed keeps drawing the same faults.
constexpr std::array<FaultKindInfo, kFaultKindCount> kTable = {{
    {K::kReset, "reset", 22, nullptr, K::kReset, false,
     [](FaultTarget& t, const FaultEvent&) { return t.net().ResetOne(t.rng()); }, nullptr},
    {K::kHalfClose, "half-close", 13, nullptr, K::kHalfClose, false,
     [](FaultTarget& t, const FaultEvent&) { return t.net().HalfCloseOne(t.rng()); }, nullptr},
    {K::kClog, "clog", 13, nullptr, K::kClog, false,
     [](FaultTarget& t, const FaultEvent& f) { return t.net().ClogOne(t.rng(), f.length); }, nullptr},
    {K::kPartition, "partition", 13, nullptr, K::kPartition, true,
     [](FaultTarget& t, const FaultEvent& f) {
       t.net().Partition(t.NodeOf(f.target), t.server_node(), t.now() + f.length);
       return true;
     },
     nullptr},
    {K::kCrashServer, "server crash", 14, nullptr, K::kCrashServer, false,
     [](FaultTarget& t, const FaultEvent&) { return t.CrashServer(); },
     [](FaultTarget& t, const FaultEvent&) { t.RestartServer(); }},
    {K::kCrashWorker, "worker crash", 17, [](const Scenario& s) { return !s.batch_serde.empty(); }, K::kReset, false,
     [](FaultTarget& t, const FaultEvent&) { return t.CrashWorker(); }, nullptr},
    {K::kDiskFull, "disk full", 8, [](const Scenario& s) { return s.tier; }, K::kClog, false,
     [](FaultTarget& t, const FaultEvent&) {
       t.FillServerDisk();
       return true;
     },
     [](FaultTarget& t, const FaultEvent&) { t.FreeServerDisk(); }},
    // Never drawn itself: a RESP tier's disk-full faults become it (Draw).
    {K::kRespRestart, "resp restart", 0, [](const Scenario& s) { return s.tier && s.tier_type == "resp"; }, K::kReset,
     false, [](FaultTarget& t, const FaultEvent&) { return t.RestartRespNode(); }, nullptr},
}};

constexpr bool InOrderAndWhole() {
  std::uint64_t weights = 0;
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].kind) != i || kTable[i].inject == nullptr) return false;
    weights += kTable[i].weight;
  }
  return weights == 100;
}
static_assert(InOrderAndWhole(), "one entry per FaultEvent::Kind, in its order, weights adding up to 100");

}  // namespace

const std::array<FaultKindInfo, kFaultKindCount>& FaultKinds() { return kTable; }

const FaultKindInfo& FaultKindOf(FaultEvent::Kind k) { return kTable[static_cast<std::size_t>(k)]; }

FaultEvent::Kind DrawFaultKind(Rng& r) {
  std::uint64_t roll = r.Below(100);
  for (const FaultKindInfo& k : kTable) {
    if (roll < k.weight) return k.kind;
    roll -= k.weight;
  }
  return kTable.back().kind;
}

}  // namespace lmc::simnet
