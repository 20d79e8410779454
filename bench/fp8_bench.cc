// fp8 serialise and deserialise throughput on a 32 MiB bf16 buffer, as a
// ratio to memcpy of that buffer, measured in the same run. Every buffer is
// allocated and touched before timing (freshly mapped pages would be timed
// otherwise); each figure is the best of REPS passes.
//   fp8_bench [REPS]     (LMC_CPU_LEVEL caps the kernel form, as everywhere)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "best_seconds.h"
#include "serde/fp8_kernels.h"
#include "serde/fp8_serde.h"

int main(int argc, char** argv) {
  using namespace lmc::serde;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  constexpr std::size_t kBytes = 32u << 20;
  constexpr std::size_t kElems = kBytes / 2;
  // KV-like bf16 data: normal values around 0 with a spread of magnitudes.
  std::vector<std::byte> src(kBytes), copy(kBytes), back(kBytes);
  std::vector<std::uint8_t> fp8(kElems);
  std::mt19937 g(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < kElems; ++i) {
    const float x = normal(g);
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    const auto b = static_cast<std::uint16_t>(u >> 16);
    std::memcpy(src.data() + 2 * i, &b, 2);
  }
  std::memset(copy.data(), 1, kBytes);
  std::memset(back.data(), 1, kBytes);
  std::memset(fp8.data(), 1, kElems);
  volatile std::byte sink{};
  const double t_memcpy = lmc::bench::BestSeconds(reps, [&] {
    std::memcpy(copy.data(), src.data(), kBytes);
    sink = copy[kBytes / 2];
  });
  const double t_encode =
      lmc::bench::BestSeconds(reps, [&] { CastToFp8(DType::kBFloat16, src, fp8, Fp8Format::kE4M3FN); });
  const double t_decode =
      lmc::bench::BestSeconds(reps, [&] { CastFromFp8(fp8, DType::kBFloat16, back, Fp8Format::kE4M3FN); });
  const double gb = static_cast<double>(kBytes) / 1e9;
  std::printf("kernel form: %s\n", std::string(lmc::base::CpuLevelName(detail::ActiveKernels().level)).c_str());
  std::printf("memcpy 32 MiB bf16:          %7.2f GB/s\n", gb / t_memcpy);
  std::printf("fp8 serialise (bf16->e4m3):  %7.2f GB/s of bf16  = %.2fx memcpy\n", gb / t_encode, t_memcpy / t_encode);
  std::printf("fp8 deserialise (e4m3->bf16):%7.2f GB/s of bf16  = %.2fx memcpy\n", gb / t_decode, t_memcpy / t_decode);
  return 0;
}
