// lmcache-bench's report: the summary lines on stdout and the JSON file
// (nlohmann::ordered_json, keys in a fixed order), from a BenchResult.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/bench_driver.h"

namespace lmc::tools::bench {

struct OpLatency {
  std::size_t ops = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

struct Report {
  unsigned connections = 0;
  unsigned depth = 0;
  std::vector<std::string> size_names;
  bool verified = true;
  double seconds = 0;
  double gbps = 0;
  double ops_per_s = 0;
  std::uint64_t errors = 0, misses = 0, mismatches = 0;
  std::map<std::string, std::uint64_t> error_reasons;
  OpLatency ops[3];  // put, get, exist

  // "3: 2 get timed out, 1 put server unavailable (...)".
  std::string FormatReasons() const;
  // The summary lmcache-bench prints (scripts read its "throughput" line).
  void Print(std::FILE* out) const;
  // {"connections", "depth", "verified", "seconds", "gbps", "errors",
  //  "mismatches", "error_reasons", then "put"/"get"/"exist": {"ops",
  //  "p50_us", "p99_us"} for the commands that ran}.
  nlohmann::ordered_json ToJson() const;
};

Report MakeReport(const BenchConfig& config, const std::vector<std::string>& size_names, const BenchResult& result);

}  // namespace lmc::tools::bench
