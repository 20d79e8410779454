// The pipelined request codec (DecodeRequests, EncodeRequests) on up to
// eight headers at once. Oracles: the batch decodes every whole header the
// input holds exactly as DecodeRequest does one at a time, stops at the
// first that fails with that header's error, and reports how many it did;
// the decoded headers, encoded as a batch, are each header encoded alone.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>

#include "wire/headers.h"

using namespace lmc::wire;

namespace {

constexpr std::size_t kBatchMax = 8;

// The whole headers at the front of `in`, as one batch and one by one.
void CheckBatch(std::span<const std::byte> in) {
  const std::size_t count = std::min(in.size() / kRequestHeaderBytes, kBatchMax);
  if (count == 0) return;
  const auto batch = in.first(count * kRequestHeaderBytes);
  std::array<RequestHeader, kBatchMax> got{};
  std::size_t done = ~std::size_t{0};
  const WireError e = DecodeRequests(batch, std::span(got).first(count), &done);
  if (done > count) std::abort();
  std::array<RequestView, kBatchMax> views{};
  for (std::size_t i = 0; i < count; ++i) {
    RequestHeader one;
    const WireError ei = DecodeRequest(batch.subspan(i * kRequestHeaderBytes, kRequestHeaderBytes), &one);
    if (i < done && (ei != WireError::kOk || !(one == got[i]))) std::abort();
    if (i == done && ei != e) std::abort();  // stops at the first error, with its error
    if (i >= done) break;
    views[i].command = one.command;
    views[i].length = one.length;
    views[i].fmt = one.fmt;
    views[i].dtype = one.dtype;
    views[i].location = one.location;
    views[i].shape = one.shape;
    views[i].key = got[i].key.view();
  }
  if ((e == WireError::kOk) != (done == count)) std::abort();
  // The decoded ones, encoded as a batch, are each header encoded alone.
  std::array<std::byte, kBatchMax * kRequestHeaderBytes> out{};
  std::size_t encoded = 0;
  if (EncodeRequests(std::span(views).first(done), out, &encoded) != WireError::kOk || encoded != done) std::abort();
  for (std::size_t i = 0; i < done; ++i) {
    std::array<std::byte, kRequestHeaderBytes> one{};
    EncodeRequest(got[i], one);
    if (!std::equal(one.begin(), one.end(), out.begin() + static_cast<std::ptrdiff_t>(i * kRequestHeaderBytes)))
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CheckBatch(std::as_bytes(std::span(data, size)));
  return 0;
}
