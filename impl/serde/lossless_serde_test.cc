#include "serde/lossless_serde.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <xxhash.h>

#include <cstring>

#include "runtime/testing.h"
#include "serde/checksum_serde.h"
#include "serde/registry.h"

namespace lmc::serde {
namespace {

// KV-like bytes: small-magnitude bf16-ish values (repetitive high bytes).
std::vector<std::byte> KvLikeBytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<std::byte>(i % 2 == 1 ? 0x3C + ((x >> 29) & 3) : (x >> 24));
  }
  return v;
}

Layout RandomLayout(bool two_byte_only) {
  Layout layout;
  const int groups = *rc::gen::inRange(1, 4);
  for (int g = 0; g < groups; ++g) {
    Group group;
    group.dtype = two_byte_only ? *rc::gen::element(DType::kBFloat16, DType::kFloat16)
                                : *rc::gen::element(DType::kBFloat16, DType::kFloat32, DType::kUInt8, DType::kInt64);
    const int dims = *rc::gen::inRange(1, 4);
    for (int d = 0; d < dims; ++d) group.shape.push_back(*rc::gen::inRange<std::int64_t>(0, 40));
    layout.groups.push_back(group);
  }
  return layout;
}

RC_GTEST_PROP(LosslessProp, RoundTripsAreExactAndWithinTheEstimate, ()) {
  LosslessOptions o;
  o.codec = *rc::gen::element(Codec::kZstd, Codec::kLz4);
  o.byte_planes = *rc::gen::arbitrary<bool>();
  o.level = o.codec == Codec::kZstd ? *rc::gen::inRange(1, 10) : *rc::gen::inRange(0, 10);
  const LosslessSerde serde(o);
  const Layout layout = RandomLayout(o.byte_planes);
  const auto src = KvLikeBytes(static_cast<std::size_t>(*LayoutBytes(layout)), *rc::gen::arbitrary<std::uint32_t>());
  SerdeError e;
  const std::uint64_t estimate = serde.EstimateSerializedSize(layout, &e);
  RC_ASSERT(e == SerdeError::kOk);
  std::vector<std::byte> blob(estimate);
  std::size_t written = 0;
  RC_ASSERT(serde.Serialize(layout, src, blob, nullptr, &written) == SerdeError::kOk);
  RC_ASSERT(written <= estimate);
  std::vector<std::byte> back(src.size());
  RC_ASSERT(serde.Deserialize(std::span(blob).first(written), layout, back, nullptr) == SerdeError::kOk);
  RC_ASSERT(back == src);
}

class LosslessCorruption : public testing::TestWithParam<LosslessOptions> {};

