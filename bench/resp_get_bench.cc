// The Redis tier's GET throughput: the kit's RESP client (resp::Client, as
// the resp adapter uses it: one call at a time per connection) reading
// values of SIZE bytes from a running Redis with THREADS callers, each on
// its own connection. bench/resp_vs_redis_benchmark.sh runs it beside
// redis-benchmark on the same Redis.
//   resp_get_bench HOST PORT SIZE KEYS THREADS GETS
// SETs KEYS keys "rb:<i>", then THREADS threads GET GETS values in all
// (round robin over the keys), each checked for its size. Prints one line:
//   resp_get_bench: GETS gets of SIZE bytes in S s: R gets/s, B MB/s
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/version.h"
#include "resp/client.h"
#include "runtime/process_env.h"

int main(int argc, char** argv) {
  constexpr const char* kUsage = "usage: resp_get_bench HOST PORT SIZE KEYS THREADS GETS\n";
  if (argc == 2 && std::string(argv[1]) == "--help") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("%s\n", lmc::base::VersionLine("resp_get_bench").c_str());
    return 0;
  }
  if (argc != 7) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const std::string host = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const auto size = static_cast<std::size_t>(std::atoll(argv[3]));
  const int keys = std::atoi(argv[4]), threads = std::atoi(argv[5]);
  const long gets = std::atol(argv[6]);
  lmc::runtime::ProcessEnv env;
  lmc::resp::ClientOptions o;
  o.nodes = {{host, port}};
  o.connections_per_node = static_cast<unsigned>(threads);
  o.call_timeout = std::chrono::milliseconds(10000);
  lmc::resp::Client client(env, o);
  std::string detail;
  if (client.Check(&detail) != lmc::resp::Status::kOk) {
    std::fprintf(stderr, "resp_get_bench: %s\n", detail.c_str());
    return 1;
  }
  std::vector<std::byte> value(size);
  for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<std::byte>(i * 31 + 7);
  for (int k = 0; k < keys; ++k)
    if (client.Set("rb:" + std::to_string(k), value) != lmc::resp::Status::kOk) {
      std::fprintf(stderr, "resp_get_bench: SET failed\n");
      return 1;
    }
  std::atomic<long> next{0}, bad{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<std::byte> dst(size);
      for (long i; (i = next.fetch_add(1)) < gets;) {
        std::size_t n = 0;
        if (client.Get("rb:" + std::to_string(i % keys), dst, true, &n) != lmc::resp::Status::kOk || n != size) ++bad;
      }
    });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (bad > 0) {
    std::fprintf(stderr, "resp_get_bench: %ld GETs failed\n", bad.load());
    return 1;
  }
  std::printf("resp_get_bench: %ld gets of %zu bytes in %.3f s: %.0f gets/s, %.1f MB/s\n", gets, size, s,
              static_cast<double>(gets) / s, static_cast<double>(gets) * static_cast<double>(size) / s / 1e6);
  return 0;
}
