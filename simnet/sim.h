// The simulation's actors and the state they share (internal to simnet):
// one Sim per run. Its parts live in their own files:
//   sim_servers.cc  the server incarnations (built by server::AssembleServer)
//                   and the whole-store audits;
//   sim_clients.cc  the client actors and the checks of every reply (a GET
//                   against the PUTs, linearizable per key across clients);
//   sim_cut_put.cc  the raw sender whose PUTs stop short;
//   sim_worker.cc   the L2 worker's store and load batches;
//   sim_control.cc  the fault schedule (faults.h's table) and healing;
//   sim_probes.cc   the declared probes, and those the counters reach;
//   harness.cc      the run itself: start, quiesce, teardown.
#pragma once

#include "simnet/harness.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "base/plant.h"
#include "client/client.h"
#include "l2/config.h"
#include "l2/serde_wrapper.h"
#include "resp/mini_server.h"
#include "serde/registry.h"
#include "server/assemble.h"
#include "server/server.h"
#include "simnet/disk.h"
#include "simnet/faults.h"
#include "simnet/network.h"
#include "simnet/sim_env.h"
#include "simnet/world.h"
#include "store/l1_store.h"
#include "tier/tier.h"
#include "wire/headers.h"

namespace lmc::simnet::internal {

using client::CallStatus;
using net::NetError;
using std::chrono::milliseconds;

inline constexpr std::uint16_t kPort = 7000;
inline constexpr std::int32_t kBf16 = 3;  // wire dtype code
inline const std::string kServer = "server";
inline const std::string kBackend = "backend";  // the lm:// tier's server
inline constexpr std::uint16_t kBackendPort = 7001;
inline const std::string kWorker = "worker";
inline const std::string kControl = "control";

inline std::string KeyName(int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x", 0x1000 + k);
  return "sim@1@0@" + std::string(buf) + "@bfloat16";
}

// A value: `elements` bf16 words, unique to `id` (its first 8 bytes).
inline std::vector<std::byte> ValueOf(std::uint64_t id, std::uint32_t elements) {
  std::vector<std::byte> v(std::size_t{elements} * 2);
  Rng r(id * 0x9e3779b97f4a7c15ULL + 1);
  for (std::size_t i = 0; i < v.size(); i += 8) {
    const std::uint64_t word = i == 0 ? id : r.Next();
    std::memcpy(v.data() + i, &word, std::min<std::size_t>(8, v.size() - i));
  }
  return v;
}
inline std::uint64_t HashOf(std::span<const std::byte> b) { return XXH3_64bits(b.data(), b.size()); }

inline serde::Layout Bf16Layout(std::uint32_t elements) {
  serde::Layout l;
  l.groups.push_back({{static_cast<std::int64_t>(elements)}, serde::DType::kBFloat16});
  return l;
}

inline protocol::PutFields FieldsOf(std::uint32_t elements) {
  protocol::PutFields f;
  f.fmt = 1;
  f.dtype = kBf16;
  f.shape = {static_cast<std::int32_t>(elements), 0, 0, 0};
  return f;
}

struct PutRec {
  std::uint64_t id = 0;
  int client = 0;
  int key = 0;
  std::uint32_t elements = 0;
  bool ok = false;
  int attempts = 0;
  Time done{};
  std::uint64_t conn_at_done = 0;     // the client node's connects when the call ended
  std::uint64_t rejects_at_done = 0;  // the server's rejects then
  std::uint64_t incarnation = 0;
  // For the history check (CheckLinearizable): when the call was made, and
  // when the PUT is known to have been applied: a PUT has no reply, so that
  // is when a later request on the same connection was answered (the server
  // handles a connection's requests in order). Unknown: Time::max().
  Time invoked{};
  Time confirmed = Time::max();
  std::uint64_t rejects_at_invoke = 0, rejects_at_confirm = 0;
};

// One server incarnation.
struct ServerProc {
  std::unique_ptr<DiskView> view;
  std::unique_ptr<SimEnv> env;
  std::shared_ptr<store::L1Store> l1;
  std::shared_ptr<l2::L2Adapter> adapter;
  std::shared_ptr<tier::Tier> tier;
  std::unique_ptr<server::Server> server;
};

// One L2 worker incarnation.
struct WorkerProc {
  std::unique_ptr<DiskView> view;
  std::unique_ptr<SimEnv> env;
  std::shared_ptr<l2::L2Adapter> adapter;
  l2::SerdeL2Wrapper* wrapper = nullptr;
};

class Sim final : public FaultTarget {
 public:
  Sim(const Scenario& s, const RunConfig& config)
      : s_(s),
        config_(config),
        world_(s.seed),
        net_(world_, s.net),
        server_disk_(world_, DiskFaults{}),
        worker_disk_(world_, DiskFaults{}) {
    net_.SetCapture(config.capture);
  }

