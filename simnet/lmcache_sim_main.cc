// lmcache-sim: runs the kit's real server, client, tiers and serdes in the
// simulated world (simnet/harness.h), one seed or a campaign of them.
//
//   lmcache-sim --seed 42                   one seed
//   lmcache-sim --seeds 1000 --start 5000   a campaign (a shard of a larger one)
//   lmcache-sim --seeds 200 --plant tier-serves-older-value --shrink
//   lmcache-sim --seed 42 --pcap seed42.pcap  the seed's network as TCP streams (Wireshark)
//
// The tool's main() is the process edge: it reads the wall clock (to say
// how fast the simulation runs), runs a watchdog thread and starts fresh
// copies of itself (the determinism check); the simulated world itself does
// none of that.
//
// --check-determinism holds a seed's trace to one that cannot depend on what
// ran before it in the process: each seed runs again at once with the heap
// stirred (so that its objects get other addresses, in another order), and
// every --fresh-every'th seed runs once more in a
// fresh process (`--trace-only`). A trace that follows addresses, or state
// kept from run to run, fails the seed as "nondeterministic".
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/plant.h"
#include "simnet/harness.h"
#include "simnet/scenario.h"
#include "simnet/world.h"
#include "tools/cli.h"

namespace {

using lmc::simnet::Cut;
using lmc::simnet::Outcome;
using lmc::simnet::Scenario;

struct Args {
  std::uint64_t seed = 0;
  bool one_seed = false;
  std::uint64_t seeds = 1;
  std::uint64_t start = 1;
  bool check_determinism = false;
  std::uint64_t fresh_every = 50;
  bool trace_only = false;
  std::string pcap;
  bool shrink = false;
  bool keep_going = false;
  bool verbose = false;
  bool list_plants = false;
  std::vector<std::string> plants;
  std::size_t ops_limit = SIZE_MAX;
  std::string drop_ops, drop_faults;
  std::uint64_t min_probe_seeds = 100;
  int hang_s = 120;
  std::size_t shrink_runs = 400;
  std::string tier;  // "" or a tier every seed gets (Draw)
};

std::atomic<std::uint64_t> g_current_seed{0};

std::string PlantFlags(const Args& a) {
  std::string out;
  for (const std::string& p : a.plants) out += " --plant " + p;
  return out;
}

std::string ReplayCommand(const Args& a, std::uint64_t seed, const Cut& cut) {
  return "lmcache-sim --seed " + std::to_string(seed) + (a.tier.empty() ? "" : " --tier " + a.tier) + PlantFlags(a) +
         cut.Flags();
}

// Runs `lmcache-sim --seed SEED --trace-only` (with the plants and cut) in a
// fresh process; its trace hash, or nullopt (with *why) when that fails.
std::optional<std::uint64_t> FreshTrace(const Args& a, std::uint64_t seed, const Cut& cut, std::string* why) {
  std::vector<std::string> args{"lmcache-sim", "--seed", std::to_string(seed), "--trace-only"};
  if (!a.tier.empty()) args.insert(args.end(), {"--tier", a.tier});
  for (const std::string& p : a.plants) args.insert(args.end(), {"--plant", p});
  if (cut.ops_limit != SIZE_MAX) args.insert(args.end(), {"--ops-limit", std::to_string(cut.ops_limit)});
  if (!a.drop_ops.empty()) args.insert(args.end(), {"--drop-ops", a.drop_ops});
  if (!a.drop_faults.empty()) args.insert(args.end(), {"--drop-faults", a.drop_faults});
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe(out) != 0) {
    *why = "pipe failed";
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  if (spawned == 0) {
    char buf[256];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  if (spawned != 0 || ::waitpid(pid, &status, 0) != pid) {
    *why = "cannot start a fresh lmcache-sim";
    return std::nullopt;
  }
  unsigned long long hash = 0;
  if (std::sscanf(text.c_str(), "trace %llx", &hash) != 1) {
    *why = "the fresh process printed no trace (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
    return std::nullopt;
  }
  return hash;
}

// Runs `s` with the heap stirred first: blocks of seed-dependent sizes are
// allocated, and every other one freed in a seed-dependent order, so that
// the run's objects land at other addresses and in another address order
// (the allocator hands freed blocks back last-in, first-out).
Outcome RunWithHeapStirred(const Scenario& s, const lmc::simnet::RunConfig& config, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  const auto next = [&x] {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    return x;
  };
  std::vector<std::unique_ptr<char[]>> blocks;
  blocks.reserve(2048);
  for (int i = 0; i < 2048; ++i) blocks.push_back(std::make_unique<char[]>(16 + next() % 2048));
  for (std::size_t i = blocks.size() - 1; i > 0; --i) std::swap(blocks[i], blocks[next() % (i + 1)]);
  for (std::size_t i = 0; i < blocks.size(); i += 2) blocks[i].reset();
  lmc::simnet::RunConfig again = config;
  again.capture = nullptr;  // the first run's capture is the seed's
  return lmc::simnet::Run(s, again);
}

// A failure's kind: its text without the numbers, so the shrinker keeps
// looking for the same bug, not any bug.
std::string Signature(const std::string& failure) {
  std::string out;
  for (char ch : failure)
    if (ch < '0' || ch > '9') out += ch;
  const std::size_t space = out.find(' ');  // drop the "t=ms" prefix
  return space == std::string::npos ? out : out.substr(space + 1);
}
std::set<std::string> Signatures(const Outcome& o) {
  std::set<std::string> out;
  for (const std::string& f : o.failures) out.insert(Signature(f));
  return out;
}

void PrintOutcome(const Outcome& o, const Scenario& s, bool verbose) {
  if (verbose) {
    std::cout << s.Describe();
    std::printf("simulated: %.2f s in %.3f s wall (%.0fx), %llu tasks, trace %016llx (%llu events)\n", o.sim_seconds,
                o.wall_seconds, o.wall_seconds > 0 ? o.sim_seconds / o.wall_seconds : 0.0,
                static_cast<unsigned long long>(o.steps), static_cast<unsigned long long>(o.trace_hash),
                static_cast<unsigned long long>(o.trace_events));
    std::printf("counts:");
    for (const auto& [name, n] : o.counts) std::printf(" %s=%llu;", name.c_str(), static_cast<unsigned long long>(n));
    std::printf("\n");
    std::printf("faults injected:");
    if (o.faults.empty()) std::printf(" none");
    for (const auto& [name, n] : o.faults) std::printf(" %s=%llu", name.c_str(), static_cast<unsigned long long>(n));
    std::printf("\n");
  }
  for (std::size_t i = 0; i < o.failures.size() && i < 8; ++i) std::printf("  FAIL %s\n", o.failures[i].c_str());
  if (o.failures.size() > 8) std::printf("  ... and %zu more\n", o.failures.size() - 8);
}

// Searches for a smaller scenario that fails the same way: the shortest op
// prefix, then without each fault, then without chunks of ops (halving the
// chunk), repeated to a fixed point or until `budget` runs.
Cut Shrink(const Scenario& full, Cut cut, const std::set<std::string>& want, const lmc::simnet::RunConfig& config,
           std::size_t budget) {
  std::size_t runs = 0;
  auto fails = [&](const Cut& c) {
    if (runs >= budget) return false;
    ++runs;
    const Outcome o = lmc::simnet::Run(lmc::simnet::Apply(full, c), config);
    for (const std::string& sig : Signatures(o))
      if (want.count(sig) != 0) return true;
    return false;
  };
  std::size_t longest = full.worker_ops.size();
  for (const auto& ops : full.ops) longest = std::max(longest, ops.size());
  bool changed = true;
  while (changed && runs < budget) {
    changed = false;
    // 1. The shortest prefix that still fails (binary search).
    std::size_t lo = 0, hi = std::min(cut.ops_limit, longest);
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      Cut c = cut;
      c.ops_limit = mid;
      if (fails(c)) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    if (hi < std::min(cut.ops_limit, longest)) {
      cut.ops_limit = hi;
      changed = true;
    }
    // 2. Each fault.
    for (std::size_t i = 0; i < full.faults.size(); ++i) {
      if (cut.drop_faults.count(i) != 0) continue;
      Cut c = cut;
      c.drop_faults.insert(i);
      if (fails(c)) {
        cut = c;
        changed = true;
      }
    }
    // 3. Chunks of the ops still there.
    std::vector<std::size_t> kept;
    std::size_t index = 0;
    auto collect = [&](std::size_t n) {
      for (std::size_t i = 0; i < n; ++i, ++index)
        if (i < cut.ops_limit && cut.drop_ops.count(index) == 0) kept.push_back(index);
    };
    for (const auto& ops : full.ops) collect(ops.size());
    collect(full.worker_ops.size());
    for (std::size_t chunk = std::max<std::size_t>(1, kept.size() / 2); chunk >= 1; chunk /= 2) {
      for (std::size_t begin = 0; begin < kept.size(); begin += chunk) {
        Cut c = cut;
        for (std::size_t j = begin; j < std::min(kept.size(), begin + chunk); ++j) c.drop_ops.insert(kept[j]);
        if (c.drop_ops.size() != cut.drop_ops.size() && fails(c)) {
          cut = c;
          changed = true;
        }
      }
      if (chunk == 1) break;
    }
  }
  std::printf("shrink: %zu runs%s\n", runs, runs >= budget ? " (budget reached)" : "");
  return lmc::simnet::Normalize(full, cut);
}

int Main(int argc, char** argv) {
  CLI::App app{"Runs the kit's real server, client, tiers and serdes in a deterministic simulated world."};
  lmc::tools::SetConventions(app, "lmcache-sim",
                             "0 every seed passed; 1 a seed failed (its replay command is printed), or a campaign "
                             "never reached a declared probe; 2 usage error; 3 a run hung outside the simulation");
  Args a;
  app.add_option("--seed", a.seed, "run this one seed")->each([&](const std::string&) { a.one_seed = true; });
  app.add_option("--seeds", a.seeds, "run this many seeds (a campaign)")->check(CLI::Range(1ull, 100'000'000ull));
  app.add_option("--start", a.start, "the campaign's first seed");
  app.add_flag("--check-determinism", a.check_determinism,
               "run each seed again with the heap shifted, and every --fresh-every'th in a fresh process, and "
               "compare the trace hashes");
  app.add_option("--fresh-every", a.fresh_every,
                 "with --check-determinism: run every N-th seed of the campaign (and every failing one) again in a "
                 "fresh process; 1 = every seed, 0 = none")
      ->capture_default_str();
  app.add_option("--pcap", a.pcap,
                 "with --seed: write the run's connections as TCP streams into this pcap file (virtual time; "
                 "the server is port 7000, so: tshark -o lmcache.port:7000)");
  app.add_flag("--trace-only", a.trace_only,
               "with --seed: print only 'trace HASH EVENTS pass|FAIL' (what the fresh-process check reads)");
  app.add_flag("--shrink", a.shrink, "on a failure, search for a smaller scenario that fails the same way");
  app.add_flag("--keep-going", a.keep_going, "go on after a failing seed");
  app.add_flag("-v,--verbose", a.verbose, "per seed: the options drawn, the speed and the faults injected");
  app.add_flag("--list-plants", a.list_plants, "list the bugs --plant can switch on, and exit");
  app.add_option("--plant", a.plants, "switch on a planted bug (see --list-plants); repeatable");
  app.add_option("--tier", a.tier, "give every seed this L2 tier: fs, lm or resp (the rest is drawn as usual)")
      ->check(CLI::IsMember({"fs", "lm", "resp"}));
  app.add_option("--ops-limit", a.ops_limit, "keep at most this many operations per client (a shrunk replay)");
  app.add_option("--drop-ops", a.drop_ops, "drop these operations, e.g. 1,4-7 (a shrunk replay)");
  app.add_option("--drop-faults", a.drop_faults, "drop these scheduled faults (a shrunk replay)");
  app.add_option("--min-probe-seeds", a.min_probe_seeds,
                 "a campaign of at least this many seeds fails if a declared probe was never reached");
  app.add_option("--hang-s", a.hang_s, "wall seconds without progress before a run counts as hung")
      ->check(CLI::Range(1, 86400));
  app.add_option("--shrink-runs", a.shrink_runs, "at most this many runs while shrinking");
  if (std::optional<int> exit = lmc::tools::Parse(app, argc, argv)) return *exit;

  if (a.list_plants) {
    for (const lmc::plant::Info& p : lmc::plant::kAll)
      std::printf("%-32s %s\n", std::string(p.name).c_str(), std::string(p.what).c_str());
    return 0;
  }
  lmc::simnet::RunConfig config;
  for (const std::string& name : a.plants) {
    bool found = false;
    for (const lmc::plant::Info& p : lmc::plant::kAll)
      if (p.name == name) {
        config.plants |= static_cast<std::uint32_t>(p.bug);
        found = true;
      }
    if (!found) {
      std::fprintf(stderr, "lmcache-sim: no planted bug named '%s' (see --list-plants)\n", name.c_str());
      return lmc::tools::kExitUsage;
    }
  }
  Cut cut;
  cut.ops_limit = a.ops_limit;
  if ((!a.drop_ops.empty() && !lmc::simnet::ParseIndexSet(a.drop_ops, &cut.drop_ops)) ||
      (!a.drop_faults.empty() && !lmc::simnet::ParseIndexSet(a.drop_faults, &cut.drop_faults))) {
    std::fprintf(stderr, "lmcache-sim: --drop-ops and --drop-faults take lists like 1,4-7\n");
    return lmc::tools::kExitUsage;
  }
  if (!a.pcap.empty() && !a.one_seed) {
    std::fprintf(stderr, "lmcache-sim: --pcap goes with --seed\n");
    return lmc::tools::kExitUsage;
  }
  lmc::pcap::TcpCapture capture;
  if (!a.pcap.empty()) config.capture = &capture;
  if (a.one_seed) {
    a.start = a.seed;
    a.seeds = 1;
  }
  if (a.trace_only) {
    if (!a.one_seed) {
      std::fprintf(stderr, "lmcache-sim: --trace-only goes with --seed\n");
      return lmc::tools::kExitUsage;
    }
    const Outcome o = lmc::simnet::Run(lmc::simnet::Apply(lmc::simnet::Draw(a.seed, a.tier), cut), config);
    std::printf("trace %016llx %llu %s\n", static_cast<unsigned long long>(o.trace_hash),
                static_cast<unsigned long long>(o.trace_events), o.ok() ? "pass" : "FAIL");
    return o.ok() ? 0 : 1;
  }

  // The watchdog: a run that stops making progress is a thread blocked
  // outside the seam (a lock held across a wait): say which seed, and end.
  std::thread([hang_s = a.hang_s, a] {
    std::uint64_t last = lmc::simnet::World::GlobalProgress();
    int still = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const std::uint64_t now = lmc::simnet::World::GlobalProgress();
      still = now == last ? still + 1 : 0;
      last = now;
      if (still >= hang_s) {
        const std::uint64_t seed = g_current_seed.load();
        std::printf(
            "\nlmcache-sim: seed %llu made no progress for %d s: a thread blocked outside the simulation\n"
            "replay: %s\n",
            static_cast<unsigned long long>(seed), hang_s, ReplayCommand(a, seed, Cut{}).c_str());
        std::fflush(stdout);
        std::_Exit(3);
      }
    }
  }).detach();

  const auto wall_start = std::chrono::steady_clock::now();
  std::uint64_t passed = 0, failed = 0;
  double sim_seconds = 0, run_wall = 0;
  std::set<std::string> probes;
  std::map<std::string, std::uint64_t> faults;
  auto last_progress = wall_start;
  const bool campaign = a.seeds > 1;
  for (std::uint64_t i = 0; i < a.seeds; ++i) {
    const std::uint64_t seed = a.start + i;
    g_current_seed = seed;
    const Scenario full = lmc::simnet::Draw(seed, a.tier);
    const Scenario s = lmc::simnet::Apply(full, cut);
    Outcome o = lmc::simnet::Run(s, config);
    if (a.check_determinism) {
      const bool was_ok = o.ok();
      if (was_ok) {
        const Outcome again = RunWithHeapStirred(s, config, seed);
        if (again.trace_hash != o.trace_hash || again.failures != o.failures) {
          char buf[200];
          std::snprintf(buf, sizeof buf,
                        "nondeterministic: trace %016llx (%llu events), then %016llx (%llu events) with the heap "
                        "stirred",
                        static_cast<unsigned long long>(o.trace_hash), static_cast<unsigned long long>(o.trace_events),
                        static_cast<unsigned long long>(again.trace_hash),
                        static_cast<unsigned long long>(again.trace_events));
          o.failures.push_back(buf);
        }
      }
      // A failing seed always: its replay must give the same run.
      if (!was_ok || (a.fresh_every != 0 && i % a.fresh_every == 0)) {
        std::string why;
        const std::optional<std::uint64_t> fresh = FreshTrace(a, seed, cut, &why);
        if (!fresh) {
          o.failures.push_back("determinism check: " + why);
        } else if (*fresh != o.trace_hash) {
          char buf[200];
          std::snprintf(buf, sizeof buf,
                        "nondeterministic: trace %016llx here, %016llx alone in a fresh process (the run depends on "
                        "what ran before it)",
                        static_cast<unsigned long long>(o.trace_hash), static_cast<unsigned long long>(*fresh));
          o.failures.push_back(buf);
        }
      }
    }
    sim_seconds += o.sim_seconds;
    run_wall += o.wall_seconds;
    probes.insert(o.probes.begin(), o.probes.end());
    for (const auto& [name, n] : o.faults) faults[name] += n;
    if (!campaign || a.verbose || !o.ok()) {
      if (campaign) std::printf("\n");
      std::printf("seed %llu: %s (trace %016llx)\n", static_cast<unsigned long long>(seed), o.ok() ? "pass" : "FAIL",
                  static_cast<unsigned long long>(o.trace_hash));
      PrintOutcome(o, s, a.verbose || !campaign);
    }
    if (!a.pcap.empty()) {
      std::ofstream f(a.pcap, std::ios::binary | std::ios::trunc);
      f << capture.Bytes();
      f.close();
      if (!f) {
        std::fprintf(stderr, "lmcache-sim: --pcap: cannot write %s\n", a.pcap.c_str());
        return 1;
      }
      std::printf("pcap: %zu connections, %zu packets in %s\n", capture.connection_count(), capture.packet_count(),
                  a.pcap.c_str());
    }
    if (o.ok()) {
      ++passed;
    } else {
      ++failed;
      std::printf("replay: %s\n", ReplayCommand(a, seed, cut).c_str());
      if (a.shrink) {
        const Cut small = Shrink(full, cut, Signatures(o), config, a.shrink_runs);
        const Scenario shrunk = lmc::simnet::Apply(full, small);
        const Outcome so = lmc::simnet::Run(shrunk, config);
        std::printf("shrunk: %zu of %zu operations, %zu of %zu faults; %s (trace %016llx)\n", shrunk.op_count(),
                    full.op_count(), shrunk.faults.size(), full.faults.size(), so.ok() ? "passes?!" : "still fails",
                    static_cast<unsigned long long>(so.trace_hash));
        PrintOutcome(so, shrunk, false);
        std::printf("replay shrunk: %s\n", ReplayCommand(a, seed, small).c_str());
      }
      if (!a.keep_going) break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (campaign && now - last_progress > std::chrono::seconds(1)) {
      last_progress = now;
      std::fprintf(stderr, "\r[%llu/%llu] %llu passed, %llu failed, %.0fx     ", static_cast<unsigned long long>(i) + 1,
                   static_cast<unsigned long long>(a.seeds), static_cast<unsigned long long>(passed),
                   static_cast<unsigned long long>(failed), run_wall > 0 ? sim_seconds / run_wall : 0.0);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::vector<std::string> missing;
  const std::vector<std::string> declared = lmc::simnet::DeclaredProbes(a.tier);
  for (const std::string& p : declared)
    if (probes.count(p) == 0) missing.push_back(p);
  if (campaign) std::fprintf(stderr, "\n");
  const std::uint64_t ran = passed + failed;
  std::printf(
      "lmcache-sim: %llu seeds from %llu%s: %llu passed, %llu failed; %.0f simulated s in %.1f s wall (%.0fx); "
      "%.0f seeds/min; probes %zu/%zu\n",
      static_cast<unsigned long long>(ran), static_cast<unsigned long long>(a.start), PlantFlags(a).c_str(),
      static_cast<unsigned long long>(passed), static_cast<unsigned long long>(failed), sim_seconds, wall,
      run_wall > 0 ? sim_seconds / run_wall : 0.0, wall > 0 ? static_cast<double>(ran) * 60.0 / wall : 0.0,
      declared.size() - missing.size(), declared.size());
  if (failed > 0) return 1;
  if (ran >= a.min_probe_seeds && !missing.empty() && config.plants == 0) {
    for (const std::string& p : missing) std::printf("probe never reached: %s\n", p.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
