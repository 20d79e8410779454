// How long L1Store::Reserve takes when it must evict many small entries
// (docs/SERVER.md, "Store"): a 1 GiB store (1 MiB chunks) full of 4 KiB
// entries, 256 to a page, every other one recently read, then reservations
// of 64 MiB: each takes 64 chunks, each chunk a plan over the oldest page
// and the eviction of its tenants. Prints the time of each and the
// evictions so far.
//   build/bin/eviction_plan_bench [ENTRY_BYTES]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/version.h"
#include "store/l1_store.h"

int main(int argc, char** argv) {
  const std::string_view arg = argc > 1 ? argv[1] : "";
  if (arg == "--help") {
    std::printf(
        "usage: eviction_plan_bench [ENTRY_BYTES]\nExit status: 0 done; 1 a reservation failed; 2 usage error.\n");
    return 0;
  }
  if (arg == "--version") {
    std::printf("eviction_plan_bench %.*s (%.*s)\n", static_cast<int>(lmc::base::kKitVersion.size()),
                lmc::base::kKitVersion.data(), static_cast<int>(lmc::base::kProtocolRevision.size()),
                lmc::base::kProtocolRevision.data());
    return 0;
  }
  const auto usage_error = [] {
    std::fprintf(stderr, "usage: eviction_plan_bench [ENTRY_BYTES]\n");
    return 2;
  };
  if (argc > 2) return usage_error();
  using lmc::store::L1Store;
  const std::size_t capacity = std::size_t{1} << 30;
  const std::size_t entry = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4096;
  if (entry == 0 || entry > capacity) return usage_error();
  const std::size_t count = capacity / entry;
  L1Store store({capacity, capacity, 0});
  for (std::size_t i = 0; i < count; ++i) {
    L1Store::Reservation r;
    if (store.Reserve(entry, &r) != L1Store::ReserveError::kOk) return 1;
    store.Publish("k" + std::to_string(i), lmc::store::ObjectMeta{static_cast<std::int32_t>(entry), 1, 3, {}},
                  std::move(r));
  }
  for (std::size_t i = 0; i < count; i += 2) (void)store.Get("k" + std::to_string(i));
  std::vector<L1Store::Reservation> held;
  bool all_ok = true;
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    held.emplace_back();
    const auto e = store.Reserve(std::size_t{64} << 20, &held.back());
    all_ok = all_ok && e == L1Store::ReserveError::kOk;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("reserve 64 MiB among %llu entries of %zu bytes: %s in %.1f ms, evictions so far %llu\n",
                static_cast<unsigned long long>(store.Stats().objects), entry,
                e == L1Store::ReserveError::kOk ? "ok" : "failed", ms,
                static_cast<unsigned long long>(store.Stats().evictions));
  }
  return all_ok ? 0 : 1;
}
