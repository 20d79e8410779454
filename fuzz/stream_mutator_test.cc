// The stream mutator (stream_mutator.h) outside libFuzzer: every mutant and
// cross-over of the committed fuzz_server_session corpus stays within
// max_size and survives Split and Join, and nothing it computes overflows
// (the asan preset runs this under UBSan). libFuzzer's own byte mutator is
// stood in for by a small one of ours.
//
// usage: stream_mutator_test CORPUS_DIR [ROUNDS]
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "stream_mutator.h"

namespace {

std::minstd_rand g_rng(7);

// Flips, inserts or erases a byte, as libFuzzer's mutator might.
std::size_t ByteMutate(std::uint8_t* data, std::size_t size, std::size_t max_size) {
  switch (g_rng() % 3) {
    case 0:
      if (size > 0) data[g_rng() % size] ^= static_cast<std::uint8_t>(1u << (g_rng() % 8));
      return size;
    case 1:
      if (size < max_size) {
        const std::size_t at = g_rng() % (size + 1);
        std::memmove(data + at + 1, data + at, size - at);
        data[at] = static_cast<std::uint8_t>(g_rng());
        return size + 1;
      }
      return size;
    default:
      if (size > 0) {
        const std::size_t at = g_rng() % size;
        std::memmove(data + at, data + at + 1, size - at - 1);
        return size - 1;
      }
      return size;
  }
}

[[noreturn]] void Fail(const char* why) {
  std::fprintf(stderr, "stream_mutator_test: %s\n", why);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Fail("usage: stream_mutator_test CORPUS_DIR [ROUNDS]");
  const long rounds = argc > 2 ? std::atol(argv[2]) : 20000;
  std::vector<lmc::fuzzing::Bytes> corpus;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream f(e.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) Fail("no corpus inputs");
  // And, every other round, one PUT header claiming each int32 edge as its
  // length (the mutator's off-by-one step once overflowed on INT32_MAX).
  std::vector<lmc::fuzzing::Bytes> edges;
  for (const std::int32_t length : {INT32_MAX, INT32_MIN, -1, 0}) {
    lmc::fuzzing::Bytes h(2 + lmc::fuzzing::kHeaderBytes, 0);
    h[0] = static_cast<std::uint8_t>(lmc::fuzzing::kHeaderBytes);
    h[2] = 1;  // PUT
    lmc::fuzzing::PutI32(&h[6], length);
    edges.push_back(h);
  }
  constexpr std::size_t kMax = 4096;
  std::vector<std::uint8_t> buf(kMax);
  for (long i = 0; i < rounds; ++i) {
    const auto seed = static_cast<unsigned>(i);
    lmc::fuzzing::StreamMutator m(seed, ByteMutate);
    const auto k = static_cast<std::size_t>(i);
    const lmc::fuzzing::Bytes& a = k % 2 == 0 ? corpus[k / 2 % corpus.size()] : edges[k / 2 % edges.size()];
    const std::size_t size = std::min(a.size(), kMax);
    std::memcpy(buf.data(), a.data(), size);
    std::size_t n = m.Mutate(buf.data(), size, kMax);
    if (n > kMax) Fail("a mutant past max_size");
    lmc::fuzzing::CheckStreamRoundTrip({buf.data(), n});
    const lmc::fuzzing::Bytes& b = corpus[(k * 7 + 3) % corpus.size()];
    n = m.Cross(a, b, buf.data(), kMax);
    if (n > kMax) Fail("a cross-over past max_size");
    lmc::fuzzing::CheckStreamRoundTrip({buf.data(), n});
  }
  std::printf("stream_mutator_test: %ld mutants and cross-overs of %zu inputs\n", rounds, corpus.size());
  return 0;
}