  Outcome Go();

  // FaultTarget: what the fault table (faults.h) acts on.
  Network& net() override { return net_; }
  Rng& rng() override { return world_.sched_rng(); }
  Time now() override { return world_.Now(); }
  std::string server_node() override { return kServer; }
  std::string NodeOf(int target) override { return target < 0 ? kBackend : "c" + std::to_string(target); }
  bool CrashServer() override;
  void RestartServer() override;
  bool CrashWorker() override;
  void FillServerDisk() override;
  void FreeServerDisk() override;
  bool RestartRespNode() override;

 private:
  static DiskFaults WorkerDiskFaults(const Scenario& s) {
    DiskFaults d = s.disk;
    if (s.bit_flips) d.bit_flip_chance = 0.02;
    return d;
  }
  void Fail(std::string what) {
    const auto t = std::chrono::duration_cast<milliseconds>(world_.Now() - start_).count();
    failures_.push_back("t=" + std::to_string(t) + "ms " + std::move(what));
  }
  void Probe(const std::string& name) { probes_.insert(name); }
  // What an fp8 serde makes of a bf16 value (serialised, then read back);
  // nullopt if either step fails.
  std::optional<std::vector<std::byte>> Fp8RoundTrip(std::span<const std::byte> value, std::uint32_t elements) const {
    if (!fp8_) return std::nullopt;
    const serde::Layout layout = Bf16Layout(elements);
    serde::SerdeError e = serde::SerdeError::kOk;
    std::vector<std::byte> blob(fp8_->serializer->EstimateSerializedSize(layout, &e));
    std::size_t written = 0;
    std::vector<std::byte> back(value.size());
    if (fp8_->serializer->Serialize(layout, value, blob, nullptr, &written) != serde::SerdeError::kOk ||
        fp8_->deserializer->Deserialize(std::span(blob).first(written), layout, back, nullptr) !=
            serde::SerdeError::kOk)
      return std::nullopt;
    return back;
  }
  void Count(const std::string& name, std::uint64_t n = 1) { counts_[name] += n; }
  // PUTs the server dropped (not stored), over every incarnation.
  std::uint64_t Rejects() const {
    std::uint64_t n = 0;
    const protocol::ServerCounters* live = server_ ? &server_->server->counters() : nullptr;
    for (const protocol::ServerCounters* c :
         {static_cast<const protocol::ServerCounters*>(server_counters_.get()), live})
      if (c)
        for (protocol::Reject r : {protocol::Reject::kBadKey, protocol::Reject::kTooLarge, protocol::Reject::kNoSpace})
          n += c->rejects[static_cast<int>(r)].load();
    return n;
  }

