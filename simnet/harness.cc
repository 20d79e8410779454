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

namespace lmc::simnet {
namespace {

using client::CallStatus;
using net::NetError;
using std::chrono::milliseconds;

constexpr std::uint16_t kPort = 7000;
constexpr std::int32_t kBf16 = 3;  // wire dtype code
const std::string kServer = "server";
const std::string kBackend = "backend";  // the lm:// tier's server
constexpr std::uint16_t kBackendPort = 7001;
const std::string kWorker = "worker";
const std::string kControl = "control";

std::string KeyName(int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x", 0x1000 + k);
  return "sim@1@0@" + std::string(buf) + "@bfloat16";
}

// A value: `elements` bf16 words, unique to `id` (its first 8 bytes).
std::vector<std::byte> ValueOf(std::uint64_t id, std::uint32_t elements) {
  std::vector<std::byte> v(std::size_t{elements} * 2);
  Rng r(id * 0x9e3779b97f4a7c15ULL + 1);
  for (std::size_t i = 0; i < v.size(); i += 8) {
    const std::uint64_t word = i == 0 ? id : r.Next();
    std::memcpy(v.data() + i, &word, std::min<std::size_t>(8, v.size() - i));
  }
  return v;
}
std::uint64_t HashOf(std::span<const std::byte> b) { return XXH3_64bits(b.data(), b.size()); }

serde::Layout Bf16Layout(std::uint32_t elements) {
  serde::Layout l;
  l.groups.push_back({{static_cast<std::int64_t>(elements)}, serde::DType::kBFloat16});
  return l;
}

protocol::PutFields FieldsOf(std::uint32_t elements) {
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
        worker_disk_(world_, DiskFaults{}) {}

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
  void CheckGet(int c, const Op& op, const client::CallResult& r, Time issued);
  void CheckLinearizable(int c, const Op& op, const PutRec& p, Time issued);
  std::string At(Time t) const {
    return std::to_string(std::chrono::duration_cast<milliseconds>(t - start_).count()) + " ms";
  }
  void WorkerActor();
  std::unique_ptr<WorkerProc> StartWorker();
  void Control();
  void Quiesce();
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
  std::shared_ptr<protocol::ServerCounters> server_counters_ = std::make_shared<protocol::ServerCounters>();
  std::uint64_t incarnation_ = 0;
  bool server_up_ = false;
  std::uint64_t l2_hits_ = 0, evictions_dropped_ = 0, evictions_seen_ = 0, accept_errors_ = 0;

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
  plan.server.max_incomplete_put_bytes = s_.l1_bytes / 2;
  plan.l2_load_timeout = milliseconds(800);
  plan.l2_max_pending_bytes = s_.l1_bytes / 3;
  if (s_.tier) {
    nlohmann::json cfg = {{"type", "fs"}, {"base_path", "/srv/l2"}, {"num_workers", 2}};
    if (s_.tier_type == "lm")
      cfg = {{"type", "lm"},
             {"url", "lm://" + kBackend + ":" + std::to_string(kBackendPort)},
             {"num_workers", 2},
             {"timeout_ms", 1500}};
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
  }
  p->server->Stop();
  if (p->tier) p->tier->Close();
  if (p->adapter) p->adapter->Close();
  dead_servers_.push_back(std::move(p));
}

void Sim::CheckGet(int c, const Op& op, const client::CallResult& r, Time issued) {
  (void)issued;
  const std::span<const std::byte> body = r.body;
  world_.trace().Add(7, static_cast<std::uint64_t>(c), HashOf(body));
  const std::string who = "client " + std::to_string(c) + " GET " + KeyName(op.key);
  auto it = put_by_hash_.find(HashOf(body));
  std::optional<std::size_t> match;
  if (it != put_by_hash_.end() && puts_[it->second].key == op.key) match = it->second;
  if (!match && s_.tier_serde == "fp8" && fp8_) {
    // Through the fp8 tier: the round trip of one PUT of the key.
    for (std::size_t i : puts_of_key_[op.key]) {
      const PutRec& p = puts_[i];
      if (std::size_t{p.elements} * 2 != body.size()) continue;
      const std::optional<std::vector<std::byte>> back = Fp8RoundTrip(ValueOf(p.id, p.elements), p.elements);
      if (back && back->size() == body.size() && std::memcmp(back->data(), body.data(), body.size()) == 0) {
        match = i;
        break;
      }
    }
  }
  if (!match) {
    std::string why = who + ": " + std::to_string(body.size()) + " bytes that no complete PUT of the key sent";
    for (std::uint32_t e : cut_lengths_[op.key])
      if (std::size_t{e} * 2 == body.size()) why += " (the length of a PUT cut short: a truncated PUT was published?)";
    return Fail(why);
  }
  Count("GET hits checked");
  const PutRec& p = puts_[*match];
  const wire::ReplyHeader& h = r.reply;
  if (h.length != static_cast<std::int32_t>(body.size()) || h.dtype != kBf16 || h.fmt != 1 ||
      h.shape[0] != static_cast<std::int32_t>(p.elements))
    return Fail(who + ": the bytes of PUT #" + std::to_string(p.id) + " with other metadata");
  CheckLinearizable(c, op, p, issued);
  // Never older: the client's own PUT p, then its newer PUT q of the key, on
  // one connection and with no request rejected since, must hide p.
  if (p.client != c || p.attempts != 1) return;
  const std::uint64_t conn_now = net_.NodeOf("c" + std::to_string(c)).connects;
  if (p.conn_at_done != conn_now || p.rejects_at_done != Rejects()) return;
  Count("GET hits checked for staleness");
  for (std::size_t i : puts_of_key_[op.key]) {
    const PutRec& q = puts_[i];
    if (q.client == c && q.id > p.id && q.ok && q.done <= issued && q.conn_at_done == conn_now)
      return Fail(who + ": PUT #" + std::to_string(p.id) + "'s value, older than the client's own PUT #" +
                  std::to_string(q.id) + " on the same connection (a stale value)");
  }
}

// The key as a register over the whole history, every client's operations
// on the global virtual clock (as Knossos or Porcupine check a history, for
// the one rule a cache must keep): a GET may miss, but a hit must not return
// a PUT p when another PUT q of the key was surely applied before the GET
// was sent and p was surely applied before q was sent. "Surely applied"
// needs: one attempt for p (a replayed PUT may land late, §6.4), and for q
// no PUT rejected by the server between q's call and its confirmation (so q
// was stored, not refused for space).
void Sim::CheckLinearizable(int c, const Op& op, const PutRec& p, Time issued) {
  if (p.attempts != 1 || p.confirmed == Time::max()) return;
  Count("GET hits checked against every client's history");
  for (std::size_t i : puts_of_key_[op.key]) {
    const PutRec& q = puts_[i];
    if (q.id == p.id || !q.ok || q.confirmed == Time::max() || q.confirmed > issued) continue;
    if (q.rejects_at_confirm != q.rejects_at_invoke || p.confirmed >= q.invoked) continue;
    return Fail("client " + std::to_string(c) + " GET " + KeyName(op.key) + " sent at " + At(issued) +
                ": the value of PUT #" + std::to_string(p.id) + " (client " + std::to_string(p.client) +
                ", applied by " + At(p.confirmed) + "), but PUT #" + std::to_string(q.id) + " (client " +
                std::to_string(q.client) + ", sent at " + At(q.invoked) + ", applied by " + At(q.confirmed) +
                ") had replaced it before the GET was sent (not linearizable: a stale value)");
  }
}

void Sim::DoCutPut(SimEnv& env, int c, const Op& op) {
  const std::uint32_t elements = std::max<std::uint32_t>(op.elements, 4);
  const std::uint64_t id = next_id_++;
  const std::vector<std::byte> value = ValueOf(id, elements);
  cut_lengths_[op.key].push_back(elements);
  wire::RequestHeader h;
  h.command = static_cast<std::int32_t>(wire::Command::kPut);
  h.length = static_cast<std::int32_t>(value.size());
  h.fmt = 1;
  h.dtype = kBf16;
  h.shape = {static_cast<std::int32_t>(elements), 0, 0, 0};
  if (h.key.Assign(KeyName(op.key)) != wire::WireError::kOk) return Fail("a key the wire refuses");
  std::array<std::byte, wire::kRequestHeaderBytes> header{};
  wire::EncodeRequest(h, header);
  const std::size_t sent = world_.sched_rng().Below(value.size());  // of the payload, < all of it
  const Time deadline = env.Now() + s_.call_timeout;

  // Connect.
  struct Box {
    std::unique_ptr<runtime::Waiter> w;
    NetError e = NetError::kOther;
    std::size_t n = 0;
    std::unique_ptr<net::Stream> stream;
  };
  auto box = std::make_shared<Box>();
  box->w = env.MakeWaiter();
  env.Net().AsyncConnect(kServer, kPort, [box](NetError e, std::unique_ptr<net::Stream> s) {
    box->e = e;
    box->stream = std::move(s);
    box->w->Notify();
  });
  if (!box->w->WaitUntil(deadline) || box->e != NetError::kOk) return;
  std::unique_ptr<net::Stream> stream = std::move(box->stream);
  auto wrote = std::make_shared<Box>();
  wrote->w = env.MakeWaiter();
  const std::span<const std::byte> parts[2] = {header, std::span(value).first(sent)};
  stream->AsyncWrite(parts, [wrote](NetError e, std::size_t n) {
    wrote->e = e;
    wrote->n = n;
    wrote->w->Notify();
  });
  if (!wrote->w->WaitUntil(deadline) || wrote->e != NetError::kOk) {
    stream->Close();
    return;
  }
  if (world_.sched_rng().Chance(0.5)) {
    stream->Close();  // the sender goes away mid-payload
    return;
  }
  // The sender stalls: the server must close the connection by its stall
  // deadline (the read then ends with EOF or a reset).
  auto read = std::make_shared<Box>();
  read->w = env.MakeWaiter();
  auto buf = std::make_shared<std::array<std::byte, 64>>();
  stream->AsyncReadSome(*buf, [read, buf](NetError e, std::size_t n) {
    read->e = e;
    read->n = n;
    read->w->Notify();
  });
  if (read->w->WaitUntil(env.Now() + s_.stall_timeout * 3 + std::chrono::seconds(2))) {
    if (read->e == NetError::kEof || read->e == NetError::kReset) Probe("path: a stalled PUT closed by the deadline");
  } else if (server_up_ && healed_) {
    Fail("client " + std::to_string(c) + ": a PUT stalled mid-payload was not closed within 3 stall deadlines");
  }
  stream->Close();
}

void Sim::ClientActor(int c) {
  SimEnv& env = *client_envs_[static_cast<std::size_t>(c)];
  client::ClientOptions o;
  o.host = kServer;
  o.port = kPort;
  o.call_timeout = std::chrono::duration_cast<milliseconds>(s_.call_timeout);
  o.connect_timeout = milliseconds(1000);
  client::Client client(env, o);
  Node& node = net_.NodeOf("c" + std::to_string(c));
  bool failed_before = false;
  // This client's PUTs not yet confirmed (see PutRec::confirmed).
  std::vector<std::size_t> unconfirmed;
  for (const Op& op : s_.ops[static_cast<std::size_t>(c)]) {
    const Time issued = env.Now();
    client::CallResult r;
    switch (op.kind) {
      case Op::Kind::kPut: {
        const std::uint64_t id = next_id_++;
        const std::vector<std::byte> v = ValueOf(id, op.elements);
        PutRec p;
        p.id = id;
        p.client = c;
        p.key = op.key;
        p.elements = op.elements;
        p.invoked = issued;
        p.rejects_at_invoke = Rejects();
        // Indexed before the call: the server may store it before the call
        // returns (or even if the call fails: delivery is at least once).
        const std::size_t index = puts_.size();
        puts_.push_back(p);
        put_by_hash_[HashOf(v)] = index;
        puts_of_key_[op.key].push_back(index);
        r = client.Put(KeyName(op.key), FieldsOf(op.elements), v);
        PutRec& rec = puts_[index];
        rec.ok = r.status == CallStatus::kOk;
        rec.attempts = r.attempts;
        rec.done = env.Now();
        rec.conn_at_done = node.connects;
        rec.rejects_at_done = Rejects();
        if (rec.ok) unconfirmed.push_back(index);
        break;
      }
      case Op::Kind::kGet:
        r = client.Get(KeyName(op.key));
        if (r.status == CallStatus::kOk) CheckGet(c, op, r, issued);
        if (r.status == CallStatus::kMiss) Probe("path: a GET missed");
        break;
      case Op::Kind::kExist: r = client.Exist(KeyName(op.key)); break;
      case Op::Kind::kList: r = client.List(); break;
      case Op::Kind::kHealth: r = client.Health(); break;
      case Op::Kind::kCutPut: DoCutPut(env, c, op); continue;
      case Op::Kind::kPause: env.SleepUntil(env.Now() + std::chrono::microseconds(op.pause_us)); continue;
      default: continue;
    }
    world_.trace().Add(8, static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(r.status));
    // An answered request confirms the PUTs written before it on the same
    // connection (a reconnect since leaves them unconfirmed for good).
    if (op.kind != Op::Kind::kPut) {
      if (r.status == CallStatus::kOk || r.status == CallStatus::kMiss) {
        for (std::size_t i : unconfirmed) {
          PutRec& rec = puts_[i];
          if (rec.conn_at_done != node.connects) continue;
          rec.confirmed = env.Now();
          rec.rejects_at_confirm = Rejects();
        }
      }
      unconfirmed.clear();
    }
    if (r.status == CallStatus::kInvalidReply)
      Fail("client " + std::to_string(c) + ": an invalid reply to " + std::string(OpName(op.kind)) + " of " +
           KeyName(op.key) + ": " + (r.detail.empty() ? std::string("(no detail)") : r.detail));
    AuditStores();
    const bool failed = r.status == CallStatus::kUnavailable || r.status == CallStatus::kTimedOut;
    if (failed) failed_before = true;
    if (!failed && failed_before) {
      Probe("recovery: a client call succeeded after a failed one");
      failed_before = false;
    }
  }
  // Recovery: once the faults heal, HEALTH must succeed within the bound.
  if (!healed_) env.SleepUntil(heal_time_);
  const Time bound = std::max(heal_time_, env.Now()) + kRecoveryBound;
  bool recovered = false;
  while (env.Now() < bound) {
    if (client.Health().status == CallStatus::kOk) {
      recovered = true;
      break;
    }
    env.SleepUntil(env.Now() + milliseconds(100));
  }
  if (!recovered)
    Fail("client " + std::to_string(c) + ": no HEALTH answered within " +
         std::to_string(std::chrono::duration_cast<milliseconds>(kRecoveryBound).count()) +
         " ms of the faults healing");
  client.Close();
  --actors_left_;
}

std::unique_ptr<WorkerProc> Sim::StartWorker() {
  auto p = std::make_unique<WorkerProc>();
  p->view = std::make_unique<DiskView>(worker_disk_);
  p->env = std::make_unique<SimEnv>(world_, net_.TransportOf(kWorker), p->view.get(), s_.seed * 137 + 7);
  nlohmann::json cfg = {{"type", "fs"},
                        {"base_path", "/w/l2"},
                        {"num_workers", 2},
                        {"serde", {{"type", s_.batch_serde}, {"temp_budget_bytes", 1 << 20}}}};
  if (s_.batch_serde == "aesgcm") cfg["serde"]["master_key_path"] = "/keys/master";
  std::string error;
  p->adapter = l2::MakeAdapter(cfg, *p->env, &error);
  if (!p->adapter) {
    Fail("the worker's adapter did not start: " + error);
    return p;
  }
  p->wrapper = dynamic_cast<l2::SerdeL2Wrapper*>(p->adapter.get());
  return p;
}

void Sim::WorkerActor() {
  worker_ = StartWorker();
  const bool honest_disk = s_.disk.fsync_lie_chance == 0 && !s_.bit_flips;
  bool crashed_since_load = false;
  bool verify_next = false;  // after a restart: load what was stored (LMCache looks its keys up again)
  for (Op op : s_.worker_ops) {
    SimEnv& env = *worker_->env;
    env.SleepUntil(env.Now() + std::chrono::microseconds(op.pause_us));
    if (worker_crashed_) {
      // Restart on the same disk.
      if (worker_->adapter) worker_->adapter->Close();
      dead_workers_.push_back(std::move(worker_));
      worker_ = StartWorker();
      worker_crashed_ = false;
      crashed_since_load = true;
      verify_next = true;
    }
    if (!worker_->adapter) break;
    if (verify_next) {
      op.kind = Op::Kind::kLoad;
      verify_next = false;
    }
    WorkerProc& w = *worker_;
    auto done = std::shared_ptr<runtime::Waiter>(w.env->MakeWaiter());
    struct Result {
      bool ok = false;
      l2::LoadResult load;
      bool finished = false;
    };
    auto result = std::make_shared<Result>();
    std::vector<std::uint64_t> keys;
    std::vector<std::vector<std::byte>> buffers;
    std::vector<serde::Layout> layouts;
    if (op.kind == Op::Kind::kStore) {
      for (int i = 0; i < op.count; ++i) keys.push_back(next_worker_key_++);
    } else {
      for (int i = 0; i < op.count; ++i) {
        // Mostly keys stored before (any of them), sometimes a key never stored.
        if (worker_keys_.empty() || (!crashed_since_load && world_.sched_rng().Chance(0.15))) {
          keys.push_back(1'000'000 + world_.sched_rng().Below(1000));
        } else {
          auto it = worker_keys_.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(world_.sched_rng().Below(worker_keys_.size())));
          if (std::find(keys.begin(), keys.end(), it->first) == keys.end()) keys.push_back(it->first);
        }
      }
    }
    std::vector<serde::ObjectKey> okeys;
    for (std::uint64_t k : keys) {
      serde::ObjectKey ok;
      ok.model_name = "sim";
      ok.chunk_hash.resize(16);
      std::memcpy(ok.chunk_hash.data(), &k, sizeof k);
      okeys.push_back(std::move(ok));
    }
    layouts.reserve(keys.size());
    buffers.reserve(keys.size());
    if (op.kind == Op::Kind::kStore) {
      std::vector<l2::StoreItem> items;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::uint64_t id = next_id_++;
        worker_keys_[keys[i]] = {id, op.elements, false};
        buffers.push_back(ValueOf(id, op.elements));
        layouts.push_back(Bf16Layout(op.elements));
      }
      for (std::size_t i = 0; i < keys.size(); ++i) items.push_back({okeys[i], buffers[i], &layouts[i]});
      w.adapter->StoreThen(std::move(items), [done, result](bool ok) {
        result->ok = ok;
        result->finished = true;
        done->Notify();
      });
    } else {
      std::vector<l2::LoadItem> items;
      for (std::uint64_t k : keys) {
        const auto it = worker_keys_.find(k);
        const std::uint32_t elements = it != worker_keys_.end() ? it->second.elements : op.elements;
        buffers.emplace_back(std::size_t{elements} * 2);
        layouts.push_back(Bf16Layout(elements));
      }
      for (std::size_t i = 0; i < keys.size(); ++i) items.push_back({okeys[i], buffers[i], &layouts[i], true});
      w.adapter->LoadThen(std::move(items), [done, result](l2::LoadResult r) {
        result->load = std::move(r);
        result->finished = true;
        done->Notify();
      });
    }
    if (!done->WaitUntil(env.Now() + std::chrono::seconds(30))) {
      Fail("worker: a " + std::string(OpName(op.kind)) + " of " + std::to_string(keys.size()) +
           " keys did not complete in 30 s");
      break;
    }
    world_.trace().Add(9, result->ok ? 1 : 0, result->load.loaded.size());
    if (op.kind == Op::Kind::kStore) {
      if (result->ok) {
        for (std::uint64_t k : keys) worker_keys_[k].ok = true;
      } else {
        Probe("path: a wrapped store failed");
      }
    } else {
      const l2::LoadResult& r = result->load;
      if (r.loaded.size() != keys.size()) {
        Fail("worker: a load of " + std::to_string(keys.size()) + " keys answered " + std::to_string(r.loaded.size()) +
             " bits");
      } else {
        bool all_stored_ok = true, any = false;
        for (std::size_t i = 0; i < keys.size(); ++i) {
          const auto it = worker_keys_.find(keys[i]);
          const bool stored_ok = it != worker_keys_.end() && it->second.ok;
          all_stored_ok = all_stored_ok && stored_ok;
          if (!r.loaded[i]) continue;
          any = true;
          if (it == worker_keys_.end()) {
            Fail("worker: a key never stored loaded");
            continue;
          }
          std::vector<std::byte> want = ValueOf(it->second.id, it->second.elements);
          if (s_.batch_serde == "fp8") {  // the fp8 round trip of the stored value
            if (std::optional<std::vector<std::byte>> back = Fp8RoundTrip(want, it->second.elements))
              want = std::move(*back);
          }
          if (buffers[i] != want)
            Fail("worker: a wrapped load reported key " + std::to_string(keys[i]) +
                 " loaded with bytes its store did not write");
        }
        if (any && crashed_since_load) Probe("recovery: the worker restarted and loaded a stored object");
        if (!any) Probe("path: a wrapped load loaded nothing");
        if (honest_disk && all_stored_ok && !any)
          Fail("worker: a load of " + std::to_string(keys.size()) +
               " keys whose stores all succeeded loaded none (a stored object was lost)");
        else if (honest_disk && all_stored_ok && std::find(r.loaded.begin(), r.loaded.end(), false) != r.loaded.end())
          Fail("worker: a load of keys whose stores all succeeded loaded only some");
        if (any) crashed_since_load = false;
      }
    }
    // Nothing left over after the batch (the completion's job ends first).
    env.SleepUntil(env.Now() + milliseconds(1));
    if (worker_crashed_) continue;
    if (w.wrapper && w.wrapper->temps().outstanding() != 0)
      Fail("worker: " + std::to_string(w.wrapper->temps().outstanding()) + " temp buffers left after a " +
           std::string(OpName(op.kind)));
    if (!w.view->created().empty())
      Fail("worker: temp file " + *w.view->created().begin() + " left after a " + std::string(OpName(op.kind)));
    if (w.env->jobs_in_flight() != 0) Fail("worker: jobs left running after a batch");
  }
  if (worker_ && worker_->adapter) worker_->adapter->Close();
  --actors_left_;
}

