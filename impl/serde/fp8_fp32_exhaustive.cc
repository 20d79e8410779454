// All 2^32 float32 inputs, both fp8 formats, against CUDA's host conversion
// (fp8_oracle.h). Long: run by ci/exhaustive.sh, not by .ci/run. Splits the
// input space over the machine's cores; prints progress and the first
// mismatches; exit status 0 only if there are none.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "serde/fp8.h"
#include "serde/fp8_oracle.h"

int main() {
  using lmc::serde::Fp8Format;
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<std::uint64_t> mismatches{0}, checked{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::uint64_t begin = (std::uint64_t{1} << 32) * t / threads;
      const std::uint64_t end = (std::uint64_t{1} << 32) * (t + 1) / threads;
      std::uint64_t local_bad = 0;
      for (std::uint64_t u = begin; u < end; ++u) {
        const auto bits = static_cast<std::uint32_t>(u);
        float x;
        std::memcpy(&x, &bits, 4);
        for (const Fp8Format f : {Fp8Format::kE4M3FN, Fp8Format::kE5M2}) {
          const std::uint8_t got = lmc::serde::FloatToFp8(x, f);
          const std::uint8_t want = lmc::serde::oracle::FloatToFp8(x, f);
          if (got != want && ++local_bad <= 5) {
            std::fprintf(stderr, "mismatch: float bits %08" PRIx32 " format %d: got %02x want %02x\n", bits,
                         static_cast<int>(f), got, want);
          }
        }
        if ((u & 0xFFFFFF) == 0xFFFFFF) {
          const std::uint64_t done = checked.fetch_add(0x1000000) + 0x1000000;
          if (t == 0) std::fprintf(stderr, "\r%5.1f%%", 100.0 * static_cast<double>(done) / 4294967296.0);
        }
      }
      mismatches += local_bad;
    });
  }
  for (auto& th : pool) th.join();
  std::printf("\nall 2^32 float32 inputs x {e4m3fn, e5m2}: %" PRIu64 " mismatches\n", mismatches.load());
  return mismatches == 0 ? 0 : 1;
}
