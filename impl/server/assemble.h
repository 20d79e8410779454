// One function builds a whole server, the same way for lmcache-server and
// for the simulator, so the two cannot drift apart: the L1 store, the L2
// adapters from their JSON, the tier between them, and the lm:// server on
// top. Only the environment differs (the process's, or a simulated node's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "l2/adapter.h"
#include "net/transport.h"
#include "runtime/env.h"
#include "server/server.h"
#include "store/l1_store.h"
#include "tier/tier.h"

namespace lmc::server {

// Everything lmcache-server's options decide, as data.
struct ServerPlan {
  std::size_t l1_bytes = std::size_t{1} << 30;
  std::size_t max_object_bytes = std::size_t{1} << 31;
  std::size_t l1_headroom_bytes = 0;                     // see store::L1Store::Options
  std::size_t l1_intake_bytes = std::size_t{256} << 20;  // the same
  std::size_t l1_chunk_bytes = std::size_t{1} << 20;     // the same
  std::vector<nlohmann::json> l2_adapters;               // l2/config.h's JSON, tried in order; none: no tier
  std::chrono::milliseconds l2_load_timeout{5000};
  std::size_t l2_max_pending_bytes = std::size_t{256} << 20;
  bool l2_recover = true;  // the tier's restart scan (tier/tier.h)
  // The tier is shared (TierOptions::shared) when the first adapter is a
  // Redis one (resp or valkey): what other servers evicted there is served.
  std::function<void(std::string_view)> l2_log;  // where the tier's scan reports; null: nowhere
  ServerOptions server;                          // its `misses` is set to the tier
};

// The headroom lmcache-server keeps by default: 1/16 of L1, at most 64 MiB.
std::size_t DefaultHeadroomBytes(std::size_t l1_bytes);

struct ServerParts {
  std::shared_ptr<store::L1Store> l1;
  std::vector<std::shared_ptr<l2::L2Adapter>> adapters;
  std::shared_ptr<tier::Tier> tier;  // null without adapters
  std::unique_ptr<Server> server;    // not yet started
};

enum class [[nodiscard]] AssembleError : std::uint8_t{
    kOk,
    kNoMemory,    // the L1 budget could not be mapped
    kBadAdapter,  // an adapter's JSON was refused (usage)
    kNoRandom,    // no random source for the tier's run id
};

// Builds the parts on `transport`, with `l2_env` for the adapters and the
// tier (it outlives them; null only for a plan without adapters). On an
// error, `*detail` says what and nothing is kept.
AssembleError AssembleServer(const ServerPlan& plan, net::Transport& transport, runtime::Env* l2_env, ServerParts* out,
                             std::string* detail);

}  // namespace lmc::server
