// lmcache-bench's connection driver: N connections, each filling its keys,
// then issuing a mix of PUT, GET and EXIST at a depth, verifying every GET
// body, under per-call and per-run deadlines. What it measured is a
// BenchResult; bench_report.h prints it and writes it as JSON.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"

namespace lmc::tools::bench {

enum Op : int { kPut = 0, kGet = 1, kExist = 2 };
inline constexpr const char* kOpNames[3] = {"put", "get", "exist"};

// "256K", "4M", "1.5G", "100" (bytes); throws std::invalid_argument saying
// what is wrong, a size above the protocol's int32 length included.
std::size_t ParseSize(const std::string& s);
// "put=1,get=3,exist=0" into the three weights; false, with `*error`, on a
// bad item or when every weight is 0.
bool ParseMix(const std::string& mix, std::array<double, 3>* weights, std::string* error);

struct BenchConfig {
  client::ClientOptions client;  // host, port; call_timeout is `timeout`
  unsigned connections = 1;
  std::vector<std::size_t> sizes;
  std::array<double, 3> weights{1, 3, 0};
  double duration_s = 10;
  bool timed = true;            // false: --ops alone, no run deadline
  std::uint64_t ops_limit = 0;  // per connection; 0: none
  unsigned keys = 4;
  unsigned depth = 1;
  std::chrono::milliseconds timeout{10000};
  bool verify = true;
  bool fill = true;
  bool fresh_keys = false;
  double warm_s = 0;
  unsigned io_threads = 1;
  std::uint64_t seed = 1;
};

struct Stats {
  std::vector<std::uint64_t> latency_ns[3];  // put, get, exist
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> reasons;  // "get timed out" -> count; sums to errors
  std::uint64_t misses = 0;                      // GET/EXIST of an evicted key: expected under eviction
  std::uint64_t mismatches = 0;

  void Error(int op, std::string_view why);
  void Merge(const Stats& other);
};

struct BenchResult {
  Stats all;           // every connection's, merged
  double seconds = 0;  // the timed window: from the end of --warm-s
};

// Runs the whole benchmark; progress goes to stderr once a second.
BenchResult RunBench(const BenchConfig& config);

}  // namespace lmc::tools::bench
