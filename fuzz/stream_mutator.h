// Structure-aware mutation for the stream targets, whose input is
// [stream length: u16 LE][request stream][control bytes].
//
// libFuzzer's byte mutations rarely keep a 186-byte header and the payload
// length it declares in step, so most mutants of a good stream end in the
// first framing check. This mutator splits the stream into requests (a
// header, then for a PUT the payload its length declares, as far as the
// stream goes) and mutates at that level: a command, a key from a pool of
// canonical keys and their equivalent spellings (so requests collide), the
// object fields, a PUT's length (kept consistent with its payload nine times
// in ten), and whole requests duplicated, dropped, swapped or inserted. The
// rest of the time, and always for the control bytes, it hands the bytes to
// libFuzzer's own mutator, so dictionaries and comparison feedback still
// work. Crossover splices the request lists of two inputs.
//
// A target defines the two entry points with LMC_FUZZ_STREAM_MUTATOR(); in a
// build without libFuzzer (the corpus replays) the macro defines nothing.
// The splitting and joining are plain functions, tested by the replay of
// every corpus input (see CheckStreamRoundTrip).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace lmc::fuzzing {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kHeaderBytes = 186;  // wire::kRequestHeaderBytes
inline constexpr std::size_t kKeyOffset = 36;
inline constexpr std::size_t kKeyBytes = 150;
inline constexpr std::size_t kStreamBytesMax = 0xffff;

inline std::int32_t GetI32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return static_cast<std::int32_t>(v);
}
inline void PutI32(std::uint8_t* p, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(u >> (8 * i));
}

// An input in its three parts.
struct StreamInput {
  std::vector<Bytes> requests;  // each a header (+ payload); the last may be a raw tail
  Bytes control;
};

