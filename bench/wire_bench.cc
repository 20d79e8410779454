// Request-header encode and decode: the work a server or client does per
// request, measured against Python's struct by bench/wire_vs_python.sh.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "wire/headers.h"

namespace lmc::wire {
namespace {

RequestHeader SampleRequest() {
  RequestHeader h;
  h.command = static_cast<std::int32_t>(Command::kPut);
  h.length = 8192;
  h.fmt = 1;
  h.dtype = static_cast<std::int32_t>(DtypeCode::kBfloat16);
  h.shape = {2, 32, 256, 1024};
  if (h.key.Assign("test_model@3@1@0@bfloat16") != WireError::kOk) std::abort();
  return h;
}

void BM_RequestEncode(benchmark::State& state) {
  const RequestHeader h = SampleRequest();
  std::array<std::byte, kRequestHeaderBytes> buf{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(&h);
    EncodeRequest(h, buf);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RequestEncode);

// Decoding the same bytes over and over, into an owned header or a view.
template <typename Out>
void BM_Decode(benchmark::State& state) {
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(SampleRequest(), buf);
  Out out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    WireError e;
    if constexpr (std::is_same_v<Out, RequestView>) {
      e = DecodeRequestView(buf, &out);
    } else {
      e = DecodeRequest(buf, &out);
    }
    if (e != WireError::kOk) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(&out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Decode<RequestHeader>)->Name("BM_RequestDecode");
BENCHMARK(BM_Decode<RequestView>)->Name("BM_RequestDecodeView");

// Where a key's bytes sit relative to a page boundary changes the encoder's
// path (see EncodeKeyAvx512), so the encode benchmarks cycle through the
// sample key placed at 64 offsets spread evenly over a 4 KiB page: the
// figure is the average over placements, not one lucky or unlucky one.
constexpr std::size_t kPlacements = 64;

class KeyPlacements {
 public:
  explicit KeyPlacements(std::string_view key) : arena_(3 * 4096) {
    const auto base = (reinterpret_cast<std::uintptr_t>(arena_.data()) + 4095) & ~std::uintptr_t{4095};
    for (std::size_t i = 0; i < kPlacements; ++i) {
      char* at = reinterpret_cast<char*>(base) + i * (4096 / kPlacements);
      std::memcpy(at, key.data(), key.size());
      views_[i] = std::string_view(at, key.size());
    }
  }
  std::string_view operator[](std::size_t i) const { return views_[i % kPlacements]; }

 private:
  std::vector<char> arena_;
  std::array<std::string_view, kPlacements> views_;
};

RequestView SampleView() {
  RequestView v;
  v.command = static_cast<std::int32_t>(Command::kPut);
  v.length = 8192;
  v.fmt = 1;
  v.dtype = static_cast<std::int32_t>(DtypeCode::kBfloat16);
  v.shape = {2, 32, 256, 1024};
  v.key = "test_model@3@1@0@bfloat16";
  return v;
}

// Encoding straight from key text (validated and padded), as a client does.
void BM_RequestEncodeFromText(benchmark::State& state) {
  const KeyPlacements keys(SampleView().key);
  RequestView v = SampleView();
  std::array<std::byte, kRequestHeaderBytes> buf{};
  std::size_t i = 0;
  for (auto _ : state) {
    v.key = keys[i++];
    benchmark::DoNotOptimize(&v);
    if (EncodeRequest(v, buf) != WireError::kOk) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RequestEncodeFromText);

// The unit compared with Python's struct: from the header's ints and key text
// to bytes, and from those bytes back to ints and an owned copy of the
// validated, stripped key text. Python does pack(ints,
// key.encode().ljust(150)), then unpack and key.decode().strip().
void BM_RequestEncodeDecode(benchmark::State& state) {
  const KeyPlacements keys(SampleView().key);
  RequestView v = SampleView();
  std::array<std::byte, kRequestHeaderBytes> buf{};
  RequestHeader out;
  std::size_t i = 0;
  for (auto _ : state) {
    v.key = keys[i++];
    benchmark::DoNotOptimize(&v);
    if (EncodeRequest(v, buf) != WireError::kOk) state.SkipWithError("encode failed");
    benchmark::ClobberMemory();
    if (DecodeRequest(buf, &out) != WireError::kOk) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(&out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RequestEncodeDecode);

// A pipelined stream: a client encodes a batch of requests with different
// keys back to back into one buffer, and a server decodes them all. Reports
// the time per header (items/s counts headers).
constexpr std::size_t kStreamHeaders = 64;

std::vector<std::string> StreamKeys() {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kStreamHeaders; ++i) {
    std::string key = "meta-llama/Llama-3.1-8B-Instruct@1@0@" + std::to_string(0x1234abcd + i * 7919) + "@bfloat16";
    if (i % 4 == 0) key += "@" + std::to_string(i % 32);
    keys.push_back(std::move(key));
  }
  return keys;
}

// The stream's requests: views into `keys`, which must outlive them.
std::vector<RequestView> StreamViews(const std::vector<std::string>& keys) {
  std::vector<RequestView> in(keys.size(), SampleView());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    in[i].command = static_cast<std::int32_t>(1 + i % 3);
    in[i].key = keys[i];
  }
  return in;
}

void BM_RequestStreamEncodeDecode(benchmark::State& state) {
  const std::vector<std::string> keys = StreamKeys();
  const std::vector<RequestView> in = StreamViews(keys);
  std::vector<std::byte> wire(kStreamHeaders * kRequestHeaderBytes);
  std::vector<RequestHeader> out(kStreamHeaders);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kStreamHeaders; ++i) {
      if (EncodeRequest(in[i], std::span(wire).subspan(i * kRequestHeaderBytes).first<kRequestHeaderBytes>()) !=
          WireError::kOk) {
        state.SkipWithError("encode failed");
      }
    }
    benchmark::ClobberMemory();
    for (std::size_t i = 0; i < kStreamHeaders; ++i) {
      if (DecodeRequest(std::span(wire).subspan(i * kRequestHeaderBytes, kRequestHeaderBytes), &out[i]) !=
          WireError::kOk) {
        state.SkipWithError("decode failed");
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kStreamHeaders));
}
BENCHMARK(BM_RequestStreamEncodeDecode);

// The same stream through the batch calls: one dispatch per 64 headers.
void BM_RequestBatchEncodeDecode(benchmark::State& state) {
  const std::vector<std::string> keys = StreamKeys();
  const std::vector<RequestView> in = StreamViews(keys);
  std::vector<std::byte> wire(kStreamHeaders * kRequestHeaderBytes);
  std::vector<RequestHeader> out(kStreamHeaders);
  std::size_t done = 0;
  for (auto _ : state) {
    if (EncodeRequests(in, wire, &done) != WireError::kOk) state.SkipWithError("encode failed");
    benchmark::ClobberMemory();
    if (DecodeRequests(wire, out, &done) != WireError::kOk) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(kStreamHeaders));
}
BENCHMARK(BM_RequestBatchEncodeDecode);

void BM_ReplyEncodeDecode(benchmark::State& state) {
  const ReplyHeader h{200, 8192, 1, 3, {2, 32, 256, 1024}, 0};
  std::array<std::byte, kReplyHeaderBytes> buf{};
  ReplyHeader out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&h);
    EncodeReply(h, buf);
    benchmark::ClobberMemory();
    if (DecodeReply(buf, &out) != WireError::kOk) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(&out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ReplyEncodeDecode);

}  // namespace
}  // namespace lmc::wire

BENCHMARK_MAIN();
