// lmcache-bench: drives any lm:// server with N connections and a mix of
// PUT/GET/EXIST over objects of several sizes, verifies every GET body, and
// prints throughput (GB/s, ops/s) and latency percentiles per command.
//
//   lmcache-bench [--url lm://HOST:PORT] [--connections N] [--sizes 256K,4M,32M]
//                 [--mix put=1,get=3,exist=0] [--duration-s S | --ops N] [--keys K] [--seed S]
//                 [--depth D]
//
// Each connection first PUTs its K keys of every size, then runs the mix on
// them for the duration, with up to D requests in flight (pipelined; D = 1 is
// one blocking call after another, as an LMCache worker makes them). Payloads are a seeded pattern per (connection, key,
// size), so a GET body that differs from what was PUT is caught.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <xxhash.h>

#include "client/client.h"
#include "net/asio_transport.h"

namespace {

using Clock = std::chrono::steady_clock;
using lmc::client::CallStatus;

std::size_t ParseSize(const std::string& s) {
  std::size_t used = 0;
  const double v = std::stod(s, &used);
  const std::string unit = s.substr(used);
  double mult = 1;
  if (unit == "K" || unit == "KiB") mult = 1024.0;
  else if (unit == "M" || unit == "MiB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") throw std::invalid_argument("bad size unit in '" + s + "'");
  return static_cast<std::size_t>(v * mult);
}

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
  std::uint64_t misses = 0;  // GET/EXIST of an evicted key: expected under eviction
  std::uint64_t mismatches = 0;
};

