#include "server/assemble.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "base/check.h"
#include "l2/config.h"

namespace lmc::server {

std::size_t DefaultHeadroomBytes(std::size_t l1_bytes) {
  return std::min<std::size_t>(l1_bytes / 16, std::size_t{64} << 20);
}

AssembleError AssembleServer(const ServerPlan& plan, net::Transport& transport, runtime::Env* l2_env, ServerParts* out,
                             std::string* detail) {
  LMC_CHECK(l2_env != nullptr || plan.l2_adapters.empty(), plan.l2_adapters.size(), " adapters with no environment");
  ServerParts parts;
  try {
    store::L1Store::Options l1;
    l1.capacity_bytes = plan.l1_bytes;
    l1.max_object_bytes = plan.max_object_bytes;
    l1.headroom_bytes = plan.l1_headroom_bytes;
    l1.intake_bytes = plan.l1_intake_bytes;
    l1.chunk_bytes = plan.l1_chunk_bytes;
    parts.l1 = std::make_shared<store::L1Store>(l1);
  } catch (const std::bad_alloc&) {
    *detail = "cannot map an L1 budget of " + std::to_string(plan.l1_bytes) + " bytes";
    return AssembleError::kNoMemory;
  }
  for (const nlohmann::json& config : plan.l2_adapters) {
    std::string error;
    std::shared_ptr<l2::L2Adapter> adapter = l2::MakeAdapter(config, *l2_env, &error);
    if (!adapter) {
      for (const auto& a : parts.adapters) a->Close();
      *detail = "--l2-adapter: " + error;
      return AssembleError::kBadAdapter;
    }
    parts.adapters.push_back(std::move(adapter));
  }
  ServerOptions options = plan.server;
  if (!parts.adapters.empty()) {
    tier::TierOptions t;
    t.load_timeout = plan.l2_load_timeout;
    t.max_pending_bytes = plan.l2_max_pending_bytes;
    t.recover = plan.l2_recover;
    t.log = plan.l2_log;
    // A Redis is there to be shared by several servers (docs/L2.md).
    const nlohmann::json& first = plan.l2_adapters.front();
    const std::string type = first.is_object() && first.contains("type") && first["type"].is_string()
                                 ? first["type"].get<std::string>()
                                 : std::string();
    t.shared = type == "resp" || type == "valkey";
    // Must differ between runs: the fs adapter never overwrites, so a name
    // reused from an earlier run would read back that run's bytes. Not from
    // the seeded generator, whose seed is fixed in lmcache-server.
    std::array<std::byte, sizeof t.run_id> salt{};
    if (!l2_env->CryptoRandom(salt)) {
      for (const auto& a : parts.adapters) a->Close();
      *detail = "no random source for the L2 run salt";
      return AssembleError::kNoRandom;
    }
    std::memcpy(&t.run_id, salt.data(), salt.size());
    parts.tier = tier::Tier::Create(*l2_env, parts.l1, parts.adapters, t);
    options.misses = parts.tier;
  }
  LMC_CHECK(parts.l1 != nullptr && parts.adapters.empty() == (parts.tier == nullptr), "assembled ",
            parts.adapters.size(), " adapters with", parts.tier ? "" : "out", " a tier");
  parts.server = std::make_unique<Server>(transport, parts.l1, std::move(options));
  *out = std::move(parts);
  return AssembleError::kOk;
}

}  // namespace lmc::server
