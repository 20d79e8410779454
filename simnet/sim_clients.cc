#include "simnet/sim.h"

#include <algorithm>

namespace lmc::simnet::internal {

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
//
// A server crash loses L1, and the restarted server's disk tier serves what
// it held (tier/tier.h, the restart scan): a value durable in L2 before the
// crash may come back even though a newer PUT, lost with L1, had replaced
// it. So q counts only if no crash came between its confirmation and the
// GET's answer (a GET sent before a crash may be answered after it, by the
// restarted server): every object durable before the crash, or a miss,
// never wrong bytes.
void Sim::CheckLinearizable(int c, const Op& op, const PutRec& p, Time issued) {
  if (p.attempts != 1 || p.confirmed == Time::max()) return;
  Count("GET hits checked against every client's history");
  const auto crash_between = [this](Time from, Time to) {
    return std::any_of(server_crashes_.begin(), server_crashes_.end(),
                       [from, to](Time t) { return t > from && t < to; });
  };
  // The whole call of p ended before a crash that came before this GET: the
  // value came back through the restart scan.
  if (p.done != Time{} && crash_between(p.done, issued)) {
    Count("GET hits of a value from before a server crash");
    Probe("recovery: a restarted server served what its disk tier held");
  }
  for (std::size_t i : puts_of_key_[op.key]) {
    const PutRec& q = puts_[i];
    if (q.id == p.id || !q.ok || q.confirmed == Time::max() || q.confirmed > issued) continue;
    if (q.rejects_at_confirm != q.rejects_at_invoke || p.confirmed >= q.invoked) continue;
    if (crash_between(q.confirmed, world_.Now())) continue;  // a GET retried across the crash counts too
    return Fail("client " + std::to_string(c) + " GET " + KeyName(op.key) + " sent at " + At(issued) +
                ": the value of PUT #" + std::to_string(p.id) + " (client " + std::to_string(p.client) +
                ", applied by " + At(p.confirmed) + "), but PUT #" + std::to_string(q.id) + " (client " +
                std::to_string(q.client) + ", sent at " + At(q.invoked) + ", applied by " + At(q.confirmed) +
                ") had replaced it before the GET was sent (not linearizable: a stale value)");
  }
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
  // A PUT, recorded for the checks.
  const auto put = [&](const Op& op, Time issued) {
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
    client::CallResult r = client.Put(KeyName(op.key), FieldsOf(op.elements), v);
    PutRec& rec = puts_[index];
    rec.ok = r.status == CallStatus::kOk;
    rec.attempts = r.attempts;
    rec.done = env.Now();
    rec.conn_at_done = node.connects;
    rec.rejects_at_done = Rejects();
    if (rec.ok) unconfirmed.push_back(index);
    return r;
  };
  for (const Op& op : s_.ops[static_cast<std::size_t>(c)]) {
    const Time issued = env.Now();
    client::CallResult r;
    Op::Kind kind = op.kind;  // what was sent on this connection
    switch (op.kind) {
      case Op::Kind::kPut: r = put(op, issued); break;
      case Op::Kind::kGet:
        // A fifth of the GETs are overtaken by a PUT of their key instead:
        // the GET goes out on a second connection and is left there, and a
        // PUT follows on this one, so the PUT may land while the GET's load
        // from L2 is under way (drawn at run time: the scenario's draws stay
        // those of earlier seeds). The checks then read later GETs of the key.
        if (world_.sched_rng().Chance(0.2)) {
          const std::unique_ptr<net::Stream> side = SendRawGet(env, op.key, issued + s_.call_timeout);
          env.SleepUntil(env.Now() + std::chrono::microseconds(world_.sched_rng().Below(3000)));
          kind = Op::Kind::kPut;
          r = put(op, env.Now());
          if (side) side->Close();
          break;
        }
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
    if (kind != Op::Kind::kPut) {
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

}  // namespace lmc::simnet::internal
