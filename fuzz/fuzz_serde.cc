// Serde decoders on arbitrary blobs: the first byte picks the serde (fp8
// e4m3fn/e5m2, zstd, lz4, either with byte planes, checksum, aesgcm) and the
// destination layout; the rest is the blob. Oracles: a decoder that
// succeeds must give what the blob's own serde would round-trip (a lossless
// or checksum blob that decodes re-encodes to an equal blob up to the
// codec's choices, so we check the decoded bytes survive a round trip); a
// failure leaves nothing stored anywhere. ASan/UBSan catch any read out of
// bounds; nothing may throw or abort.
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "oracle.h"
#include "serde/aesgcm_serde.h"
#include "serde/checksum_serde.h"
#include "serde/fp8_serde.h"
#include "serde/lossless_serde.h"

using namespace lmc::serde;

namespace {

// Deserialise; on success the decoded bytes must survive our own round trip.
void CheckRoundTrip(const Serializer& ser, const Deserializer& de, std::span<const std::byte> blob,
                    const Layout& layout, std::vector<std::byte>& dst, const ObjectKey* key) {
  if (de.Deserialize(blob, layout, dst, key) != SerdeError::kOk) return;
  SerdeError e;
  std::vector<std::byte> again(ser.EstimateSerializedSize(layout, &e)), back(dst.size());
  std::size_t written = 0;
  const SerdeError se = ser.Serialize(layout, dst, again, key, &written);
  LMC_ORACLE(se == SerdeError::kOk, "decoded bytes serialise again; it failed: " + std::string(SerdeErrorName(se)));
  const SerdeError de2 = de.Deserialize(std::span(again).first(written), layout, back, key);
  LMC_ORACLE(de2 == SerdeError::kOk, "our own blob deserialises; it failed: " + std::string(SerdeErrorName(de2)));
  LMC_ORACLE(back == dst, "the round trip gives the decoded " + std::to_string(dst.size()) + " bytes back; it differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t pick = data[0];
  const auto blob = std::as_bytes(std::span(data + 1, size - 1));
  // Small layouts, 2-byte elements (so byte planes apply), 0..240 elements.
  const Layout layout{{{{static_cast<std::int64_t>(pick >> 4) * 16}, (pick & 1) ? DType::kBFloat16 : DType::kFloat16}}};
  std::vector<std::byte> dst(static_cast<std::size_t>(*LayoutBytes(layout)));
  ObjectKey key;
  key.chunk_hash = {std::byte{1}, std::byte{2}};
  switch ((pick >> 1) & 7) {
    case 0:
    case 1: {
      const Fp8Serde fp8((pick & 2) ? Fp8Format::kE5M2 : Fp8Format::kE4M3FN);
      (void)fp8.Deserialize(blob, layout, dst, nullptr);
      return 0;
    }
    case 6: {
      const ChecksumSerde checksum;
      if (checksum.Deserialize(blob, layout, dst, &key) == SerdeError::kOk) {
        std::vector<std::byte> again(dst.size() + kChecksumHeaderBytes);
        std::size_t written = 0;
        const SerdeError se = checksum.Serialize(layout, dst, again, &key, &written);
        LMC_ORACLE(se == SerdeError::kOk,
                   "a verified payload serialises; it failed: " + std::string(SerdeErrorName(se)));
        // The blob's frame and payload must be exactly what we would write.
        LMC_ORACLE(std::equal(again.begin(), again.end(), blob.begin()),
                   "a checksum blob that verifies is exactly what we would write; it differs");
      }
      return 0;
    }
    case 7: {
      // A forged blob must fail authentication (a 2^-128 chance aside):
      // decrypting it at all would mean the tag check was skipped.
      static const AesGcmSerde aes(std::vector<std::byte>(32, std::byte{7}), 256, kAesGcmInfoPrefix,
                                   {});  // decrypts only
      LMC_ORACLE(aes.Deserialize(blob, layout, dst, &key) != SerdeError::kOk,
                 "a forged aesgcm blob fails authentication; it decrypted");
      return 0;
    }
    default: {
      const int which = (pick >> 1) & 7;  // 2..5
      const LosslessSerde serde({(which & 1) ? Codec::kLz4 : Codec::kZstd, 1, which >= 4});
      CheckRoundTrip(serde, serde, blob, layout, dst, nullptr);
      // The byte planes on their own: joining the planes of any even-length
      // bytes gives them back.
      const std::span<const std::byte> even = blob.first(blob.size() & ~std::size_t{1});
      std::vector<std::byte> planes(even.size()), joined(even.size());
      SplitBytePlanes(even, planes);
      JoinBytePlanes(planes, joined);
      LMC_ORACLE(std::equal(joined.begin(), joined.end(), even.begin(), even.end()),
                 "joining the byte planes of " + std::to_string(even.size()) + " bytes gives them back; it did not");
      return 0;
    }
  }
}
