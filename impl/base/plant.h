// Planted bugs: known bugs compiled into every build and dormant unless the
// simulator switches one on (lmcache-sim --plant NAME), so that a campaign
// can show it catches each of them (FoundationDB's BUGGIFY, turned into a
// test of the simulator itself). Nothing outside simnet/ sets them; each
// costs one relaxed load on the (mostly failure) path that holds it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace lmc::plant {

enum class Bug : std::uint32_t {
  kWrapperLeaksTempOnFailure = 1u << 0,    // l2/serde_wrapper.cc
  kServerPublishesTruncatedPut = 1u << 1,  // protocol/server_session.cc
  kTierServesOlderValue = 1u << 2,         // tier/index.cc
  kClientKeepsBrokenConnection = 1u << 3,  // client/client.cc
  kFsSkipsFsync = 1u << 4,                 // l2/backends.cc
  kPromotionOverwritesNewerPut = 1u << 5,  // tier/promotion.cc
  kSharedTierSkipsGuard = 1u << 6,         // tier/index.cc
};

struct Info {
  Bug bug;
  std::string_view name;
  std::string_view what;
};

inline constexpr Info kAll[] = {
    {Bug::kWrapperLeaksTempOnFailure, "wrapper-leaks-temp",
     "the serde wrapper keeps a store's temp buffers when the inner store fails"},
    {Bug::kServerPublishesTruncatedPut, "server-publishes-truncated-put",
     "the server publishes a PUT whose payload was cut short by a close"},
    {Bug::kTierServesOlderValue, "tier-serves-older-value",
     "an eviction dropped over the pending budget leaves the older L2 copy of its key indexed"},
    {Bug::kClientKeepsBrokenConnection, "client-keeps-broken-connection",
     "the client goes on using a connection that failed instead of reconnecting"},
    {Bug::kFsSkipsFsync, "fs-skips-fsync", "the fs back end renames a file into place without syncing it first"},
    {Bug::kPromotionOverwritesNewerPut, "promotion-overwrites-newer-put",
     "a GET's promotion from L2 publishes over a newer PUT of the key that landed in L1 while it loaded"},
    {Bug::kSharedTierSkipsGuard, "shared-tier-skips-guard",
     "a shared tier follows the pointer for a key it evicted itself and no longer indexes"},
};

inline std::atomic<std::uint32_t>& ActiveMask() {
  static std::atomic<std::uint32_t> mask{0};
  return mask;
}
inline bool Active(Bug b) {
  return (ActiveMask().load(std::memory_order_relaxed) & static_cast<std::uint32_t>(b)) != 0;
}
inline void Set(std::uint32_t mask) { ActiveMask().store(mask, std::memory_order_relaxed); }

// Where a planted leak keeps what it leaks (reachable, so a leak checker
// stays quiet; the leftover counts are what must notice).
inline void Keep(std::shared_ptr<void> leaked) {
  static std::mutex mu;
  static std::vector<std::shared_ptr<void>> kept;
  std::lock_guard lock(mu);
  kept.push_back(std::move(leaked));
}

}  // namespace lmc::plant