TEST_P(LosslessCorruption, EveryFlippedByteAndEveryTruncationIsDetected) {
  const LosslessSerde serde(GetParam());
  const Layout layout{{{{16, 64}, DType::kBFloat16}}};
  const auto src = KvLikeBytes(2048, 7);
  SerdeError e;
  std::vector<std::byte> blob(serde.EstimateSerializedSize(layout, &e));
  std::size_t written = 0;
  ASSERT_EQ(serde.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
  blob.resize(written);
  std::vector<std::byte> back(src.size());
  for (std::size_t i = 0; i < blob.size(); ++i) {
    for (const std::byte flip : {std::byte{0x01}, std::byte{0x80}}) {
      auto bad = blob;
      bad[i] ^= flip;
      const SerdeError got = serde.Deserialize(bad, layout, back, nullptr);
      // Either refused, or (a flip the codec ignores, e.g. in an unused bit)
      // the exact original: wrong data never comes back as success.
      if (got == SerdeError::kOk) {
        EXPECT_EQ(back, src) << "byte " << i;
      }
    }
  }
  for (std::size_t n = 0; n < blob.size(); ++n) {
    EXPECT_NE(serde.Deserialize(std::span(blob).first(n), layout, back, nullptr), SerdeError::kOk) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, LosslessCorruption,
                         testing::Values(LosslessOptions{Codec::kZstd, 3, false},
                                         LosslessOptions{Codec::kZstd, 3, true}, LosslessOptions{Codec::kLz4, 0, false},
                                         LosslessOptions{Codec::kLz4, 9, true}));

TEST(Lossless, ObjectsOfManyChunksRoundTripAndEveryChunkIsChecked) {
  // 2.5 chunks: two full chunks and a shorter last one.
  const std::size_t n = (std::size_t{5} << kLosslessChunkLog2) / 2;
  const Layout layout{{{{static_cast<std::int64_t>(n / 2)}, DType::kBFloat16}}};
  const auto src = KvLikeBytes(n, 9);
  for (const LosslessOptions o : {LosslessOptions{Codec::kZstd, 1, true}, LosslessOptions{Codec::kLz4, 0, false},
                                  LosslessOptions{Codec::kLz4, 9, true}, LosslessOptions{Codec::kZstd, 3, false}}) {
    const LosslessSerde serde(o);
    SerdeError e;
    std::vector<std::byte> blob(serde.EstimateSerializedSize(layout, &e)), back(n);
    std::size_t written = 0;
    ASSERT_EQ(serde.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
    blob.resize(written);
    EXPECT_EQ(static_cast<unsigned>(blob[7]), kLosslessChunkLog2);
    ASSERT_EQ(serde.Deserialize(blob, layout, back, nullptr), SerdeError::kOk);
    EXPECT_EQ(back, src);
    // Into a destination at an odd address (streamed stores need alignment).
    std::vector<std::byte> shifted(n + 1);
    ASSERT_EQ(serde.Deserialize(blob, layout, std::span(shifted).subspan(1), nullptr), SerdeError::kOk);
    EXPECT_TRUE(std::equal(src.begin(), src.end(), shifted.begin() + 1));
    // A flipped byte in the last chunk, or a chunk dropped from the end, is
    // caught though the chunks before it decode.
    std::vector<std::byte> bad = blob;
    bad[bad.size() - 3] ^= std::byte{0x40};
    EXPECT_EQ(serde.Deserialize(bad, layout, back, nullptr), SerdeError::kCorrupt);
    // A hostile chunk size in the header is refused, not allocated.
    bad = blob;
    bad[7] = std::byte{40};
    EXPECT_EQ(serde.Deserialize(bad, layout, back, nullptr), SerdeError::kCorrupt);
    bad = blob;
    bad[7] = std::byte{static_cast<std::uint8_t>(kLosslessChunkLog2 + 1)};  // chunks read at the wrong size
    EXPECT_EQ(serde.Deserialize(bad, layout, back, nullptr), SerdeError::kCorrupt);
  }
}

TEST(Lossless, AnotherConfigurationIsDetectedNotDecoded) {
  const Layout layout{{{{256}, DType::kFloat16}}};
  const auto src = KvLikeBytes(512, 3);
  const LosslessSerde zstd({Codec::kZstd, 3, false}), zstd_planes({Codec::kZstd, 3, true}),
      lz4({Codec::kLz4, 0, false});
  SerdeError e;
  std::vector<std::byte> blob(zstd.EstimateSerializedSize(layout, &e)), back(512);
  std::size_t written = 0;
  ASSERT_EQ(zstd.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
  blob.resize(written);
  EXPECT_EQ(lz4.Deserialize(blob, layout, back, nullptr), SerdeError::kWrongSerde);
  EXPECT_EQ(zstd_planes.Deserialize(blob, layout, back, nullptr), SerdeError::kWrongSerde);
  // A destination of another size (a different layout) is refused too.
  std::vector<std::byte> smaller(256);
  EXPECT_EQ(zstd.Deserialize(blob, {{{{64}, DType::kFloat32}}}, smaller, nullptr), SerdeError::kCorrupt);
  EXPECT_EQ(zstd.Deserialize(blob, layout, back, nullptr), SerdeError::kOk);
  // Byte planes need 2-byte elements, on both sides.
  EXPECT_EQ(zstd_planes.EstimateSerializedSize({{{{4}, DType::kFloat32}}}, &e), 0u);
  EXPECT_EQ(e, SerdeError::kBadLayout);
  std::vector<std::byte> odd(3);
  EXPECT_EQ(zstd_planes.Deserialize(blob, {{{{3}, DType::kUInt8}}}, odd, nullptr), SerdeError::kBadLayout);
}

TEST(Checksum, LmcacheLayout) {
  const ChecksumSerde serde;
  ObjectKey key;
  for (int i = 0; i < 32; ++i) key.chunk_hash.push_back(static_cast<std::byte>(i + 1));
  const Layout layout{{{{5}, DType::kUInt8}}};
  const std::vector<std::byte> src = {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'}, std::byte{'o'}};
  SerdeError e;
  EXPECT_EQ(serde.EstimateSerializedSize(layout, &e), 22u);
  std::vector<std::byte> blob(22);
  std::size_t written = 0;
  ASSERT_EQ(serde.Serialize(layout, src, blob, &key, &written), SerdeError::kOk);
  EXPECT_EQ(written, 22u);
  EXPECT_EQ(blob[0], std::byte{1});
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(blob[1 + i], static_cast<std::byte>(i + 1));
  const std::uint64_t h = XXH3_64bits(src.data(), src.size());
  for (std::size_t i = 0; i < 8; ++i)
    EXPECT_EQ(blob[9 + i], static_cast<std::byte>(h >> (56 - 8 * i))) << i;  // big-endian
  EXPECT_EQ(std::memcmp(blob.data() + 17, src.data(), 5), 0);

  std::vector<std::byte> back(5);
  EXPECT_EQ(serde.Deserialize(blob, layout, back, &key), SerdeError::kOk);
  EXPECT_EQ(back, src);
  auto flipped = blob;
  flipped.back() ^= std::byte{1};  // LMCache's test: flip the last byte
  EXPECT_EQ(serde.Deserialize(flipped, layout, back, &key), SerdeError::kCorrupt);
  ObjectKey other = key;
  other.chunk_hash[3] = std::byte{0xEE};
  EXPECT_EQ(serde.Deserialize(blob, layout, back, &other), SerdeError::kWrongKey);
  auto version = blob;
  version[0] = std::byte{2};
  EXPECT_EQ(serde.Deserialize(version, layout, back, &key), SerdeError::kWrongSerde);
  EXPECT_EQ(serde.Deserialize(std::span(blob).first(21), layout, back, &key), SerdeError::kCorrupt);
  // A short chunk hash is zero-padded in the fingerprint.
  ObjectKey shorter;
  shorter.chunk_hash = {std::byte{9}, std::byte{8}};
  ASSERT_EQ(serde.Serialize(layout, src, blob, &shorter, &written), SerdeError::kOk);
  EXPECT_EQ(blob[1], std::byte{9});
  EXPECT_EQ(blob[3], std::byte{0});
}

TEST(SerdeRegistryLossless, Configs) {
  const SerdeRegistry r = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  std::string error;
  auto z = r.CreateFromText(R"({"type":"zstd","level":5,"byte_planes":true})", &error);
  ASSERT_TRUE(z) << error;
  EXPECT_EQ(dynamic_cast<const LosslessSerde&>(*z->serializer).options().level, 5);
  EXPECT_TRUE(r.CreateFromText(R"({"type":"lz4","level":9})", &error)) << error;
  EXPECT_TRUE(r.CreateFromText(R"({"type":"checksum","max_workers":2})", &error)) << error;
  EXPECT_FALSE(r.CreateFromText(R"({"type":"lz4","level":13})", &error));
  // 2^64 - 1 is stored unsigned by nlohmann; it must not wrap to -1.
  EXPECT_FALSE(r.CreateFromText(R"({"type":"zstd","level":18446744073709551615})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"zstd","max_workers":18446744073709551615})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"zstd","byte_planes":"yes"})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"checksum","level":1})", &error));
  EXPECT_NE(error.find("unknown key 'level'"), std::string::npos) << error;
}

}  // namespace
}  // namespace lmc::serde
