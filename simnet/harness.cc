#include "simnet/harness.h"

#include "simnet/sim.h"

namespace lmc::simnet {
namespace internal {

void Sim::Quiesce() {
  // Let the last closes, write-backs and deadlines run out.
  const Time limit = world_.Now() + std::chrono::seconds(60);
  (void)world_.RunUntil(
      [&] {
        return (!server_ || server_->server->open_connections() == 0) && ClientConnections() == 0 &&
               (!server_ || !server_->tier || server_->tier->Stats().pending_bytes == 0) &&
               (!server_ || server_->env->jobs_in_flight() == 0);
      },
      limit);
  if (server_) {
    if (server_->server->open_connections() != 0)
      Fail("end: the server still holds " + std::to_string(server_->server->open_connections()) + " connections");
    if (server_->tier && server_->tier->Stats().pending_bytes != 0)
      Fail("end: the tier still stages " + std::to_string(server_->tier->Stats().pending_bytes) + " bytes");
    if (auto* w = dynamic_cast<l2::SerdeL2Wrapper*>(server_->adapter.get()); w && w->temps().outstanding() != 0)
      Fail("end: the tier's serde wrapper holds " + std::to_string(w->temps().outstanding()) + " temp buffers");
    if (server_->env->jobs_in_flight() != 0) Fail("end: the server has jobs running");
    // Every connection closed: no reply pins anything any more.
    if (server_->server->pinned_bytes() != 0)
      Fail("end: replies no longer being sent still pin " + std::to_string(server_->server->pinned_bytes()) +
           " bytes of the pin budget");
  }
  if (ClientConnections() != 0) Fail("end: " + std::to_string(ClientConnections()) + " client connections open");
}

Outcome Sim::Go() {
  const auto wall_start = std::chrono::steady_clock::now();  // lint: the harness's own stopwatch
  plant::Set(config_.plants);
  start_ = world_.Now();
  heal_time_ = start_ + s_.heal_at;
  net_.AddNode(kServer);
  net_.AddNode(kWorker);
  net_.AddNode(kControl);
  net_.AddNode(kBackend);
  for (int c = 0; c < s_.clients; ++c) net_.AddNode("c" + std::to_string(c));
  control_env_ = std::make_unique<SimEnv>(world_, net_.TransportOf(kControl), nullptr, s_.seed * 139);
  {
    // The aesgcm master key, on both disks, durable.
    for (Disk* d : {&server_disk_, &worker_disk_}) {
      DiskView v(*d);
      std::unique_ptr<runtime::WritableFile> f;
      std::array<std::byte, 32> key{};
      for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 7 + 1);
      if (v.CreateDirectories("/keys") != runtime::FsError::kOk ||
          v.NewWritableFile("/keys/master", &f) != runtime::FsError::kOk || f->Append(key) != runtime::FsError::kOk ||
          f->Sync() != runtime::FsError::kOk || f->Close() != runtime::FsError::kOk ||
          v.SyncDirectory("/keys") != runtime::FsError::kOk)
        Fail("setup: the master key could not be written");
    }
    server_disk_.faults() = s_.disk;
    worker_disk_.faults() = WorkerDiskFaults(s_);
    std::string error;
    fp8_ = serde::SerdeRegistry::WithBuiltins(*control_env_).Create({{"type", "fp8"}}, &error);
  }
  if (s_.tier && s_.tier_type == "lm") {
    // A second real server, the main server's L2 over lm://.
    backend_ = std::make_unique<ServerProc>();
    backend_->env = std::make_unique<SimEnv>(world_, net_.TransportOf(kBackend), nullptr, s_.seed * 151);
    server::ServerPlan plan;
    plan.l1_bytes = plan.max_object_bytes = s_.l1_bytes * 4;
    plan.server.host = kBackend;
    plan.server.port = kBackendPort;
    plan.server.stall_timeout = std::chrono::duration_cast<milliseconds>(s_.stall_timeout);
    server::ServerParts parts;
    std::string error;
    if (server::AssembleServer(plan, backend_->env->Net(), backend_->env.get(), &parts, &error) !=
        server::AssembleError::kOk)
      Fail("the tier's backend server could not be built: " + error);
    backend_->l1 = std::move(parts.l1);
    backend_->server = std::move(parts.server);
    std::uint16_t port = 0;
    if (backend_->server->Start(&port) != NetError::kOk) Fail("the tier's backend server did not start");
  }
  if (s_.tier && s_.tier_type == "resp") {
    // A Redis stand-in, the server's shared L2 over RESP.
    resp_env_ = std::make_unique<SimEnv>(world_, net_.TransportOf(kBackend), nullptr, s_.seed * 157);
    resp::MiniServerOptions o;
    o.reply_delay = std::chrono::duration_cast<std::chrono::microseconds>(s_.resp_delay);
    resp_node_ = std::make_unique<resp::MiniServer>(resp_env_->Net(), o);
    std::uint16_t port = 0;
    if (resp_node_->Start(kBackend, kBackendPort, &port) != NetError::kOk) Fail("the RESP node did not start");
    resp_node_->Save();
  }
  server_ = StartServer();
  for (int c = 0; c < s_.clients; ++c) {
    client_envs_.push_back(std::make_unique<SimEnv>(world_, net_.TransportOf("c" + std::to_string(c)), nullptr,
                                                    s_.seed * 149 + static_cast<std::uint64_t>(c)));
    ++actors_left_;
    client_envs_.back()->Offload([this, c](bool) { ClientActor(c); }, runtime::Env::Priority::kNormal);
  }
  if (!s_.batch_serde.empty()) {
    ++actors_left_;
    control_env_->Offload([this](bool) { WorkerActor(); }, runtime::Env::Priority::kNormal);
  }
  control_env_->Offload([this](bool) { Control(); }, runtime::Env::Priority::kNormal);

