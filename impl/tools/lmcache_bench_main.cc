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

// Checks GET bodies against their patterns' XXH3-64 digests on its own
// thread (hashing reads the body once; a memcmp also read the pattern, and
// on two cores that memory traffic slowed the transfers), so the check is
// off the request path (with --depth 1 the server still sees one request at
// a time) while every body is still compared. `slot` names the receive
// buffer a body sits in; Drain(slot) waits before that buffer is reused.
class Verifier {
 public:
  explicit Verifier(unsigned slots) : pending_(slots, 0), thread_([this] { Loop(); }) {}
  ~Verifier() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // `owned`, when not empty, holds the body (it did not fit the buffer).
  void Check(unsigned slot, std::span<const std::byte> got, std::vector<std::byte> owned, std::size_t want_size,
             std::uint64_t want_digest) {
    {
      std::lock_guard lock(mu_);
      ++pending_[slot];
      jobs_.push_back({slot, got, std::move(owned), want_size, want_digest});
    }
    cv_.notify_all();
  }
  void Drain(unsigned slot) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_[slot] == 0; });
  }
  std::uint64_t mismatches() {
    std::lock_guard lock(mu_);
    return mismatches_;
  }

 private:
  struct Job {
    unsigned slot;
    std::span<const std::byte> got;
    std::vector<std::byte> owned;
    std::size_t want_size;
    std::uint64_t want_digest;
  };
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      const std::span<const std::byte> got = job.owned.empty() ? job.got : std::span<const std::byte>(job.owned);
      const bool same = got.size() == job.want_size && XXH3_64bits(got.data(), got.size()) == job.want_digest;
      lock.lock();
      if (!same) ++mismatches_;
      --pending_[job.slot];
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<unsigned> pending_;
  std::uint64_t mismatches_ = 0;
  bool stop_ = false;
  std::thread thread_;
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
    // Up to `depth` requests in flight; each GET has its own buffer of a
    // ring of depth + 1, free again once its body has been checked.
    struct InFlight {
      std::future<lmc::client::CallResult> result;
      int op;
      std::size_t s;
      unsigned k;
      Clock::time_point t0;
      unsigned slot;
    };
    std::deque<InFlight> flight;
    const unsigned slots = depth + 1;
    std::vector<std::vector<std::byte>> buffers(slots);
    buffers[0] = std::move(into);
    for (unsigned d = 1; d < slots; ++d) buffers[d].resize(buffers[0].size());
    Verifier verifier(slots);
    const auto retire = [&] {
      InFlight& f = flight.front();
      lmc::client::CallResult r = f.result.get();
      st.latency_ns[f.op].push_back(static_cast<std::uint64_t>((Clock::now() - f.t0).count()));
      if (r.status == CallStatus::kMiss) {
        ++st.misses;
      } else if (r.status != CallStatus::kOk) {
        ++st.errors;
      }
      const std::size_t moved = f.op == 2 || r.status != CallStatus::kOk ? 0 : sizes[f.s];
      if (f.op == 1 && r.status == CallStatus::kOk && !no_verify) {
        verifier.Check(f.slot, std::span(buffers[f.slot]).first(r.in_place_bytes), std::move(r.body), sizes[f.s],
                       digests[f.s][f.k]);
      }
      st.bytes += moved;
      done_ops.fetch_add(1, std::memory_order_relaxed);
      done_bytes.fetch_add(moved, std::memory_order_relaxed);
      flight.pop_front();
    };
    for (std::uint64_t n = 0; !stop && (ops_limit == 0 || n < ops_limit); ++n) {
      if (flight.size() == depth) retire();
      InFlight f;
      f.s = rng() % sizes.size();
      f.k = static_cast<unsigned>(rng() % keys);
      f.op = pick(rng);
      f.slot = static_cast<unsigned>(n % slots);
      verifier.Drain(f.slot);
      const std::string key = key_of(conn, sizes[f.s], f.k);
      f.t0 = Clock::now();
      if (f.op == 0) {
        fields.shape = {static_cast<std::int32_t>(sizes[f.s]), 0, 0, 0};
        f.result = client.PutAsync(key, fields, payloads[f.s][f.k]);
      } else if (f.op == 1) {
        f.result = client.GetAsync(key, buffers[f.slot]);
      } else {
        f.result = client.ExistAsync(key);
      }
      flight.push_back(std::move(f));
    }
    while (!flight.empty()) retire();
    for (unsigned d = 0; d < slots; ++d) verifier.Drain(d);
    st.mismatches += verifier.mismatches();
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
