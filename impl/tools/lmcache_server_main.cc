// lmcache-server: the reference lm:// server.
//
//   lmcache-server [HOST PORT [cpu]] [--host H] [--port P] [--l1-size-gb G | --l1-size-bytes B]
//                  [--max-object-bytes N] [--max-incomplete-put-bytes N] [--l1-headroom-bytes N]
//                  [--l1-chunk-bytes N]
//                  [--eviction-policy LRU] [--threads T]
//                  [--stall-timeout-ms MS] [--stats-interval-s S] [--log-level LEVEL]
//                  [--l2-adapter JSON]... [--l2-load-timeout-ms MS] [--l2-max-pending-bytes N]
//
// Each --l2-adapter adds an L2 tier below L1, in order, as LMCache's option
// of that name: {"type": "fs", "base_path": "/data/l2", "serde": {...}}
// (docs/L2.md: what L1 evicts is written there; an L1 miss is looked up
// there).
// The positional form is that of LMCache's Python server (`lmcache_server
// HOST PORT [cpu]`). SIGUSR1 prints the counters while running; SIGINT and
// SIGTERM stop the server cleanly and print them.
//
// Exit status: 0 stopped by a signal; 1 cannot start (cannot listen, or no
// memory for L1); 2 a usage error (a bad option or --l2-adapter).
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "net/asio_transport.h"
#include "runtime/process_env.h"
#include "server/assemble.h"
#include "server/server.h"
#include "tier/tier.h"
#include "tools/cli.h"

namespace {

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 65432;
  std::string storage = "cpu";
  double l1_size_gb = 0;
  std::uint64_t l1_size_bytes = 0;
  std::uint64_t max_object_bytes = std::uint64_t{1} << 31;
  std::uint64_t max_incomplete_put_bytes = std::uint64_t{256} << 20;
  std::optional<std::uint64_t> l1_headroom_bytes;  // default: 1/16 of L1, at most 64 MiB
  std::uint64_t l1_chunk_bytes = std::uint64_t{1} << 20;
  std::string eviction = "LRU";
  unsigned threads = 0;
  std::uint64_t stall_timeout_ms = 30000;
  std::optional<std::uint64_t> max_connections;  // default: from the descriptor limit
  std::uint64_t idle_timeout_ms = 0;
  std::optional<std::uint64_t> max_pinned_bytes;  // default: a quarter of L1
  unsigned stats_interval_s = 0;
  std::string log_level = "info";
  std::vector<std::string> l2_adapters;
  std::uint64_t l2_load_timeout_ms = 5000;
  std::uint64_t l2_max_pending_bytes = std::uint64_t{256} << 20;
};