void Sim::Control() {
  SimEnv& env = *control_env_;
  for (std::size_t i = 0; i < s_.faults.size(); ++i) {
    const FaultEvent& f = s_.faults[i];
    env.SleepUntil(start_ + f.at);
    world_.trace().Add(10, i, static_cast<std::uint64_t>(f.kind));
    const FaultKindInfo& kind = FaultKindOf(f.kind);
    if (!kind.inject(*this, f)) continue;
    net_.Count(std::string(kind.name));
    if (kind.heal == nullptr) continue;
    env.SleepUntil(env.Now() + f.length);
    kind.heal(*this, f);
  }
  env.SleepUntil(start_ + s_.heal_at);
  // Heal: every fault ends, the server is up.
  net_.Heal();
  NetFaults& nf = net_.mutable_faults();
  nf.tail_chance = nf.refuse_chance = nf.accept_fail_chance = 0;
  for (Disk* d : {&server_disk_, &worker_disk_}) {
    d->faults().write_fail_chance = d->faults().short_write_chance = d->faults().sync_fail_chance = 0;
    d->faults().capacity_bytes = std::uint64_t{1} << 30;
  }
  healed_ = true;
  heal_time_ = env.Now();
  control_done_ = true;
}

bool Sim::CrashServer() {
  if (!server_up_) return false;
  net_.Crash(kServer);
  server_->view->Kill();
  server_disk_.Crash();
  server_up_ = false;
  StopServer(std::move(server_));
  return true;
}

