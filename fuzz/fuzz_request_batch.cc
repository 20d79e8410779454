// The pipelined request codec (DecodeRequests, EncodeRequests) on up to
// eight headers at once. Oracles: the batch decodes every whole header the
// input holds exactly as DecodeRequest does one at a time, stops at the
// first that fails with that header's error, and reports how many it did;
// the decoded headers, encoded as a batch, are each header encoded alone.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>
#include <string>

#include "oracle.h"
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
  LMC_ORACLE(done <= count, "the batch decodes at most its " + std::to_string(count) + " headers; it reported " +
                                std::to_string(done));
  std::array<RequestView, kBatchMax> views{};
  for (std::size_t i = 0; i < count; ++i) {
    RequestHeader one;
    // The field-by-field reference, not the key-scan kernel the batch uses.
    const WireError ei = detail::DecodeRequestFields(batch.subspan(i * kRequestHeaderBytes, kRequestHeaderBytes), &one);
    LMC_ORACLE(i >= done || (ei == WireError::kOk && one == got[i]),
               "header " + std::to_string(i) + " of the batch is the reference's decoding; the reference says: " +
                   std::string(WireErrorMessage(ei)) + (ei == WireError::kOk ? ", with other fields" : ""));
    // Stops at the first error, with its error.
    LMC_ORACLE(i != done || ei == e, "the batch stops at header " + std::to_string(i) +
                                         " with the reference's error (" + std::string(WireErrorMessage(ei)) +
                                         "); it said: " + std::string(WireErrorMessage(e)));
    if (i >= done) break;
    views[i].command = one.command;
    views[i].length = one.length;
    views[i].fmt = one.fmt;
    views[i].dtype = one.dtype;
    views[i].location = one.location;
    views[i].shape = one.shape;
    views[i].key = got[i].key.view();
  }
  LMC_ORACLE((e == WireError::kOk) == (done == count),
             "the batch succeeds exactly when it decodes all " + std::to_string(count) + " headers; it decoded " +
                 std::to_string(done) + " and said: " + std::string(WireErrorMessage(e)));
  // The decoded ones, encoded as a batch, are each header encoded alone.
  std::array<std::byte, kBatchMax * kRequestHeaderBytes> out{};
  std::size_t encoded = 0;
  LMC_ORACLE(
      EncodeRequests(std::span(views).first(done), out, &encoded) == WireError::kOk && encoded == done,
      "the decoded headers encode as a batch (" + std::to_string(done) + "); it encoded " + std::to_string(encoded));
  for (std::size_t i = 0; i < done; ++i) {
    std::array<std::byte, kRequestHeaderBytes> one{};
    detail::EncodeRequestFields(got[i], one);  // the reference encoder
    LMC_ORACLE(std::equal(one.begin(), one.end(), out.begin() + static_cast<std::ptrdiff_t>(i * kRequestHeaderBytes)),
               "header " + std::to_string(i) + " of the encoded batch is the reference's encoding; it differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CheckBatch(std::as_bytes(std::span(data, size)));
  return 0;
}
