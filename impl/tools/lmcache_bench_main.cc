// lmcache-bench: drives any lm:// server with N connections and a mix of
// PUT/GET/EXIST over objects of several sizes, verifies every GET body, and
// prints throughput (GB/s, ops/s) and latency percentiles per command.
//
//   lmcache-bench [--url lm://HOST:PORT] [--connections N] [--sizes 256K,4M,32M]
//                 [--mix put=1,get=3,exist=0] [--duration-s S] [--ops N] [--keys K] [--seed S]
//                 [--depth D] [--timeout-ms MS] [--fresh-keys] [--warm-s S]
//
// Each connection first PUTs its K keys of every size (unless --no-fill:
// an earlier run with the same --seed, --sizes and --keys left them there),
// then runs the mix on them for the duration, with up to D requests in
// flight (pipelined; D = 1 is one blocking call after another, as an LMCache
// worker makes them). Payloads are a seeded pattern per (connection, key,
// size), so a GET body that differs from what was PUT is caught.
//
// --fresh-keys makes every PUT of the mix write a key never written before,
// as an LMCache worker writes a new key per chunk (GETs and EXISTs still use
// the K keys); without it PUTs overwrite the K keys. --warm-s runs the mix
// for that long before the timed --duration-s: the server's memory (and
// the client's) is warm when timing starts, and nothing done before it is
// counted, except errors.
//
// Time is bounded: nothing is issued after --duration-s (or, with --ops and
// no --duration-s, after the N-th operation), and every call has
// --timeout-ms; a call that runs over it is counted as timed out and its
// connection is closed, as a pipelined connection is out of step after a
// lost reply. So a server that accepts and never answers ends the run at
// the duration plus one timeout at the latest.
//
// Exit status: 0 no error and no body mismatch; 1 any error (each counted
// by its reason, and the reasons printed) or mismatch; 2 a usage error.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include <xxhash.h>
#include <CLI/CLI.hpp>

#include "client/client.h"
#include "net/asio_transport.h"
#include "runtime/process_env.h"
#include "tools/cli.h"

namespace {

using Clock = std::chrono::steady_clock;
using lmc::client::CallStatus;

// The protocol's length field is an int32: no object can be larger.
constexpr std::size_t kMaxObjectBytes = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

// "256K", "4M", "1.5G", "100" (bytes); throws std::invalid_argument saying
// what is wrong.
std::size_t ParseSize(const std::string& s) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || !std::isfinite(v) || v < 0) {
    throw std::invalid_argument("bad size '" + s + "' (want a number of bytes with an optional K, M or G suffix)");
  }
  const std::string unit = s.substr(used);
  double mult = 1;
  if (unit == "K" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    throw std::invalid_argument("bad size unit in '" + s + "'");
  const double bytes = v * mult;
  if (bytes > static_cast<double>(kMaxObjectBytes)) {
    throw std::invalid_argument("size '" + s + "' is over the protocol's largest object, " +
                                std::to_string(kMaxObjectBytes) + " bytes (its length field is an int32)");
  }
  return static_cast<std::size_t>(bytes);
}

// Why a call failed, as the summary prints it.
std::string_view Reason(CallStatus s) {
  switch (s) {
    case CallStatus::kTimedOut: return "timed out";
    case CallStatus::kUnavailable: return "server unavailable (connection refused or lost)";
    case CallStatus::kInvalidReply: return "invalid reply";
    case CallStatus::kBadRequest: return "bad request";
    case CallStatus::kClientClosed: return "client closed";
    case CallStatus::kOk:
    case CallStatus::kMiss: break;
  }
  return lmc::client::CallStatusName(s);
}

// Connection-level failures: the connection is gone or out of step, so its
// lanes (or its warm-up) stop rather than spin on errors.
bool EndsConnection(CallStatus s) {
  return s == CallStatus::kUnavailable || s == CallStatus::kClientClosed || s == CallStatus::kTimedOut;
}

constexpr const char* kOpNames[3] = {"put", "get", "exist"};