void Sim::RestartServer() {
  net_.Revive(kServer);
  server_ = StartServer();
}

bool Sim::CrashWorker() {
  if (!worker_ || worker_crashed_) return false;
  worker_->view->Kill();
  worker_disk_.Crash();
  worker_crashed_ = true;
  return true;
}

void Sim::FillServerDisk() {
  disk_capacity_before_full_ = server_disk_.faults().capacity_bytes;
  server_disk_.faults().capacity_bytes = server_disk_.used_bytes();
}

void Sim::FreeServerDisk() { server_disk_.faults().capacity_bytes = disk_capacity_before_full_; }

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

  // Probes from the counters.
  Outcome out;
  std::uint64_t hits = l2_hits_, dropped = evictions_dropped_, seen = evictions_seen_, accept_errors = accept_errors_;
  if (server_) {
    accept_errors += server_->server->counters().accept_errors.load();
    if (server_->tier) {
      hits += server_->tier->Stats().l2_hits;
      dropped += server_->tier->Stats().evictions_dropped;
      seen += server_->tier->Stats().evictions_seen;
    }
  }
  Count("tier: evictions", seen);
  Count("tier: evictions dropped", dropped);
  Count("tier: L2 hits", hits);
  Count("server incarnations", incarnation_);
  if (hits > 0) Probe("path: a GET served from L2");
  if (hits > 0 && s_.tier_type == "lm") Probe("path: a GET served from an lm:// tier");
  if (dropped > 0) Probe("path: an eviction dropped over the pending budget");
  if (accept_errors > 0) Probe("path: the server backed off a failed accept");
  for (const auto& [name, n] : net_.fault_counts()) out.faults[name] += n;
  for (const Disk* d : {&server_disk_, &worker_disk_})
    for (const auto& [name, n] : d->fault_counts()) out.faults[name] += n;
  for (const auto& [name, n] : out.faults)
    if (n > 0) Probe("fault: " + name);
  if (incarnation_ > 1 && failures_.empty()) Probe("recovery: the server restarted");

  // Tear down (in a job: closing waits for what is in flight).
  if (world_.violations().empty() && finished) {
    bool down = false;
    control_env_->Offload(
        [&](bool) {
          if (server_) StopServer(std::move(server_));
          if (backend_) StopServer(std::move(backend_));
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
  }
  return out;
}

}  // namespace

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
    "recovery: the worker restarted and loaded a stored object",
    "path: a GET served from L2",
    "path: a GET served from an lm:// tier",
    "path: a GET missed",
    "path: a stalled PUT closed by the deadline",
    "path: an eviction dropped over the pending budget",
    "path: the server backed off a failed accept",
    "path: a wrapped store failed",
    "path: a wrapped load loaded nothing",
};
}  // namespace

const std::vector<std::string>& DeclaredProbes() {
  static const std::vector<std::string> probes = [] {
    std::vector<std::string> all;
    for (const FaultKindInfo& k : FaultKinds()) all.push_back("fault: " + std::string(k.name));
    for (const char* other : kOtherProbes) all.emplace_back(other);
    return all;
  }();
  return probes;
}

Outcome Run(const Scenario& s, const RunConfig& config) {
  auto sim = std::make_unique<Sim>(s, config);
  Outcome out = sim->Go();
  if (!out.ok() && sim) {
    // A failed run may have left waits parked (see Go): its world is kept.
    (void)sim.release();
  }
  return out;
}

}  // namespace lmc::simnet
