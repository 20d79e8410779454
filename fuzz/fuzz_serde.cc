// Serde decoders on arbitrary blobs: the first byte picks the serde and the
// destination layout; the rest is the blob. Oracles: a decoder that
// succeeds must give what the blob's own serde would round-trip (a lossless
// or checksum blob that decodes re-encodes to an equal blob up to the
// codec's choices, so we check the decoded bytes survive a round trip); a
// failure leaves nothing stored anywhere. ASan/UBSan catch any read out of
// bounds; nothing may throw or abort.
#include <cstdlib>
#include <span>
#include <vector>

#include "serde/checksum_serde.h"
#include "serde/fp8_serde.h"
#include "serde/lossless_serde.h"

using namespace lmc::serde;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t pick = data[0];
  const auto blob = std::as_bytes(std::span(data + 1, size - 1));
  // Small layouts, 2-byte elements (so byte planes apply), 0..255 elements.
  const Layout layout{{{{static_cast<std::int64_t>(pick >> 3) * 8}, (pick & 1) ? DType::kBFloat16 : DType::kFloat16}}};
  std::vector<std::byte> dst(static_cast<std::size_t>(*LayoutBytes(layout)));
  ObjectKey key;
  key.chunk_hash = {std::byte{1}, std::byte{2}};
  const std::uint8_t which = (pick >> 1) & 3;
  if (which == 0) {
    const Fp8Serde fp8((pick & 2) ? Fp8Format::kE5M2 : Fp8Format::kE4M3FN);
    (void)fp8.Deserialize(blob, layout, dst, nullptr);
    return 0;
  }
  if (which == 3) {
    const ChecksumSerde checksum;
    if (checksum.Deserialize(blob, layout, dst, &key) == SerdeError::kOk) {
      std::vector<std::byte> again(dst.size() + kChecksumHeaderBytes);
      std::size_t written = 0;
      if (checksum.Serialize(layout, dst, again, &key, &written) != SerdeError::kOk) std::abort();
      // The blob's frame and payload must be exactly what we would write.
      if (!std::equal(again.begin(), again.end(), blob.begin())) std::abort();
    }
    return 0;
  }
  const LosslessSerde serde({which == 1 ? Codec::kZstd : Codec::kLz4, 1, (pick & 0x80) != 0});
  if (serde.Deserialize(blob, layout, dst, nullptr) == SerdeError::kOk) {
    // What decoded must round-trip through our own serialisation.
    SerdeError e;
    std::vector<std::byte> again(serde.EstimateSerializedSize(layout, &e)), back(dst.size());
    std::size_t written = 0;
    if (serde.Serialize(layout, dst, again, nullptr, &written) != SerdeError::kOk) std::abort();
    if (serde.Deserialize(std::span(again).first(written), layout, back, nullptr) != SerdeError::kOk) std::abort();
    if (back != dst) std::abort();
  }
  return 0;
}
