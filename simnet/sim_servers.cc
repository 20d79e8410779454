#include "simnet/sim.h"

namespace lmc::simnet::internal {

std::unique_ptr<ServerProc> Sim::StartServer() {
  auto p = std::make_unique<ServerProc>();
  ++incarnation_;
  p->view = std::make_unique<DiskView>(server_disk_);
  p->env = std::make_unique<SimEnv>(world_, net_.TransportOf(kServer), p->view.get(), s_.seed * 131 + incarnation_);
  // Built as lmcache-server builds itself (server/assemble.h), from the
  // options the scenario drew.
  server::ServerPlan plan;
  plan.l1_bytes = plan.max_object_bytes = s_.l1_bytes;
  plan.server.host = kServer;
  plan.server.port = kPort;
  plan.server.stall_timeout = std::chrono::duration_cast<milliseconds>(s_.stall_timeout);
  plan.l1_intake_bytes = s_.l1_bytes / 2;
  plan.l1_chunk_bytes = s_.l1_chunk_bytes;
  plan.server.max_pinned_bytes = s_.l1_bytes / 8;  // half lmcache-server's default: reached often
  plan.l2_load_timeout = milliseconds(800);
  plan.l2_max_pending_bytes = s_.l1_bytes / 3;
  if (s_.tier) {
    nlohmann::json cfg = {{"type", "fs"}, {"base_path", "/srv/l2"}, {"num_workers", 2}};
    if (s_.tier_type == "lm")
      cfg = {{"type", "lm"},
             {"url", "lm://" + kBackend + ":" + std::to_string(kBackendPort)},
             {"num_workers", 2},
             {"timeout_ms", 1500}};
    if (s_.tier_type == "resp")
      cfg = {{"type", "resp"},   {"host", kBackend},   {"port", kBackendPort},
             {"num_workers", 2}, {"timeout_ms", 1500}, {"connect_at_start", false}};
    if (!s_.tier_serde.empty()) {
      cfg["serde"] = {{"type", s_.tier_serde}, {"temp_budget_bytes", s_.l1_bytes}};
      if (s_.tier_serde == "aesgcm") cfg["serde"]["master_key_path"] = "/keys/master";
    }
    plan.l2_adapters.push_back(std::move(cfg));
  }
  server::ServerParts parts;
  std::string error;
  if (server::AssembleServer(plan, p->env->Net(), p->env.get(), &parts, &error) != server::AssembleError::kOk) {
    Fail("the server could not be built: " + error);
    plan.l2_adapters.clear();  // the rest of the run goes on without a tier
    if (server::AssembleServer(plan, p->env->Net(), p->env.get(), &parts, &error) != server::AssembleError::kOk)
      Fail("the server could not be built without a tier: " + error);
  }
  p->l1 = std::move(parts.l1);
  if (!parts.adapters.empty()) p->adapter = parts.adapters.front();
  p->tier = std::move(parts.tier);
  p->server = std::move(parts.server);
  std::uint16_t port = 0;
  if (p->server->Start(&port) != NetError::kOk) Fail("the server did not start");
  server_up_ = true;
  return p;
}

void Sim::AuditStores() const {
  // The whole-store walks (O(entries)), after every client call: the byte
  // identity each change checks, and the LRU list against the index.
  if (server_) server_->l1->CheckInvariants();
  if (backend_) backend_->l1->CheckInvariants();
}

void Sim::StopServer(std::unique_ptr<ServerProc> p) {
  p->l1->CheckInvariants();
  // Its counters and stats, before they go.
  const protocol::ServerCounters& c = p->server->counters();
  for (std::size_t i = 0; i < std::size(c.rejects); ++i) server_counters_->rejects[i] += c.rejects[i].load();
  accept_errors_ += c.accept_errors.load();
  if (p->tier) {
    const tier::TierStats t = p->tier->Stats();
    l2_hits_ += t.l2_hits;
    evictions_dropped_ += t.evictions_dropped;
    evictions_seen_ += t.evictions_seen;
    superseded_ += t.l2_loads_superseded;
    recovered_ += t.recovered;
    shared_hits_ += t.shared_hits;
  }
  p->server->Stop();
  if (p->tier) p->tier->Close();
  if (p->adapter) p->adapter->Close();
  dead_servers_.push_back(std::move(p));
}

}  // namespace lmc::simnet::internal