  // The server.
  std::unique_ptr<ServerProc> StartServer();
  void StopServer(std::unique_ptr<ServerProc> p);
  void AuditStores() const;
  // The actors (jobs on their nodes' envs).
  void ClientActor(int c);
  void DoCutPut(SimEnv& env, int c, const Op& op);
  // A raw GET whose reader stops: it reads nothing, or the header and part
  // of the body, then stalls or closes. The object stays pinned meanwhile.
  void DoSlowGet(SimEnv& env, int c, const Op& op);
  // A GET of `key` written on a new connection, the reply left unread; null
  // when it could not be sent by `deadline`.
  std::unique_ptr<net::Stream> SendRawGet(SimEnv& env, int key, Time deadline);
  void CheckGet(int c, const Op& op, const client::CallResult& r, Time issued);
  void CheckLinearizable(int c, const Op& op, const PutRec& p, Time issued);
  std::string At(Time t) const {
    return std::to_string(std::chrono::duration_cast<milliseconds>(t - start_).count()) + " ms";
  }
  void WorkerActor();
  std::unique_ptr<WorkerProc> StartWorker();
  void Control();
  void Quiesce();
  void ProbeCounters(Outcome* out);
  // Streams the client nodes still hold open (the tier's own connections
  // to its backend stay open until teardown, and are counted there).
  std::size_t ClientConnections() {
    std::size_t n = 0;
    for (int c = 0; c < s_.clients; ++c) n += net_.NodeOf("c" + std::to_string(c)).open_streams;
    return n;
  }

  const Scenario& s_;
  RunConfig config_;
  World world_;
  Network net_;
  Disk server_disk_;
  Disk worker_disk_;
  Time start_{};
  std::vector<std::string> failures_;
  std::set<std::string> probes_;
  std::map<std::string, std::uint64_t> counts_;

  std::unique_ptr<ServerProc> server_;
  std::vector<std::unique_ptr<ServerProc>> dead_servers_;  // kept until the end
  std::unique_ptr<ServerProc> backend_;                    // the lm:// tier's server (never crashes)
  std::unique_ptr<SimEnv> resp_env_;                       // the RESP tier's node (tier_type "resp")
  std::unique_ptr<resp::MiniServer> resp_node_;
  std::uint64_t resp_restarts_ = 0, hits_at_resp_restart_ = 0, shared_hits_ = 0;
  std::shared_ptr<protocol::ServerCounters> server_counters_ = std::make_shared<protocol::ServerCounters>();
  std::uint64_t incarnation_ = 0;
  bool server_up_ = false;
  std::vector<Time> server_crashes_;  // when the server crashed (its L1 lost; its disk tier kept)
  std::uint64_t L2Hits() const {      // over every incarnation
    return l2_hits_ + (server_ && server_->tier ? server_->tier->Stats().l2_hits : 0);
  }
  std::uint64_t l2_hits_ = 0, evictions_dropped_ = 0, evictions_seen_ = 0, accept_errors_ = 0, superseded_ = 0,
                recovered_ = 0;

  std::vector<std::unique_ptr<SimEnv>> client_envs_;
  std::unique_ptr<SimEnv> control_env_;
  std::unique_ptr<DiskView> dead_view_;
  std::vector<PutRec> puts_;
  std::unordered_map<std::uint64_t, std::size_t> put_by_hash_;
  std::map<int, std::vector<std::size_t>> puts_of_key_;
  std::map<int, std::vector<std::uint32_t>> cut_lengths_;  // elements of cut PUTs per key
  std::uint64_t next_id_ = 1;
  std::optional<serde::SerdeInstance> fp8_;

  // The worker.
  std::unique_ptr<WorkerProc> worker_;
  std::vector<std::unique_ptr<WorkerProc>> dead_workers_;
  bool worker_crashed_ = false;
  struct Stored {
    std::uint64_t id = 0;
    std::uint32_t elements = 0;
    bool ok = false;
  };
  std::map<std::uint64_t, Stored> worker_keys_;  // fresh key per store (LMCache's workload)
  std::uint64_t next_worker_key_ = 1;

  int actors_left_ = 0;
  bool control_done_ = false;
  std::uint64_t disk_capacity_before_full_ = 0;
  bool healed_ = false;
  Time heal_time_{};
};

}  // namespace lmc::simnet::internal