// Splits at request boundaries as a server reads them: 186 header bytes,
// then, for command 1 (PUT) with a length >= 0, that many payload bytes or
// what is left. Fewer than 186 bytes at the end are one raw piece.
inline StreamInput Split(std::span<const std::uint8_t> input) {
  StreamInput out;
  if (input.size() < 2) return out;
  const std::size_t len = std::min<std::size_t>(input.size() - 2, input[0] | (std::size_t{input[1]} << 8));
  const std::span<const std::uint8_t> stream = input.subspan(2, len);
  out.control.assign(input.begin() + static_cast<std::ptrdiff_t>(2 + len), input.end());
  for (std::size_t at = 0; at < stream.size();) {
    std::size_t n = stream.size() - at;
    if (n >= kHeaderBytes) {
      const std::int32_t command = GetI32(&stream[at]);
      const std::int32_t length = GetI32(&stream[at + 4]);
      n = kHeaderBytes;
      if (command == 1 && length > 0)
        n += std::min<std::size_t>(static_cast<std::size_t>(length), stream.size() - at - n);
    }
    out.requests.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(at),
                              stream.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return out;
}

// The inverse of Split; a stream past 64 KiB - 1 is cut there.
inline Bytes Join(const StreamInput& in) {
  Bytes stream;
  for (const Bytes& r : in.requests) stream.insert(stream.end(), r.begin(), r.end());
  if (stream.size() > kStreamBytesMax) stream.resize(kStreamBytesMax);
  Bytes out;
  out.reserve(2 + stream.size() + in.control.size());
  out.push_back(static_cast<std::uint8_t>(stream.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>(stream.size() >> 8));
  out.insert(out.end(), stream.begin(), stream.end());
  out.insert(out.end(), in.control.begin(), in.control.end());
  return out;
}

// Join(Split(x)) == x for an input whose length prefix does not overrun it;
// the replays call this on every corpus input, so the splitter is tested in
// every build.
inline void CheckStreamRoundTrip(std::span<const std::uint8_t> input) {
  if (input.size() < 2 || (input[0] | (std::size_t{input[1]} << 8)) > input.size() - 2) return;
  const Bytes back = Join(Split(input));
  if (!std::equal(back.begin(), back.end(), input.begin(), input.end())) {
    std::fprintf(stderr, "stream_mutator: Join(Split(input)) is not the input\n");
    std::abort();
  }
}

// CheckStreamRoundTrip in the replay builds only: the fuzzers spend their
// time on the target.
inline void CheckSplitInReplays([[maybe_unused]] std::span<const std::uint8_t> input) {
#ifndef LMC_FUZZ_MUTATOR
  CheckStreamRoundTrip(input);
#endif
}

// Keys that collide: canonical golden keys and spellings the server must
// treat as the same key (hex case, 0x, leading zeros, surrounding spaces),
// plus the edges of the key grammar.
inline constexpr std::array<std::string_view, 16> kKeyPool = {
    "m@1@0@3039@bfloat16",   "m@1@0@0x3039@bfloat16",     "m@1@0@03039@bfloat16",
    " m@1@0@3039@bfloat16 ", "test_model@3@1@0@bfloat16", "m@1@0@ded@uint8@7",
    "m@1@0@DED@uint8@7",     "m@1@0@ded@uint8@7@r%1@g%2", "m@1@0@ded@uint8@7@g%2@r%1",
    "@0@0@0@half",           "m@1@0@-5@float8_e4m3fn",    "m@1@0@1_000@float32",
    "m@1@0@x@bfloat16",      "m@1@0@1@nodtype",           "",
    "m@1@0@\xff@half",
};

class StreamMutator {
 public:
  using ByteMutator = std::size_t (*)(std::uint8_t*, std::size_t, std::size_t);

  StreamMutator(unsigned seed, ByteMutator bytes) : rng_(seed), bytes_(bytes) {}

  // Mutates data[0..size) in place into at most max_size bytes; returns the
  // new size.
  std::size_t Mutate(std::uint8_t* data, std::size_t size, std::size_t max_size) {
    if (size < 2 || Pick(10) < 3) return bytes_(data, size, max_size);
    StreamInput in = Split({data, size});
    const unsigned times = 1 + Pick(3);
    for (unsigned i = 0; i < times; ++i) MutateOnce(&in);
    const Bytes out = Join(in);
    if (out.size() > max_size) return bytes_(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
  }

  // A prefix of one input's requests and a suffix of the other's, with one
  // input's control bytes.
  std::size_t Cross(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b, std::uint8_t* out,
                    std::size_t max_size) {
    const StreamInput x = Split(a), y = Split(b);
    StreamInput z;
    const std::size_t cut_x = Pick(x.requests.size() + 1), cut_y = Pick(y.requests.size() + 1);
    z.requests.assign(x.requests.begin(), x.requests.begin() + static_cast<std::ptrdiff_t>(cut_x));
    z.requests.insert(z.requests.end(), y.requests.begin() + static_cast<std::ptrdiff_t>(cut_y), y.requests.end());
    z.control = Pick(2) ? x.control : y.control;
    Bytes joined = Join(z);
    joined.resize(std::min(joined.size(), max_size));
    std::memcpy(out, joined.data(), joined.size());
    return joined.size();
  }

 private:
  unsigned Pick(std::size_t n) { return n == 0 ? 0 : static_cast<unsigned>(rng_() % n); }

  Bytes& AnyRequest(StreamInput* in) { return in->requests[Pick(in->requests.size())]; }

  Bytes Template() {
    Bytes h(kHeaderBytes, 0);
    const std::int32_t command = static_cast<std::int32_t>(1 + Pick(5));
    PutI32(&h[0], command);
    PutI32(&h[8], 1);
    PutI32(&h[12], command == 1 ? static_cast<std::int32_t>(Pick(12)) : 2);
    SetKey(&h, kKeyPool[Pick(kKeyPool.size())]);
    if (command == 1) SetLength(&h, Pick(3) == 0 ? 0 : 1 + Pick(600), true);
    return h;
  }

  static void SetKey(Bytes* r, std::string_view key) {
    std::memset(r->data() + kKeyOffset, ' ', kKeyBytes);
    std::memcpy(r->data() + kKeyOffset, key.data(), std::min(key.size(), kKeyBytes));
  }

  // Sets a PUT's length; consistent: its payload follows (a pattern of it).
  void SetLength(Bytes* r, std::size_t n, bool consistent) {
    PutI32(r->data() + 4, static_cast<std::int32_t>(n));
    if (!consistent) return;
    const std::size_t old = r->size() - kHeaderBytes;
    r->resize(kHeaderBytes + n);
    for (std::size_t i = old; i < n; ++i) (*r)[kHeaderBytes + i] = static_cast<std::uint8_t>(i * 31 + n);
  }

  std::int32_t Interesting() {
    static constexpr std::array<std::int32_t, 10> kInts = {0, 1, 2, -1, 3, 7, 255, 65536, INT32_MAX, INT32_MIN};
    return kInts[Pick(kInts.size())];
  }

  void MutateOnce(StreamInput* in) {
    if (in->requests.empty() || (in->requests.size() < 8 && Pick(8) == 0)) {
      in->requests.insert(in->requests.begin() + Pick(in->requests.size() + 1), Template());
      return;
    }
    Bytes& r = AnyRequest(in);
    const bool header = r.size() >= kHeaderBytes;
    switch (Pick(11)) {
      case 0:  // a command, mostly a real one
        if (header) PutI32(&r[0], Pick(6) == 0 ? Interesting() : static_cast<std::int32_t>(1 + Pick(5)));
        break;
      case 1:  // a key from the pool
        if (header) SetKey(&r, kKeyPool[Pick(kKeyPool.size())]);
        break;
      case 2:  // fmt or dtype
        if (header) PutI32(&r[8 + 4 * Pick(2)], Pick(2) ? static_cast<std::int32_t>(Pick(12)) : Interesting());
        break;
      case 3:  // location or a shape int
        if (header) PutI32(&r[16 + 4 * Pick(5)], Interesting());
        break;
      case 4:  // a PUT's length: consistent nine times in ten
        if (header) {
          PutI32(&r[0], 1);
          if (Pick(10) == 0) {
            // Off by one either way, wrapping (unsigned) at the int32 edges.
            const std::uint32_t near = static_cast<std::uint32_t>(GetI32(&r[4])) + Pick(3) - 1u;
            PutI32(&r[4], Pick(2) ? Interesting() : static_cast<std::int32_t>(near));
          } else {
            SetLength(&r, Pick(4) == 0 ? 0 : Pick(2000), true);
          }
        }
        break;
      case 5:  // duplicate
        if (in->requests.size() < 64) in->requests.insert(in->requests.begin() + Pick(in->requests.size() + 1), r);
        break;
      case 6:  // drop
        in->requests.erase(in->requests.begin() + Pick(in->requests.size()));
        break;
      case 7: {  // swap two
        Bytes& other = AnyRequest(in);
        std::swap(r, other);
        break;
      }
      case 8:  // cut a request short: a PUT torn, or a header split
        if (!r.empty()) r.resize(Pick(r.size()));
        break;
      case 9:  // the control bytes, by libFuzzer
        MutateBytes(&in->control, 64);
        break;
      default:  // one request's bytes, by libFuzzer
        MutateBytes(&r, 64);
        break;
    }
  }

  void MutateBytes(Bytes* b, std::size_t grow) {
    const std::size_t size = b->size();
    b->resize(size + grow);
    b->resize(bytes_(b->data(), size, b->size()));
  }

  std::minstd_rand rng_;
  ByteMutator bytes_;
};

}  // namespace lmc::fuzzing

#ifdef LMC_FUZZ_MUTATOR
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);
#define LMC_FUZZ_STREAM_MUTATOR()                                                                                    \
  extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,         \
                                                 unsigned int seed) {                                                \
    return lmc::fuzzing::StreamMutator(seed, LLVMFuzzerMutate).Mutate(data, size, max_size);                         \
  }                                                                                                                  \
  extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b, \
                                                   std::size_t b_size, std::uint8_t* out, std::size_t max_size,      \
                                                   unsigned int seed) {                                              \
    return lmc::fuzzing::StreamMutator(seed, LLVMFuzzerMutate).Cross({a, a_size}, {b, b_size}, out, max_size);       \
  }
#else
#define LMC_FUZZ_STREAM_MUTATOR()
#endif
