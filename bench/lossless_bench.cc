// zstd and lz4 serde ratio and speed on bf16 KV-like data, with and without
// byte planes, next to the library itself called once on the whole buffer
// (the same libzstd/liblz4 the serde links, at the same level; for planes,
// on the byte-plane bytes, which the library gets for free). Writes the data
// (and its byte-plane form) to files so that bench/lossless_vs_cli.sh can
// also run `zstd -b` and `lz4 -b` on the same bytes.
//   lossless_bench OUT_DIR [REPS]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <lz4.h>
#include <xxhash.h>
#include <zstd.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#include "best_seconds.h"
#include "serde/lossless_serde.h"

namespace {

void WriteFile(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lmc::serde;
  if (argc < 2) {
    std::fprintf(stderr, "usage: lossless_bench OUT_DIR [REPS]\n");
    return 2;
  }
  const std::string out = argv[1];
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  // 16 MiB of bf16 KV-like values: per-channel scales (as K/V channels
  // have), Gaussian within a channel, rounded to bf16 by truncation.
  constexpr std::size_t kElems = 8u << 20, kBytes = kElems * 2, kChannels = 128;
  std::vector<std::byte> data(kBytes);
  std::mt19937 g(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> scale(kChannels);
  for (auto& s : scale) s = std::exp2(normal(g));
  for (std::size_t i = 0; i < kElems; ++i) {
    const float x = normal(g) * scale[i % kChannels];
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    const auto b = static_cast<std::uint16_t>(u >> 16);
    std::memcpy(data.data() + 2 * i, &b, 2);
  }
  std::vector<std::byte> planes(kBytes);
  SplitBytePlanes(data, planes);
  WriteFile(out + "/kv_bf16.bin", data);
  WriteFile(out + "/kv_bf16_planes.bin", planes);

  const Layout layout{{{{static_cast<std::int64_t>(kElems)}, DType::kBFloat16}}};
  struct Config {
    const char* name;
    LosslessOptions o;
  };
  const Config configs[] = {
      {"zstd-1", {Codec::kZstd, 1, false}}, {"zstd-1+planes", {Codec::kZstd, 1, true}},
      {"zstd-3", {Codec::kZstd, 3, false}}, {"zstd-3+planes", {Codec::kZstd, 3, true}},
      {"lz4-1", {Codec::kLz4, 0, false}},   {"lz4-1+planes", {Codec::kLz4, 0, true}},
  };
  std::printf("%-15s %8s %12s %12s %8s %12s %12s\n", "serde", "ratio", "comp MB/s", "decomp MB/s", "lib", "lib comp",
              "lib decomp");
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  for (const Config& c : configs) {
    const LosslessSerde serde(c.o);
    SerdeError e;
    std::vector<std::byte> blob(serde.EstimateSerializedSize(layout, &e)), back(kBytes);
    std::size_t written = 0;
    // The library alone, on what it compresses in the serde.
    const std::vector<std::byte>& input = c.o.byte_planes ? planes : data;
    const bool zstd = c.o.codec == Codec::kZstd;
    std::vector<std::byte> lib_blob(zstd ? ZSTD_compressBound(kBytes)
                                         : static_cast<std::size_t>(LZ4_compressBound(kBytes)));
    std::vector<std::byte> lib_back(kBytes);
    std::size_t lib_written = 0;
    const auto lib_compress = [&] {
      lib_written = zstd ? ZSTD_compressCCtx(cctx, lib_blob.data(), lib_blob.size(), input.data(), kBytes, c.o.level)
                         : static_cast<std::size_t>(LZ4_compress_default(
                               reinterpret_cast<const char*>(input.data()), reinterpret_cast<char*>(lib_blob.data()),
                               static_cast<int>(kBytes), static_cast<int>(lib_blob.size())));
    };
    const auto lib_decompress = [&] {
      const std::size_t n =
          zstd ? ZSTD_decompressDCtx(dctx, lib_back.data(), kBytes, lib_blob.data(), lib_written)
               : static_cast<std::size_t>(LZ4_decompress_safe(reinterpret_cast<const char*>(lib_blob.data()),
                                                              reinterpret_cast<char*>(lib_back.data()),
                                                              static_cast<int>(lib_written), static_cast<int>(kBytes)));
      if (n != kBytes) std::abort();
    };
    // Serde and library runs alternate, so a noisy moment hits both.
    double tc = 1e9, td = 1e9, lc = 1e9, ld = 1e9;
    for (int r = 0; r < reps; ++r) {
      tc = std::min(tc, lmc::bench::BestSeconds(1, [&] {
                      if (serde.Serialize(layout, data, blob, nullptr, &written) != SerdeError::kOk) std::abort();
                    }));
      lc = std::min(lc, lmc::bench::BestSeconds(1, lib_compress));
      td = std::min(td, lmc::bench::BestSeconds(1, [&] {
                      if (serde.Deserialize(std::span(blob).first(written), layout, back, nullptr) != SerdeError::kOk)
                        std::abort();
                    }));
      ld = std::min(ld, lmc::bench::BestSeconds(1, lib_decompress));
    }
    if (back != data || lib_back != input) std::abort();
    // MB/s of original bytes, as zstd -b and lz4 -b report (1 MB = 1e6 bytes).
    std::printf("%-15s %8.3f %12.1f %12.1f %8.3f %12.1f %12.1f\n", c.name,
                static_cast<double>(kBytes) / static_cast<double>(written), kBytes / tc / 1e6, kBytes / td / 1e6,
                static_cast<double>(kBytes) / static_cast<double>(lib_written), kBytes / lc / 1e6, kBytes / ld / 1e6);
  }
  ZSTD_freeCCtx(cctx);
  ZSTD_freeDCtx(dctx);
  // What the frame's integrity check costs at best: XXH3-64 over one chunk
  // already in the cache, as the serde runs it after decoding each chunk.
  const std::size_t chunk = std::size_t{1} << kLosslessChunkLog2;
  volatile std::uint64_t sink = 0;
  const double th = lmc::bench::BestSeconds(reps * 20, [&] { sink = sink + XXH3_64bits(data.data(), chunk); });
  std::printf("xxh3-chunk-in-cache MB/s %.1f\n", static_cast<double>(chunk) / th / 1e6);
  return 0;
}