// Raises the soft descriptor limit to the hard one (a server's connections
// are its descriptors) and leaves 64 for files, the L2 tiers and the
// listener; at least 16.
std::uint64_t DefaultMaxConnections() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 4096;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return std::uint64_t{1} << 20;
  return std::max<std::uint64_t>(lim.rlim_cur, 80) - 64;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"lmcache-server: the reference lm:// server of the LMCache conformance kit"};
  lmc::tools::SetConventions(app, "lmcache-server",
                             "0 stopped by SIGINT or SIGTERM; 1 cannot start (cannot listen, or no memory "
                             "for L1); 2 usage error (a bad option or --l2-adapter).");
  app.add_option("host,--host", cfg.host, "address to listen on (LMCache's first positional argument)")
      ->capture_default_str();
  app.add_option("port,--port", cfg.port, "TCP port; 0 picks a free one (printed at start)")->capture_default_str();
  app.add_option("storage", cfg.storage, "storage backend; only 'cpu' exists, as in LMCache")
      ->check(CLI::IsMember({"cpu"}))
      ->capture_default_str();
  auto* gb = app.add_option("--l1-size-gb", cfg.l1_size_gb, "L1 budget in GiB (default 1)")->check(CLI::PositiveNumber);
  app.add_option("--l1-size-bytes", cfg.l1_size_bytes, "L1 budget in bytes (overrides --l1-size-gb)")
      ->excludes(gb)
      ->check(CLI::PositiveNumber);
  app.add_option("--max-object-bytes", cfg.max_object_bytes,
                 "largest object a PUT may store; larger payloads are read and discarded")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 31));
  app.add_option("--max-incomplete-put-bytes", cfg.max_incomplete_put_bytes,
                 "chunks beyond the L1 budget that PUTs still arriving may fill when L1 has no free chunk, so a "
                 "PUT cut short evicts nothing (memory beyond L1, faulted in as bytes arrive; 0: none, a PUT "
                 "evicts as its bytes arrive)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40));
  app.add_option("--l1-headroom-bytes", cfg.l1_headroom_bytes,
                 "free L1 room kept after each PUT completes (evicting then), so the next PUTs find free "
                 "chunks in the budget (default: 1/16 of L1, at most 64 MiB)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40));
  app.add_option("--l1-chunk-bytes", cfg.l1_chunk_bytes,
                 "size of the chunks L1 objects are made of; a smaller L1 halves it until it holds 16 "
                 "(docs/SERVER.md)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 30));
  app.add_option("--eviction-policy", cfg.eviction, "L1 eviction policy")
      ->check(CLI::IsMember({"LRU"}))
      ->capture_default_str();
  app.add_option("--threads", cfg.threads, "I/O threads (default: one per core)");
  app.add_option("--stall-timeout-ms", cfg.stall_timeout_ms,
                 "close a connection whose write, or half-received request, makes no progress this long")
      ->capture_default_str();
  app.add_option("--max-connections", cfg.max_connections,
                 "connections held at once; at the limit a new one closes the connection idle the longest (never "
                 "one with a request in flight). Default: the descriptor limit (raised to its hard limit at start) "
                 "less 64 for files and L2")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 24));
  app.add_option("--idle-timeout-ms", cfg.idle_timeout_ms,
                 "close a connection with no request in flight for this long (0: never; LMCache workers keep one "
                 "connection open between requests)")
      ->capture_default_str();
  app.add_option("--max-pinned-bytes", cfg.max_pinned_bytes,
                 "bytes of stored objects that GET replies being sent may hold at once (a pinned object cannot be "
                 "evicted); past it a GET is answered as a miss. Default: a quarter of L1; 0: no bound")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 50));
  app.add_option("--stats-interval-s", cfg.stats_interval_s, "print the counters every S seconds (0: never)")
      ->capture_default_str();
  app.add_option("--log-level", cfg.log_level,
                 "quiet, info or debug (debug: a line per request and per reply, with the header bytes)")
      ->check(CLI::IsMember({"quiet", "info", "debug"}))
      ->capture_default_str();
  app.add_option("--l2-adapter", cfg.l2_adapters,
                 "an L2 tier as JSON, e.g. '{\"type\":\"fs\",\"base_path\":\"/tmp/l2\",\"serde\":{\"type\":\"fp8\"}}'; "
                 "repeatable, tried in order");
  app.add_option("--l2-load-timeout-ms", cfg.l2_load_timeout_ms,
                 "how long a GET that misses L1 waits for L2 before answering a miss")
      ->capture_default_str();
  app.add_option("--l2-max-pending-bytes", cfg.l2_max_pending_bytes,
                 "evicted bytes staged for writing to L2 at most; evictions beyond are dropped")
      ->capture_default_str();
  if (const auto status = lmc::tools::Parse(app, argc, argv)) return *status;

  std::uint64_t budget = std::uint64_t{1} << 30;
  if (cfg.l1_size_bytes != 0) {
    budget = cfg.l1_size_bytes;
  } else if (cfg.l1_size_gb > 0) {
    budget = static_cast<std::uint64_t>(cfg.l1_size_gb * static_cast<double>(std::uint64_t{1} << 30));
  }
  const bool quiet = cfg.log_level == "quiet";

  // Built by the function the simulator builds its servers with.
  lmc::server::ServerPlan plan;
  plan.l1_bytes = static_cast<std::size_t>(budget);
  plan.max_object_bytes = static_cast<std::size_t>(cfg.max_object_bytes);
  plan.l1_headroom_bytes = cfg.l1_headroom_bytes ? static_cast<std::size_t>(*cfg.l1_headroom_bytes)
                                                 : lmc::server::DefaultHeadroomBytes(plan.l1_bytes);
  for (const std::string& text : cfg.l2_adapters) {
    nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) {
      std::cerr << "lmcache-server: --l2-adapter: l2: the adapter config is not valid JSON\n";
      return lmc::tools::kExitUsage;
    }
    plan.l2_adapters.push_back(std::move(config));
  }
  plan.l2_load_timeout = std::chrono::milliseconds(cfg.l2_load_timeout_ms);
  plan.l2_max_pending_bytes = static_cast<std::size_t>(cfg.l2_max_pending_bytes);
  plan.server.host = cfg.host;
  plan.server.port = cfg.port;
  plan.server.stall_timeout = std::chrono::milliseconds(cfg.stall_timeout_ms);
  plan.l1_intake_bytes = static_cast<std::size_t>(cfg.max_incomplete_put_bytes);
  plan.l1_chunk_bytes = static_cast<std::size_t>(cfg.l1_chunk_bytes);
  plan.server.max_connections = static_cast<std::size_t>(cfg.max_connections.value_or(DefaultMaxConnections()));
  plan.server.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  plan.server.max_pinned_bytes = static_cast<std::size_t>(cfg.max_pinned_bytes.value_or(budget / 4));
  // debug: a line per request and per reply on stderr (docs/SERVER.md).
  if (cfg.log_level == "debug") plan.server.request_log = lmc::server::RequestLog::ToStderr();
  // The tier's restart scan: what it skipped (named) and what it found.
  plan.l2_log = [](std::string_view line) {
    const std::string text = "lmcache-server: " + std::string(line) + "\n";
    std::fputs(text.c_str(), stderr);  // one write: never inside another line
  };

  // One event loop per I/O thread; each connection stays on one loop.
  const unsigned threads = cfg.threads != 0 ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  lmc::net::AsioTransport transport(threads);
  // The tiers' runtime: workers for the L2 work, and an event loop of its
  // own (lm:// tiers' connections, load deadlines): a GET that misses L1
  // waits for L2 on its connection's loop, and must not wait for a reply
  // that only that same loop could read. Each adapter, wrapper and the tier
  // reserve their own workers.
  std::unique_ptr<lmc::runtime::ProcessEnv> l2_env;
  if (!plan.l2_adapters.empty())
    l2_env = std::make_unique<lmc::runtime::ProcessEnv>(lmc::runtime::ProcessEnvOptions{1, 0});
  lmc::server::ServerParts parts;
  std::string error;
  switch (lmc::server::AssembleServer(plan, transport, l2_env.get(), &parts, &error)) {
    case lmc::server::AssembleError::kOk: break;
    case lmc::server::AssembleError::kBadAdapter:
      std::cerr << "lmcache-server: " << error << "\n";
      return lmc::tools::kExitUsage;
    case lmc::server::AssembleError::kNoMemory:
    case lmc::server::AssembleError::kNoRandom: std::cerr << "lmcache-server: " << error << "\n"; return 1;
  }
  const std::shared_ptr<lmc::store::L1Store> store = parts.l1;
  const std::shared_ptr<lmc::tier::Tier> tier = parts.tier;
  lmc::server::Server& server = *parts.server;
  std::uint16_t port = 0;
  if (const auto e = server.Start(&port); e != lmc::net::NetError::kOk) {
    std::cerr << "lmcache-server: cannot listen on " << cfg.host << ":" << cfg.port << ": " << lmc::net::NetErrorName(e)
              << "\n";
    return 1;
  }
  if (!quiet) {
    // One write: the tier's restart scan may log from a worker meanwhile,
    // and scripts read this line for the port.
    std::ostringstream line;
    line << "lmcache-server: listening on lm://" << cfg.host << ":" << port << " (L1 " << budget << " bytes in "
         << store->chunk_bytes() << "-byte chunks, max object " << cfg.max_object_bytes << " bytes, max connections "
         << plan.server.max_connections << ")\n";
    std::fputs(line.str().c_str(), stderr);
  }

  const auto print_counters = [&] {
    std::cerr << lmc::server::FormatCounters(server.counters(), store->Stats())
              << (tier ? lmc::tier::FormatStats(tier->Stats()) : "") << std::flush;
  };
  asio::signal_set stop_signals(transport.context(), SIGINT, SIGTERM);
  // The tier finishes its L2 writes before the loops stop, off the loop
  // thread.
  std::thread closer;
  stop_signals.async_wait([&](const std::error_code& ec, int) {
    if (ec) return;
    server.Stop();
    closer = std::thread([&] {
      if (tier) tier->Close();
      transport.Stop();
    });
  });
  asio::signal_set stats_signal(transport.context(), SIGUSR1);
  std::function<void()> wait_stats = [&] {
    stats_signal.async_wait([&](const std::error_code& ec, int) {
      if (ec) return;
      print_counters();
      wait_stats();
    });
  };
  wait_stats();
  asio::steady_timer stats_timer(transport.context());
  std::function<void()> tick = [&] {
    if (cfg.stats_interval_s == 0) return;
    stats_timer.expires_after(std::chrono::seconds(cfg.stats_interval_s));
    stats_timer.async_wait([&](const std::error_code& ec) {
      if (ec) return;
      print_counters();
      tick();
    });
  };
  tick();

  transport.Run(threads);
  if (closer.joinable()) closer.join();
  if (!quiet) std::cerr << "lmcache-server: stopped\n";
  print_counters();
  return 0;
}