std::vector<std::byte> Pattern(std::uint64_t seed, std::size_t bytes) {
  std::vector<std::byte> v(bytes);
  std::mt19937_64 g(seed);
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    const std::uint64_t x = g();
    std::memcpy(v.data() + i, &x, 8);
  }
  return v;
}

struct Stats {
  std::vector<std::uint64_t> latency_ns[3];  // put, get, exist
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> reasons;  // "get timed out" -> count; sums to errors
  std::uint64_t misses = 0;                      // GET/EXIST of an evicted key: expected under eviction
  std::uint64_t mismatches = 0;

  void Error(int op, std::string_view why) {
    ++errors;
    ++reasons[std::string(kOpNames[op]) + " " + std::string(why)];
  }
};

// "3: 2 get timed out, 1 put server unavailable (...)".
std::string FormatReasons(const Stats& st) {
  std::string out = std::to_string(st.errors);
  const char* sep = ": ";
  for (const auto& [why, n] : st.reasons) {
    out += sep + std::to_string(n) + " " + why;
    sep = ", ";
  }
  return out;
}

double Percentile(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;  // microseconds
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lmcache-bench: load, verify and time an lm:// server"};
  lmc::tools::SetConventions(app, "lmcache-bench",
                             "0 no error and every GET body matched; 1 any error (counted by reason, "
                             "printed) or body mismatch; 2 usage error.");
  std::string url = "lm://127.0.0.1:65432";
  unsigned connections = 1;
  std::vector<std::string> size_names{"256K", "4M", "32M"};
  std::string mix = "put=1,get=3,exist=0";
  double duration_s = 10;
  std::uint64_t ops_limit = 0;
  unsigned keys = 4;
  unsigned depth = 1;
  std::uint64_t timeout_ms = 10000;
  bool no_verify = false;
  bool no_fill = false;
  bool fresh_keys = false;
  double warm_s = 0;
  unsigned io_threads = std::min(2u, std::max(1u, std::thread::hardware_concurrency()));
  std::uint64_t seed = 1;
  std::string json_out;
  app.add_option("--url", url)->capture_default_str();
  app.add_option("--connections", connections, "parallel connections")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  app.add_option("--sizes", size_names, "object sizes (K, M, G suffixes; at most 2147483647 bytes)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--mix", mix, "relative weights of put, get and exist")->capture_default_str();
  auto* duration_opt =
      app.add_option("--duration-s", duration_s, "how long to issue the mix (with --ops: at most this long, if given)")
          ->capture_default_str()
          ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--ops", ops_limit, "stop after this many mixed operations per connection (0: no limit)");
  app.add_option("--keys", keys, "keys per size per connection")->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("--depth", depth, "requests in flight per connection (1: no pipelining)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--timeout-ms", timeout_ms,
                 "deadline of each call; one that runs over is an error and closes its connection")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{3600000}));
  app.add_option("--io-threads", io_threads, "client I/O threads")->capture_default_str()->check(CLI::Range(1u, 64u));
  app.add_flag("--no-verify", no_verify,
               "do not compare GET bodies (only to match load tools that do not, such as redis-benchmark)");
  app.add_flag("--no-fill", no_fill,
               "do not PUT the keys first: a run with the same --seed, --sizes and --keys stored them (GETs from L2)");
  app.add_flag("--fresh-keys", fresh_keys,
               "every PUT of the mix writes a new key, as LMCache writes one per chunk (default: overwrite the keys)");
  app.add_option("--warm-s", warm_s, "run the mix this long, uncounted, before the timed --duration-s")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--seed", seed, "seed of the payloads and the mix")->capture_default_str();
  app.add_option("--json", json_out, "also write the results as JSON to this file");
  if (const auto status = lmc::tools::Parse(app, argc, argv)) return *status;

  const auto usage_error = [](const std::string& why) {
    std::cerr << "lmcache-bench: " << why << "\nRun with --help for more information.\n";
    return lmc::tools::kExitUsage;
  };
  std::vector<std::size_t> sizes;
  double weights[3] = {0, 0, 0};
  try {
    for (const auto& s : size_names) sizes.push_back(ParseSize(s));
  } catch (const std::exception& e) {
    return usage_error(std::string("--sizes: ") + e.what());
  }
  if (sizes.empty()) return usage_error("--sizes: give at least one size");
  {
    std::stringstream ss(mix);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const auto eq = item.find('=');
      const std::string name = item.substr(0, eq);
      double w = -1;
      std::size_t used = 0;
      if (eq != std::string::npos) {
        try {
          w = std::stod(item.substr(eq + 1), &used);
        } catch (const std::exception&) {
          w = -1;
        }
      }
      const bool whole = eq != std::string::npos && used != 0 && used == item.size() - eq - 1;
      if (!whole || !std::isfinite(w) || w < 0) {
        return usage_error("--mix: bad item '" + item + "' (want NAME=WEIGHT, a weight of 0 or more)");
      }
      if (name == "put")
        weights[0] = w;
      else if (name == "get")
        weights[1] = w;
      else if (name == "exist")
        weights[2] = w;
      else
        return usage_error("--mix: unknown command '" + name + "' (put, get or exist)");
    }
  }
  if (weights[0] + weights[1] + weights[2] <= 0) return usage_error("--mix: every weight is 0");
  lmc::client::ClientOptions options;
  if (!lmc::client::ParseLmUrl(url, &options.host, &options.port)) {
    return usage_error("bad --url '" + url + "' (want lm://HOST:PORT)");
  }
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  options.call_timeout = timeout;
  // Payload patterns, shared by every connection (indexed by size and key).
  std::vector<std::vector<std::vector<std::byte>>> payloads(sizes.size());
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (unsigned k = 0; k < keys; ++k) payloads[s].push_back(Pattern(seed * 1000003 + s * 7919 + k, sizes[s]));
  }
  std::vector<std::vector<std::uint64_t>> digests(sizes.size());
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (const auto& p : payloads[s]) digests[s].push_back(XXH3_64bits(p.data(), p.size()));
  }

  // Nothing is issued past issue_deadline; nothing is waited for past
  // wait_deadline. --ops alone has no issue deadline: each call still has
  // its own.
  const bool timed = ops_limit == 0 || duration_opt->count() > 0;
  const auto start = Clock::now();
  // Completions before timed_from (the end of --warm-s) are not counted.
  const auto timed_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warm_s));
  const auto issue_deadline =
      timed ? timed_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s))
            : Clock::time_point::max();
  const auto wait_deadline = timed ? issue_deadline + timeout : Clock::time_point::max();
  const auto issuing = [&] { return Clock::now() < issue_deadline; };

  lmc::net::AsioTransport transport(io_threads);
  transport.Start(io_threads);
  lmc::runtime::ProcessEnv env(transport, {1, 0});
  std::vector<Stats> stats(connections);
  std::atomic<std::uint64_t> done_ops{0}, done_bytes{0};
  std::atomic<bool> stop{false};
  // One key per (connection, entry of --sizes, key): by the entry's index,
  // not its size, so that a size listed twice cannot mix two patterns.
  const auto key_of = [](unsigned conn, std::size_t size_index, unsigned k) {
    return "bench@" + std::to_string(conn) + "@0@" + std::to_string(size_index * 100000 + k) + "@uint8";
  };
  // The n-th fresh key of a connection: worker id 1, where key_of's are 0.
  const auto fresh_key_of = [](unsigned conn, std::uint64_t n) {
    return "bench@" + std::to_string(conn) + "@1@" + std::to_string(n) + "@uint8";
  };
  const auto worker = [&](unsigned conn) {
    lmc::client::Client client(env, options);
    Stats& st = stats[conn];
    std::mt19937_64 rng(seed + conn);
    std::discrete_distribution<int> pick({weights[0], weights[1], weights[2]});
    lmc::protocol::PutFields fields{5, 0, {}};
    // Warm-up: blocking PUTs, each within --timeout-ms; a connection whose
    // server does not take them (refused, silent) stops here.
    bool warm = true;
    for (std::size_t s = 0; s < sizes.size() && warm && !no_fill; ++s) {
      for (unsigned k = 0; k < keys && warm; ++k) {
        if (!issuing()) {
          warm = false;
          break;
        }
        fields.shape = {static_cast<std::int32_t>(sizes[s]), 0, 0, 0};
        const auto r = client.Put(key_of(conn, s, k), fields, payloads[s][k]);
        if (r.status != CallStatus::kOk) {
          st.Error(0, Reason(r.status));
          if (EndsConnection(r.status)) warm = false;
        }
      }
    }
    // PUT has no reply: an EXIST per connection makes sure the PUTs landed.
    if (warm && issuing()) {
      const auto r = client.Exist(key_of(conn, 0, 0));
      if (r.status == CallStatus::kMiss) {
        ++st.misses;
      } else if (r.status != CallStatus::kOk) {
        st.Error(2, Reason(r.status));
        if (EndsConnection(r.status)) warm = false;
      }
    }
    if (!warm) {
      client.Close();
      return;
    }
    // `depth` lanes, each one request after another, driven from the
    // connection's I/O thread: a completion records its result and issues
    // the lane's next request right there, with no thread hand-off (as
    // redis-benchmark's event loop does). Each lane has its own GET buffer.
    // Bodies are checked as they arrive: each piece is hashed (XXH3-64,
    // streaming) right after it was received, while still in cache, and the
    // digest is compared with the pattern's when the GET completes (a second
    // pass over a 32 MiB body, out of L3, cost a 1-connection GET ~20%).
    // These calls have no deadline of their own: the wait below is theirs.
    std::vector<std::vector<std::byte>> buffers(depth);
    for (auto& b : buffers) b.resize(*std::max_element(sizes.begin(), sizes.end()));
    std::vector<std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>> hashes;
    for (unsigned d = 0; d < depth; ++d) hashes.emplace_back(XXH3_createState(), &XXH3_freeState);
    std::mutex mu;  // guards the fields below, rng and st
    std::condition_variable lanes_done;
    unsigned lanes_open = depth;
    std::uint64_t issued = 0;
    std::uint64_t fresh = 0;  // fresh keys written
    bool abandon = false;
    // Per lane: when its call in flight was issued, and, once the
    // connection is abandoned, why that call is an error.
    std::vector<std::optional<Clock::time_point>> in_flight(depth);
    std::vector<std::string_view> verdict(depth);
    const auto end_lane = [&] {
      if (--lanes_open == 0) lanes_done.notify_all();
    };
    std::function<void(unsigned)> issue = [&](unsigned lane) {
      int op;
      std::size_t s;
      unsigned k;
      Clock::time_point t0;
      std::string key;
      {
        std::lock_guard lock(mu);
        if (stop || abandon || !issuing() || (ops_limit != 0 && issued >= ops_limit)) return end_lane();
        ++issued;
        s = rng() % sizes.size();
        k = static_cast<unsigned>(rng() % keys);
        op = pick(rng);
        key = op == 0 && fresh_keys ? fresh_key_of(conn, fresh++) : key_of(conn, s, k);
        t0 = Clock::now();
        in_flight[lane] = t0;
      }
      // Runs on the I/O thread; completions of one connection never overlap.
      auto done = [&, lane, op, s, k, t0](const lmc::client::CallResult& r) {
        {
          // Uncontended but needed: a call that fails at once (no connection)
          // completes on the calling thread, not the I/O thread.
          std::lock_guard lock(mu);
          in_flight[lane].reset();
          if (!verdict[lane].empty()) {
            // Past its deadline (or the run's): closing the connection ended it.
            st.Error(op, verdict[lane]);
            return end_lane();
          }
          // Errors and body mismatches count in the warm-up too; the rest
          // only from timed_from on.
          if (r.status != CallStatus::kOk && r.status != CallStatus::kMiss) st.Error(op, Reason(r.status));
          if (op == 1 && r.status == CallStatus::kOk && !no_verify) {
            const std::size_t got = r.in_place_bytes != 0 ? r.in_place_bytes : r.body.size();
            if (got != sizes[s] || XXH3_64bits_digest(hashes[lane].get()) != digests[s][k]) ++st.mismatches;
          }
          const auto now = Clock::now();
          if (now >= timed_from) {
            st.latency_ns[op].push_back(static_cast<std::uint64_t>((now - t0).count()));
            if (r.status == CallStatus::kMiss) ++st.misses;
            const std::size_t moved = op == 2 || r.status != CallStatus::kOk ? 0 : sizes[s];
            st.bytes += moved;
            done_ops.fetch_add(1, std::memory_order_relaxed);
            done_bytes.fetch_add(moved, std::memory_order_relaxed);
          }
          if (EndsConnection(r.status)) return end_lane();  // rather than spin on errors
        }
        issue(lane);
      };
      if (op == 0) {
        const lmc::protocol::PutFields put_fields{5, 0, {static_cast<std::int32_t>(sizes[s]), 0, 0, 0}};
        client.PutAsync(key, put_fields, payloads[s][k], std::move(done));
      } else if (op == 1) {
        lmc::protocol::BodyObserver observe;
        if (!no_verify) {
          XXH3_state_t* h = hashes[lane].get();
          XXH3_64bits_reset(h);
          observe = [h](std::span<const std::byte> piece) { XXH3_64bits_update(h, piece.data(), piece.size()); };
        }
        client.GetAsync(key, buffers[lane], std::move(observe), std::move(done));
      } else {
        client.ExistAsync(key, std::move(done));
      }
    };
    for (unsigned lane = 0; lane < depth; ++lane) issue(lane);
    {
      // The deadlines: a call in flight for longer than --timeout-ms, or
      // anything still in flight at wait_deadline, abandons the connection;
      // closing the client then completes whatever is pending.
      std::unique_lock lock(mu);
      while (lanes_open != 0) {
        const auto now = Clock::now();
        bool late = now >= wait_deadline;
        // Woken at least once per timeout: a call issued after `now` is
        // due no earlier than that.
        auto wake = std::min(wait_deadline, now + timeout);
        for (const auto& t : in_flight) {
          if (!t) continue;
          late = late || now >= *t + timeout;
          wake = std::min(wake, *t + timeout);
        }
        if (!late) {
          lanes_done.wait_until(lock, wake);
          continue;
        }
        abandon = true;
        for (unsigned lane = 0; lane < depth; ++lane) {
          if (!in_flight[lane]) continue;
          verdict[lane] =
              now >= *in_flight[lane] + timeout ? "timed out" : "abandoned (another call on its connection timed out)";
        }
        lock.unlock();
        client.Close();
        lock.lock();
        if (!lanes_done.wait_for(lock, std::chrono::seconds(10), [&] { return lanes_open == 0; })) {
          std::fprintf(stderr, "lmcache-bench: connection %u did not wind down; giving up\n", conn);
          std::_Exit(1);
        }
      }
    }
    // PUT has no reply: one EXIST, answered after every PUT before it, so
    // that the run ends only when the server has all the bytes counted.
    if (!abandon) {
      const auto r = client.Exist(key_of(conn, 0, 0));
      if (r.status != CallStatus::kOk && r.status != CallStatus::kMiss) {
        std::lock_guard lock(mu);
        st.Error(2, Reason(r.status));
      }
    }
    client.Close();
  };

  std::vector<std::thread> threads;
  for (unsigned c = 0; c < connections; ++c) threads.emplace_back(worker, c);
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::thread progress([&] {
    double last = 0;
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const double t = std::chrono::duration<double>(Clock::now() - start).count();
      if (!issuing()) stop = true;
      if (t - last >= 1.0) {
        last = t;
        std::fprintf(stderr, "%s[%6.1f s] %" PRIu64 " ops, %.2f GB/s%s", tty ? "\r" : "", t, done_ops.load(),
                     static_cast<double>(done_bytes.load()) / t / 1e9, tty ? "" : "\n");
      }
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  progress.join();
  if (tty) std::fprintf(stderr, "\n");
  // The timed window: from the end of --warm-s (the start without it).
  const double elapsed = std::max(1e-9, std::chrono::duration<double>(Clock::now() - timed_from).count());
  transport.Stop();
  transport.Join();

  Stats all;
  for (auto& st : stats) {
    for (int i = 0; i < 3; ++i)
      all.latency_ns[i].insert(all.latency_ns[i].end(), st.latency_ns[i].begin(), st.latency_ns[i].end());
    all.bytes += st.bytes;
    all.errors += st.errors;
    for (const auto& [why, n] : st.reasons) all.reasons[why] += n;
    all.misses += st.misses;
    all.mismatches += st.mismatches;
  }
  std::uint64_t ops = 0;
  for (auto& v : all.latency_ns) ops += v.size();
  std::printf("connections %u, depth %u, sizes", connections, depth);
  for (const auto& s : size_names) std::printf(" %s", s.c_str());
  std::printf(", %.2f s\n", elapsed);
  std::printf("throughput %.3f GB/s, %.0f ops/s, errors %" PRIu64 ", misses %" PRIu64 ", body mismatches %" PRIu64 "\n",
              static_cast<double>(all.bytes) / elapsed / 1e9, static_cast<double>(ops) / elapsed, all.errors,
              all.misses, all.mismatches);
  if (all.errors != 0) {
    std::printf("errors %s\n", FormatReasons(all).c_str());
    std::fprintf(stderr, "lmcache-bench: errors %s\n", FormatReasons(all).c_str());
  }
  if (all.mismatches != 0) {
    std::fprintf(stderr, "lmcache-bench: %" PRIu64 " GET bodies differ from what was PUT\n", all.mismatches);
  }
  if (no_verify) std::printf("GET bodies were not verified (--no-verify)\n");
  std::string json = "{\"connections\":" + std::to_string(connections) + ",\"depth\":" + std::to_string(depth) +
                     ",\"verified\":" + (no_verify ? "false" : "true") + ",\"seconds\":" + std::to_string(elapsed) +
                     ",\"gbps\":" + std::to_string(static_cast<double>(all.bytes) / elapsed / 1e9) +
                     ",\"errors\":" + std::to_string(all.errors) + ",\"mismatches\":" + std::to_string(all.mismatches);
  // The reasons are fixed phrases (Reason() and the verdicts): no escaping.
  json += ",\"error_reasons\":{";
  const char* sep = "";
  for (const auto& [why, n] : all.reasons) {
    json += sep + std::string("\"") + why + "\":" + std::to_string(n);
    sep = ",";
  }
  json += "}";
  for (int i = 0; i < 3; ++i) {
    auto& v = all.latency_ns[i];
    if (v.empty()) continue;
    const double p50 = Percentile(v, 0.5), p90 = Percentile(v, 0.9), p99 = Percentile(v, 0.99),
                 p100 = Percentile(v, 1.0);
    std::printf("%-5s %8zu ops  latency us p50 %9.1f  p90 %9.1f  p99 %9.1f  max %9.1f\n", kOpNames[i], v.size(), p50,
                p90, p99, p100);
    json += std::string(",\"") + kOpNames[i] + "\":{\"ops\":" + std::to_string(v.size()) +
            ",\"p50_us\":" + std::to_string(p50) + ",\"p99_us\":" + std::to_string(p99) + "}";
  }
  json += "}";
  bool written = true;
  if (!json_out.empty()) {
    std::FILE* f = std::fopen(json_out.c_str(), "w");
    written = f != nullptr && std::fprintf(f, "%s\n", json.c_str()) > 0;
    if (f != nullptr) written = std::fclose(f) == 0 && written;
    if (!written) std::fprintf(stderr, "lmcache-bench: cannot write %s\n", json_out.c_str());
  }
  return all.errors == 0 && all.mismatches == 0 && written ? 0 : 1;
}