  const Time limit = start_ + s_.heal_at + std::chrono::seconds(300);
  const bool finished =
      world_.RunUntil([&] { return (actors_left_ == 0 && control_done_) || !world_.violations().empty(); }, limit);
  if (!finished || actors_left_ != 0 || !control_done_) {
    if (world_.violations().empty())
      Fail("the run did not finish within 300 simulated seconds of healing (" + std::to_string(actors_left_) +
           " actors left)");
  } else {
    Quiesce();
  }

  Outcome out;
  ProbeCounters(&out);

  // Tear down (in a job: closing waits for what is in flight).
  if (world_.violations().empty() && finished) {
    bool down = false;
    control_env_->Offload(
        [&](bool) {
          if (server_) StopServer(std::move(server_));
          if (backend_) StopServer(std::move(backend_));
          if (resp_node_) resp_node_->Stop();
          dead_servers_.clear();
          dead_workers_.clear();
          worker_.reset();
          down = true;
        },
        runtime::Env::Priority::kNormal);
    (void)world_.RunUntil([&] { return down; }, world_.Now() + std::chrono::seconds(120));
    if (!down) Fail("teardown did not finish in 120 simulated seconds");
    // Every stream, the tier's own included, closes once its owner is gone.
    (void)world_.RunUntil([&] { return net_.open_connections() == 0; }, world_.Now() + std::chrono::seconds(60));
    if (net_.open_connections() != 0)
      Fail("teardown: " + std::to_string(net_.open_connections()) + " connections still open");
  }
  if (world_.parked() != 0) Fail("end: " + std::to_string(world_.parked()) + " waits still parked");
  for (const std::string& v : world_.violations()) failures_.push_back("world: " + v);
  for (const std::string& f : failures_) world_.trace().Add(11, std::hash<std::string>{}(f));
  out.failures = failures_;
  out.probes = probes_;
  out.counts = counts_;
  out.trace_hash = world_.trace().hash();
  out.trace_events = world_.trace().events();
  out.steps = world_.steps();
  out.sim_seconds = std::chrono::duration<double>(world_.Now() - start_).count();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  plant::Set(0);
  if (world_.parked() != 0 || !finished) {
    // Something is still blocked: leave the objects to leak rather than
    // wake code over freed state (the failure above says why).
    (void)server_.release();
    for (auto& p : dead_servers_) (void)p.release();
    (void)worker_.release();
    for (auto& p : dead_workers_) (void)p.release();
    for (auto& e : client_envs_) (void)e.release();
    (void)control_env_.release();
    (void)resp_node_.release();
    (void)resp_env_.release();
  }
  return out;
}

}  // namespace internal

Outcome Run(const Scenario& s, const RunConfig& config) {
  using internal::Sim;
  auto sim = std::make_unique<Sim>(s, config);
  Outcome out = sim->Go();
  if (!out.ok() && sim) {
    // A failed run may have left waits parked (see Go): its world is kept.
    (void)sim.release();
  }
  return out;
}

}  // namespace lmc::simnet