double Percentile(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;  // microseconds
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lmcache-bench: load, verify and time an lm:// server"};
  std::string url = "lm://127.0.0.1:65432";
  unsigned connections = 1;
  std::vector<std::string> size_names{"256K", "4M", "32M"};
  std::string mix = "put=1,get=3,exist=0";
  double duration_s = 10;
  std::uint64_t ops_limit = 0;
  unsigned keys = 4;
  unsigned depth = 1;
  bool no_verify = false;
  unsigned io_threads = std::min(2u, std::max(1u, std::thread::hardware_concurrency()));
  std::uint64_t seed = 1;
  std::string json_out;
  app.add_option("--url", url)->capture_default_str();
  app.add_option("--connections", connections, "parallel connections")->capture_default_str()->check(CLI::Range(1u, 4096u));
  app.add_option("--sizes", size_names, "object sizes (K, M, G suffixes)")->delimiter(',')->capture_default_str();
  app.add_option("--mix", mix, "relative weights of put, get and exist")->capture_default_str();
  app.add_option("--duration-s", duration_s, "how long to run the mix")->capture_default_str();
  app.add_option("--ops", ops_limit, "stop after this many mixed operations per connection (0: no limit)");
  app.add_option("--keys", keys, "keys per size per connection")->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("--depth", depth, "requests in flight per connection (1: no pipelining)")
      ->capture_default_str()->check(CLI::Range(1u, 64u));
  app.add_option("--io-threads", io_threads, "client I/O threads")->capture_default_str()->check(CLI::Range(1u, 64u));
  app.add_flag("--no-verify", no_verify,
               "do not compare GET bodies (only to match load tools that do not, such as redis-benchmark)");
  app.add_option("--seed", seed, "seed of the payloads and the mix")->capture_default_str();
  app.add_option("--json", json_out, "also write the results as JSON to this file");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::size_t> sizes;
  double weights[3] = {0, 0, 0};
  try {
    for (const auto& s : size_names) sizes.push_back(ParseSize(s));
    std::stringstream ss(mix);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const auto eq = item.find('=');
      const std::string name = item.substr(0, eq);
      const double w = std::stod(item.substr(eq + 1));
      if (name == "put") weights[0] = w;
      else if (name == "get") weights[1] = w;
      else if (name == "exist") weights[2] = w;
      else throw std::invalid_argument("unknown command in --mix: " + name);
    }
  } catch (const std::exception& e) {
    std::cerr << "lmcache-bench: " << e.what() << "\n";
    return 2;
  }
  lmc::client::ClientOptions options;
  if (!lmc::client::ParseLmUrl(url, &options.host, &options.port)) {
    std::cerr << "lmcache-bench: bad --url '" << url << "' (want lm://HOST:PORT)\n";
    return 2;
  }
  options.call_timeout = std::chrono::milliseconds(60000);

  // Payload patterns, shared by every connection (indexed by size and key).
  std::vector<std::vector<std::vector<std::byte>>> payloads(sizes.size());
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (unsigned k = 0; k < keys; ++k) payloads[s].push_back(Pattern(seed * 1000003 + s * 7919 + k, sizes[s]));
  }
  std::vector<std::vector<std::uint64_t>> digests(sizes.size());
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (const auto& p : payloads[s]) digests[s].push_back(XXH3_64bits(p.data(), p.size()));
  }

  lmc::net::AsioTransport transport(seed, io_threads);
  transport.Start(io_threads);
  std::vector<Stats> stats(connections);
  std::atomic<std::uint64_t> done_ops{0}, done_bytes{0};
  std::atomic<bool> stop{false};
  const auto key_of = [](unsigned conn, std::size_t size, unsigned k) {
    return "bench@" + std::to_string(conn) + "@0@" + std::to_string(size * 100000 + k) + "@uint8";
  };
  const auto start_at = Clock::now();
  const auto worker = [&](unsigned conn) {
    lmc::client::Client client(transport, options);
    Stats& st = stats[conn];
    std::mt19937_64 rng(seed + conn);
    std::discrete_distribution<int> pick({weights[0], weights[1], weights[2]});
    lmc::protocol::PutFields fields{5, 0, {}};
    // GET bodies land in one reused buffer: warm pages, no allocation per call.
    std::vector<std::byte> into(*std::max_element(sizes.begin(), sizes.end()));
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      for (unsigned k = 0; k < keys; ++k) {
        fields.shape = {static_cast<std::int32_t>(sizes[s]), 0, 0, 0};
        if (client.Put(key_of(conn, sizes[s], k), fields, payloads[s][k]).status != CallStatus::kOk) ++st.errors;
      }
    }
    // PUT has no reply: an EXIST per connection makes sure the PUTs landed.
    client.Exist(key_of(conn, sizes[0], 0));
    // `depth` lanes, each one request after another, driven from the
    // connection's I/O thread: a completion records its result and issues
    // the lane's next request right there, with no thread hand-off (as
    // redis-benchmark's event loop does). Each lane has its own GET buffer.
    // Bodies are checked as they arrive: each piece is hashed (XXH3-64,
    // streaming) right after it was received, while still in cache, and the
    // digest is compared with the pattern's when the GET completes (a second
    // pass over a 32 MiB body, out of L3, cost a 1-connection GET ~20%).
    std::vector<std::vector<std::byte>> buffers(depth);
    buffers[0] = std::move(into);
    for (unsigned d = 1; d < depth; ++d) buffers[d].resize(buffers[0].size());
    std::vector<std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>> hashes;
    for (unsigned d = 0; d < depth; ++d) hashes.emplace_back(XXH3_createState(), &XXH3_freeState);
    std::mutex mu;  // guards the fields below, rng and st
    std::condition_variable lanes_done;
    unsigned lanes_open = depth;
    std::uint64_t issued = 0;
    bool abandon = false;
    std::function<void(unsigned)> issue = [&](unsigned lane) {
      int op;
      std::size_t s;
      unsigned k;
      {
        std::lock_guard lock(mu);
        if (stop || abandon || (ops_limit != 0 && issued >= ops_limit)) {
          if (--lanes_open == 0) lanes_done.notify_all();
          return;
        }
        ++issued;
        s = rng() % sizes.size();
        k = static_cast<unsigned>(rng() % keys);
        op = pick(rng);
      }
      const std::string key = key_of(conn, sizes[s], k);
      const Clock::time_point t0 = Clock::now();
      // Runs on the I/O thread; completions of one connection never overlap.
      auto done = [&, lane, op, s, k, t0](lmc::client::CallResult r) {
        {
          // Uncontended but needed: a call that fails at once (no connection)
          // completes on the calling thread, not the I/O thread.
          std::lock_guard lock(mu);
          st.latency_ns[op].push_back(static_cast<std::uint64_t>((Clock::now() - t0).count()));
          if (r.status == CallStatus::kMiss) {
            ++st.misses;
          } else if (r.status != CallStatus::kOk) {
            ++st.errors;
          }
          const std::size_t moved = op == 2 || r.status != CallStatus::kOk ? 0 : sizes[s];
          if (op == 1 && r.status == CallStatus::kOk && !no_verify) {
            const std::size_t got = r.in_place_bytes != 0 ? r.in_place_bytes : r.body.size();
            if (got != sizes[s] || XXH3_64bits_digest(hashes[lane].get()) != digests[s][k]) ++st.mismatches;
          }
          st.bytes += moved;
          done_ops.fetch_add(1, std::memory_order_relaxed);
          done_bytes.fetch_add(moved, std::memory_order_relaxed);
          if (r.status == CallStatus::kUnavailable || r.status == CallStatus::kClientClosed) {
            // The connection is gone: end the lane rather than spin on errors.
            if (--lanes_open == 0) lanes_done.notify_all();
            return;
          }
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
      // Every wait has a deadline: the run's length plus a call timeout.
      // Past it, closing the client completes whatever is still pending.
      std::unique_lock lock(mu);
      const auto limit = start_at + std::chrono::duration<double>(duration_s) + 2 * options.call_timeout;
      if (!lanes_done.wait_until(lock, limit, [&] { return lanes_open == 0; })) {
        abandon = true;
        lock.unlock();
        client.Close();
        lock.lock();
        if (!lanes_done.wait_for(lock, std::chrono::seconds(10), [&] { return lanes_open == 0; })) {
          std::fprintf(stderr, "lmcache-bench: connection %u did not wind down; giving up\n", conn);
          std::_Exit(2);
        }
      }
    }
    client.Close();
  };

  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < connections; ++c) threads.emplace_back(worker, c);
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::thread progress([&] {
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const double t = std::chrono::duration<double>(Clock::now() - start).count();
      if (ops_limit == 0 && t >= duration_s) stop = true;
      static double last = 0;
      if (t - last >= 1.0) {
        last = t;
        std::fprintf(stderr, "%s[%6.1f s] %" PRIu64 " ops, %.2f GB/s%s", tty ? "\r" : "", t,
                     done_ops.load(), static_cast<double>(done_bytes.load()) / t / 1e9, tty ? "" : "\n");
      }
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  progress.join();
  if (tty) std::fprintf(stderr, "\n");
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  transport.Stop();
  transport.Join();

  Stats all;
  for (auto& st : stats) {
    for (int i = 0; i < 3; ++i) all.latency_ns[i].insert(all.latency_ns[i].end(), st.latency_ns[i].begin(), st.latency_ns[i].end());
    all.bytes += st.bytes;
    all.errors += st.errors;
    all.misses += st.misses;
    all.mismatches += st.mismatches;
  }
  std::uint64_t ops = 0;
  for (auto& v : all.latency_ns) ops += v.size();
  std::printf("connections %u, depth %u, sizes", connections, depth);
  for (auto s : size_names) std::printf(" %s", s.c_str());
  std::printf(", %.2f s\n", elapsed);
  std::printf("throughput %.3f GB/s, %.0f ops/s, errors %" PRIu64 ", misses %" PRIu64 ", body mismatches %" PRIu64 "\n",
              static_cast<double>(all.bytes) / elapsed / 1e9, static_cast<double>(ops) / elapsed, all.errors,
              all.misses, all.mismatches);
  if (no_verify) std::printf("GET bodies were not verified (--no-verify)\n");
  const char* names[3] = {"put", "get", "exist"};
  std::string json = "{\"connections\":" + std::to_string(connections) + ",\"depth\":" + std::to_string(depth) +
                     ",\"verified\":" + (no_verify ? "false" : "true") + ",\"seconds\":" + std::to_string(elapsed) +
                     ",\"gbps\":" + std::to_string(static_cast<double>(all.bytes) / elapsed / 1e9) +
                     ",\"errors\":" + std::to_string(all.errors) + ",\"mismatches\":" + std::to_string(all.mismatches);
  for (int i = 0; i < 3; ++i) {
    auto& v = all.latency_ns[i];
    if (v.empty()) continue;
    const double p50 = Percentile(v, 0.5), p90 = Percentile(v, 0.9), p99 = Percentile(v, 0.99), p100 = Percentile(v, 1.0);
    std::printf("%-5s %8zu ops  latency us p50 %9.1f  p90 %9.1f  p99 %9.1f  max %9.1f\n", names[i], v.size(), p50, p90, p99, p100);
    json += std::string(",\"") + names[i] + "\":{\"ops\":" + std::to_string(v.size()) + ",\"p50_us\":" + std::to_string(p50) +
            ",\"p99_us\":" + std::to_string(p99) + "}";
  }
  json += "}";
  if (!json_out.empty()) {
    if (std::FILE* f = std::fopen(json_out.c_str(), "w")) {
      std::fprintf(f, "%s\n", json.c_str());
      std::fclose(f);
    }
  }
  return all.errors == 0 && all.mismatches == 0 ? 0 : 1;
}
