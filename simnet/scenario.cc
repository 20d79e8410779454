#include "simnet/scenario.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <iterator>
#include <sstream>

#include "simnet/faults.h"

namespace lmc::simnet {

using std::chrono::microseconds;
using std::chrono::milliseconds;

std::string_view OpName(Op::Kind k) {
  switch (k) {
    case Op::Kind::kPut: return "PUT";
    case Op::Kind::kGet: return "GET";
    case Op::Kind::kExist: return "EXIST";
    case Op::Kind::kList: return "LIST";
    case Op::Kind::kHealth: return "HEALTH";
    case Op::Kind::kCutPut: return "CUT-PUT";
    case Op::Kind::kPause: return "PAUSE";
    case Op::Kind::kStore: return "STORE-BATCH";
    case Op::Kind::kLoad: return "LOAD-BATCH";
  }
  return "?";
}

std::string_view FaultName(FaultEvent::Kind k) { return k < FaultEvent::Kind::kCount ? FaultKindOf(k).name : "?"; }

namespace {

template <typename T>
const T& Pick(Rng& r, const std::vector<T>& v) {
  return v[r.Below(v.size())];
}

// One of `choices` by weight (the weights are percentages).
template <typename K>
K Weighted(Rng& r, std::initializer_list<std::pair<std::uint64_t, K>> choices) {
  std::uint64_t roll = r.Below(100);
  for (const auto& [weight, kind] : choices) {
    if (roll < weight) return kind;
    roll -= weight;
  }
  return std::prev(choices.end())->second;
}

// A probability that is off about half the time, else up to `max`.
double MaybeChance(Rng& r, double max) { return r.Chance(0.5) ? 0.0 : r.Unit() * max; }

Op DrawClientOp(Rng& r, const Scenario& s, std::uint64_t client) {
  Op op;
  using K = Op::Kind;
  op.kind = Weighted<K>(
      r,
      {{35, K::kPut}, {35, K::kGet}, {10, K::kExist}, {3, K::kList}, {3, K::kHealth}, {5, K::kCutPut}, {9, K::kPause}});
  // Mostly the client's own keys (so its own PUTs follow each other on one
  // connection: the "never older" check needs that), sometimes anyone's.
  const auto keys = static_cast<std::uint64_t>(s.keys);
  const auto clients = static_cast<std::uint64_t>(s.clients);
  const std::uint64_t own = (keys + clients - 1 - client) / clients;  // keys k with k % clients == client
  op.key = static_cast<int>(own > 0 && r.Chance(0.85) ? client + clients * r.Below(own) : r.Below(keys));
  // Values from a few bytes to a quarter of L1, most of them small: the
  // keys' values together overflow L1, so the tier sees evictions.
  const std::uint64_t max_elements = std::max<std::uint64_t>(64, s.l1_bytes / 5);
  const double u = r.Unit();
  op.elements =
      static_cast<std::uint32_t>(8 + static_cast<std::uint64_t>(u * std::sqrt(u) * static_cast<double>(max_elements)));
  op.pause_us = static_cast<std::uint32_t>(r.Below(300'000));
  return op;
}

}  // namespace

std::size_t Scenario::op_count() const {
  std::size_t n = worker_ops.size();
  for (const auto& c : ops) n += c.size();
  return n;
}

Scenario Draw(std::uint64_t seed, const std::string& tier) {
  Rng r(seed ^ 0xd1a5c0ffeeULL);
  Scenario s;
  s.seed = seed;
  s.clients = 1 + static_cast<int>(r.Below(4));
  s.keys = 3 + static_cast<int>(r.Below(10));
  s.l1_bytes = (64 + r.Below(449)) << 10;
  s.tier = r.Chance(0.8);
  if (s.tier) s.tier_serde = Pick<std::string>(r, {"", "", "checksum", "lz4", "fp8", "aesgcm"});
  if (s.tier && r.Chance(0.3)) s.tier_type = "lm";
  if (r.Chance(0.6)) s.batch_serde = Pick<std::string>(r, {"checksum", "lz4", "zstd", "fp8", "aesgcm"});
  s.stall_timeout = milliseconds(1000 + r.Below(2001));
  s.call_timeout = milliseconds(1500 + r.Below(1501));

  s.net.latency_min = microseconds(10 + r.Below(41));
  s.net.latency_max = s.net.latency_min + microseconds(r.Below(2000));
  s.net.tail_chance = MaybeChance(r, 0.03);
  s.net.partial_read_chance = MaybeChance(r, 0.8);
  s.net.split_chance = MaybeChance(r, 0.8);
  s.net.refuse_chance = MaybeChance(r, 0.05);
  s.net.accept_fail_chance = MaybeChance(r, 0.05);
  s.net.window_bytes = std::size_t{16} << (10 + r.Below(5));  // 16 KiB .. 256 KiB

  s.disk.write_fail_chance = MaybeChance(r, 0.05);
  s.disk.short_write_chance = MaybeChance(r, 0.05);
  s.disk.sync_fail_chance = MaybeChance(r, 0.03);
  s.disk.fsync_lie_chance = r.Chance(0.2) ? r.Unit() * 0.3 : 0.0;
  s.disk.sync_latency_max = microseconds(r.Below(20000));
  s.bit_flips = (s.batch_serde == "checksum" || s.batch_serde == "aesgcm") && r.Chance(0.3);

  s.heal_at = milliseconds(6000 + r.Below(14001));
  s.ops.resize(static_cast<std::size_t>(s.clients));
  for (std::size_t c = 0; c < s.ops.size(); ++c) {
    const std::uint64_t n = 16 + r.Below(64);
    for (std::uint64_t i = 0; i < n; ++i) s.ops[c].push_back(DrawClientOp(r, s, c));
  }
  if (!s.batch_serde.empty()) {
    const std::uint64_t n = 6 + r.Below(20);
    for (std::uint64_t i = 0; i < n; ++i) {
      Op op;
      op.kind = r.Chance(0.5) ? Op::Kind::kStore : Op::Kind::kLoad;
      op.key = static_cast<int>(r.Below(static_cast<std::uint64_t>(s.keys)));
      op.count = 1 + static_cast<int>(r.Below(3));
      op.elements = static_cast<std::uint32_t>(16 + r.Below(2048));
      op.pause_us = static_cast<std::uint32_t>(r.Below(300'000));
      s.worker_ops.push_back(op);
    }
  }
  const std::uint64_t faults = r.Below(9);
  const auto window = static_cast<std::uint64_t>(std::chrono::duration_cast<milliseconds>(s.heal_at).count() - 1500);
  for (std::uint64_t i = 0; i < faults; ++i) {
    FaultEvent f;
    f.kind = DrawFaultKind(r);
    if (const FaultKindInfo& k = FaultKindOf(f.kind); k.fits != nullptr && !k.fits(s)) f.kind = k.instead;
    f.at = milliseconds(r.Below(window));
    f.length = milliseconds(50 + r.Below(2500));
    f.target = static_cast<int>(r.Below(static_cast<std::uint64_t>(s.clients)));
    if (FaultKindOf(f.kind).may_cut_backend && s.tier && s.tier_type == "lm" && r.Chance(0.4)) f.target = -1;
    s.faults.push_back(f);
  }
  std::stable_sort(s.faults.begin(), s.faults.end(),
                   [](const FaultEvent& a, const FaultEvent& b) { return a.at < b.at; });
  // Drawn last, so the draws above stay those of earlier versions' seeds.
  s.l1_chunk_bytes = std::size_t{4096} << r.Below(4);
  // Half the lm:// tiers become a RESP node (same node, same faults).
  if (s.tier && s.tier_type == "lm" && r.Chance(0.5)) s.tier_type = "resp";
  s.resp_delay = microseconds(r.Chance(0.5) ? 0 : r.Below(3000));
  if (!tier.empty()) {
    s.tier = true;
    s.tier_type = tier;
    // A forced remote tier: some partitions cut its node off.
    for (FaultEvent& f : s.faults)
      if (tier != "fs" && FaultKindOf(f.kind).may_cut_backend && r.Chance(0.4)) f.target = -1;
  }
  // A RESP tier's server has no disk tier to fill: its disk-full faults are
  // the RESP node's restarts; partitions may cut it off like the lm:// one.
  for (FaultEvent& f : s.faults)
    if (s.tier_type == "resp" && f.kind == FaultEvent::Kind::kDiskFull) f.kind = FaultEvent::Kind::kRespRestart;
  return s;
}

std::string Scenario::Describe() const {
  auto ms = [](Duration d) { return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms"; };
  auto us = [](Duration d) { return std::to_string(std::chrono::duration_cast<microseconds>(d).count()) + " us"; };
  std::ostringstream o;
  o << "seed: " << seed << "\n"
    << "clients: " << clients << "\nkeys: " << keys << "\nl1_bytes: " << l1_bytes << " in " << l1_chunk_bytes
    << "-byte chunks\n"
    << "tier: " << (tier ? tier_type + (tier_serde.empty() ? std::string(" (raw)") : " + " + tier_serde) : "none")
    << "\n"
    << "resp reply delay: " << us(resp_delay) << "\n"
    << "l2 worker: " << (batch_serde.empty() ? std::string("none") : "fs + " + batch_serde) << "\n"
    << "stall_timeout: " << ms(stall_timeout) << "\ncall_timeout: " << ms(call_timeout) << "\n"
    << "latency: " << us(net.latency_min) << " .. " << us(net.latency_max) << ", tail " << net.tail_chance << " up to "
    << ms(net.tail_max) << "\n"
    << "partial reads: " << net.partial_read_chance << "\nsplit writes: " << net.split_chance << "\n"
    << "refused connects: " << net.refuse_chance << "\nfailed accepts: " << net.accept_fail_chance << "\n"
    << "window_bytes: " << net.window_bytes << "\n"
    << "failed writes: " << disk.write_fail_chance << "\nshort writes: " << disk.short_write_chance << "\n"
    << "sync latency: up to " << us(disk.sync_latency_max) << "\n"
    << "failed fsyncs: " << disk.sync_fail_chance << "\nlying fsyncs: " << disk.fsync_lie_chance << "\n"
    << "bit flips: " << (bit_flips ? "on (worker disk)" : "off") << "\n"
    << "operations: " << op_count() << "\nfaults scheduled: " << faults.size() << "\n";
  for (std::size_t i = 0; i < faults.size(); ++i)
    o << "  fault " << i << ": " << FaultName(faults[i].kind) << " at " << ms(faults[i].at) << " for "
      << ms(faults[i].length)
      << (faults[i].target < 0 ? std::string(" (the tier's backend)")
                               : " (client " + std::to_string(faults[i].target) + ")")
      << "\n";
  o << "heal_at: " << ms(heal_at) << "\n";
  return o.str();
}

Scenario Apply(const Scenario& s, const Cut& cut) {
  Scenario out = s;
  std::size_t index = 0;
  auto cut_list = [&](const std::vector<Op>& in) {
    std::vector<Op> kept;
    for (std::size_t i = 0; i < in.size(); ++i, ++index)
      if (i < cut.ops_limit && cut.drop_ops.count(index) == 0) kept.push_back(in[i]);
    return kept;
  };
  for (std::size_t c = 0; c < s.ops.size(); ++c) out.ops[c] = cut_list(s.ops[c]);
  out.worker_ops = cut_list(s.worker_ops);
  out.faults.clear();
  for (std::size_t i = 0; i < s.faults.size(); ++i)
    if (cut.drop_faults.count(i) == 0) out.faults.push_back(s.faults[i]);
  return out;
}

Cut Normalize(const Scenario& s, Cut cut) {
  std::set<std::size_t> kept;
  std::size_t index = 0;
  auto list = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i, ++index)
      if (i < cut.ops_limit && cut.drop_ops.count(index) != 0) kept.insert(index);
  };
  for (const auto& ops : s.ops) list(ops.size());
  list(s.worker_ops.size());
  cut.drop_ops = std::move(kept);
  return cut;
}

namespace {

std::string Ranges(const std::set<std::size_t>& set) {
  std::string out;
  for (auto it = set.begin(); it != set.end();) {
    const std::size_t lo = *it;
    std::size_t hi = lo;
    for (++it; it != set.end() && *it == hi + 1; ++it) hi = *it;
    if (!out.empty()) out += ',';
    out += std::to_string(lo);
    if (hi != lo) out += "-" + std::to_string(hi);
  }
  return out;
}

}  // namespace

std::string Cut::Flags() const {
  std::string out;
  if (ops_limit != SIZE_MAX) out += " --ops-limit " + std::to_string(ops_limit);
  if (!drop_ops.empty()) out += " --drop-ops " + Ranges(drop_ops);
  if (!drop_faults.empty()) out += " --drop-faults " + Ranges(drop_faults);
  return out;
}

bool ParseIndexSet(const std::string& text, std::set<std::size_t>* out) {
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const std::size_t dash = part.find('-');
    try {
      std::size_t used = 0;
      const std::size_t lo = std::stoull(part.substr(0, dash), &used);
      if (used != (dash == std::string::npos ? part.size() : dash)) return false;
      std::size_t hi = lo;
      if (dash != std::string::npos) {
        const std::string rest = part.substr(dash + 1);
        hi = std::stoull(rest, &used);
        if (used != rest.size() || hi < lo || hi - lo > 1'000'000) return false;
      }
      for (std::size_t i = lo; i <= hi; ++i) out->insert(i);
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

}  // namespace lmc::simnet
