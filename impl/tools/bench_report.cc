#include "tools/bench_report.h"

#include <algorithm>
#include <cinttypes>

namespace lmc::tools::bench {
namespace {

double Percentile(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;  // microseconds
}

}  // namespace

Report MakeReport(const BenchConfig& config, const std::vector<std::string>& size_names, const BenchResult& result) {
  Report r;
  r.connections = config.connections;
  r.depth = config.depth;
  r.size_names = size_names;
  r.verified = config.verify;
  r.seconds = result.seconds;
  const Stats& all = result.all;
  std::uint64_t ops = 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::uint64_t> v = all.latency_ns[i];
    ops += v.size();
    r.ops[i] = {v.size(), Percentile(v, 0.5), Percentile(v, 0.9), Percentile(v, 0.99), Percentile(v, 1.0)};
  }
  r.gbps = static_cast<double>(all.bytes) / result.seconds / 1e9;
  r.ops_per_s = static_cast<double>(ops) / result.seconds;
  r.errors = all.errors;
  r.misses = all.misses;
  r.mismatches = all.mismatches;
  r.error_reasons = all.reasons;
  return r;
}

std::string Report::FormatReasons() const {
  std::string out = std::to_string(errors);
  const char* sep = ": ";
  for (const auto& [why, n] : error_reasons) {
    out += sep + std::to_string(n) + " " + why;
    sep = ", ";
  }
  return out;
}

void Report::Print(std::FILE* out) const {
  std::fprintf(out, "connections %u, depth %u, sizes", connections, depth);
  for (const auto& s : size_names) std::fprintf(out, " %s", s.c_str());
  std::fprintf(out, ", %.2f s\n", seconds);
  std::fprintf(
      out, "throughput %.3f GB/s, %.0f ops/s, errors %" PRIu64 ", misses %" PRIu64 ", body mismatches %" PRIu64 "\n",
      gbps, ops_per_s, errors, misses, mismatches);
  if (errors != 0) std::fprintf(out, "errors %s\n", FormatReasons().c_str());
  if (!verified) std::fprintf(out, "GET bodies were not verified (--no-verify)\n");
  for (int i = 0; i < 3; ++i) {
    if (ops[i].ops == 0) continue;
    std::fprintf(out, "%-5s %8zu ops  latency us p50 %9.1f  p90 %9.1f  p99 %9.1f  max %9.1f\n", kOpNames[i], ops[i].ops,
                 ops[i].p50_us, ops[i].p90_us, ops[i].p99_us, ops[i].max_us);
  }
}

nlohmann::ordered_json Report::ToJson() const {
  nlohmann::ordered_json j;
  j["connections"] = connections;
  j["depth"] = depth;
  j["verified"] = verified;
  j["seconds"] = seconds;
  j["gbps"] = gbps;
  j["errors"] = errors;
  j["mismatches"] = mismatches;
  j["error_reasons"] = nlohmann::ordered_json::object();
  for (const auto& [why, n] : error_reasons) j["error_reasons"][why] = n;
  for (int i = 0; i < 3; ++i) {
    if (ops[i].ops == 0) continue;
    j[kOpNames[i]] = {{"ops", ops[i].ops}, {"p50_us", ops[i].p50_us}, {"p99_us", ops[i].p99_us}};
  }
  return j;
}

}  // namespace lmc::tools::bench
