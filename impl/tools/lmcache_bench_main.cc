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
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <CLI/CLI.hpp>

#include "tools/bench_driver.h"
#include "tools/bench_report.h"
#include "tools/cli.h"

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
  namespace bench = lmc::tools::bench;
  bench::BenchConfig config;
  try {
    for (const auto& s : size_names) config.sizes.push_back(bench::ParseSize(s));
  } catch (const std::exception& e) {
    return usage_error(std::string("--sizes: ") + e.what());
  }
  if (config.sizes.empty()) return usage_error("--sizes: give at least one size");
  if (std::string error; !bench::ParseMix(mix, &config.weights, &error)) return usage_error(error);
  if (!lmc::client::ParseLmUrl(url, &config.client.host, &config.client.port)) {
    return usage_error("bad --url '" + url + "' (want lm://HOST:PORT)");
  }
  config.timeout = std::chrono::milliseconds(timeout_ms);
  config.client.call_timeout = config.timeout;
  config.connections = connections;
  config.duration_s = duration_s;
  config.timed = ops_limit == 0 || duration_opt->count() > 0;
  config.ops_limit = ops_limit;
  config.keys = keys;
  config.depth = depth;
  config.verify = !no_verify;
  config.fill = !no_fill;
  config.fresh_keys = fresh_keys;
  config.warm_s = warm_s;
  config.io_threads = io_threads;
  config.seed = seed;

  const bench::BenchResult result = bench::RunBench(config);
  const bench::Report report = bench::MakeReport(config, size_names, result);
  report.Print(stdout);
  if (report.errors != 0) std::fprintf(stderr, "lmcache-bench: errors %s\n", report.FormatReasons().c_str());
  if (report.mismatches != 0)
    std::fprintf(stderr, "lmcache-bench: %llu GET bodies differ from what was PUT\n",
                 static_cast<unsigned long long>(report.mismatches));
  bool written = true;
  if (!json_out.empty()) {
    std::FILE* f = std::fopen(json_out.c_str(), "w");
    written = f != nullptr && std::fprintf(f, "%s\n", report.ToJson().dump().c_str()) > 0;
    if (f != nullptr) written = std::fclose(f) == 0 && written;
    if (!written) std::fprintf(stderr, "lmcache-bench: cannot write %s\n", json_out.c_str());
  }
  return report.errors == 0 && report.mismatches == 0 && written ? 0 : 1;
}
