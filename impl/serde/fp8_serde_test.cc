#include "serde/fp8_serde.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/testing.h"
#include "serde/registry.h"

namespace lmc::serde {
namespace {

// A random layout of 1-3 groups of bf16/fp16/fp32, small shapes.
Layout RandomLayout() {
  Layout layout;
  const int groups = *rc::gen::inRange(1, 4);
  for (int g = 0; g < groups; ++g) {
    Group group;
    group.dtype = *rc::gen::element(DType::kBFloat16, DType::kFloat16, DType::kFloat32);
    const int dims = *rc::gen::inRange(1, 5);
    for (int d = 0; d < dims; ++d) group.shape.push_back(*rc::gen::inRange<std::int64_t>(0, 7));
    layout.groups.push_back(group);
  }
  return layout;
}

// Element i of the source, as float (the value the cast sees).
float Element(const Layout& layout, std::span<const std::byte> bytes, std::size_t group, std::size_t offset) {
  switch (layout.groups[group].dtype) {
    case DType::kBFloat16: {
      std::uint16_t b;
      std::memcpy(&b, bytes.data() + offset, 2);
      return BFloat16ToFloat(b);
    }
    case DType::kFloat16: {
      std::uint16_t b;
      std::memcpy(&b, bytes.data() + offset, 2);
      return HalfToFloat(b);
    }
    default: {
      float f;
      std::memcpy(&f, bytes.data() + offset, 4);
      return f;
    }
  }
}

RC_GTEST_PROP(Fp8SerdeProp, RoundTripIsTheCastAndWithinTheFormatsBound, ()) {
  const Layout layout = RandomLayout();
  const Fp8Format format = *rc::gen::element(Fp8Format::kE4M3FN, Fp8Format::kE5M2);
  const Fp8Serde serde(format);
  const std::size_t bytes = static_cast<std::size_t>(*LayoutBytes(layout));
  std::vector<std::byte> src(bytes);
  for (auto& b : src) b = static_cast<std::byte>(*rc::gen::arbitrary<std::uint8_t>());
  SerdeError e = SerdeError::kOk;
  const std::uint64_t estimate = serde.EstimateSerializedSize(layout, &e);
  RC_ASSERT(e == SerdeError::kOk);
  std::vector<std::byte> blob(estimate);
  std::size_t written = 0;
  RC_ASSERT(serde.Serialize(layout, src, blob, nullptr, &written) == SerdeError::kOk);
  RC_ASSERT(written <= estimate);  // the estimate is a true upper bound (for fp8, exact)
  std::vector<std::byte> back(bytes);
  RC_ASSERT(serde.Deserialize(std::span(blob).first(written), layout, back, nullptr) == SerdeError::kOk);
  const float max_finite = format == Fp8Format::kE4M3FN ? 448.0f : 57344.0f;
  const float rel = format == Fp8Format::kE4M3FN ? 1.0f / 16 : 1.0f / 8;  // half an ulp
  const float abs_floor = format == Fp8Format::kE4M3FN ? std::ldexp(1.0f, -10) : std::ldexp(1.0f, -17);
  std::size_t offset = 0;
  for (std::size_t g = 0; g < layout.groups.size(); ++g) {
    const std::size_t width = DTypeBytes(layout.groups[g].dtype);
    for (std::uint64_t i = 0; i < *NumElements(layout.groups[g].shape); ++i, offset += width) {
      const float x = Element(layout, src, g, offset);
      const float y = Element(layout, back, g, offset);
      // Exactly the cast then its exact decoding.
      const float want = Fp8ToFloat(FloatToFp8(x, format), format);
      if (std::isnan(want)) {
        RC_ASSERT(std::isnan(y));
        continue;
      }
      RC_ASSERT(std::memcmp(&want, &y, 4) == 0 || (want == 0 && y == 0));
      if (std::isfinite(x) && std::fabs(x) <= max_finite) {
        RC_ASSERT(std::fabs(y - x) <= std::max(rel * std::fabs(x), abs_floor));
      }
    }
  }
}

TEST(Fp8Serde, ExactEstimateAndLmcacheSizes) {
  const Fp8Serde serde(Fp8Format::kE4M3FN);
  SerdeError e;
  // serde.md §3.4: [2,4,256,128] -> 262144; multi-group [4,8] + [16] -> 48.
  EXPECT_EQ(serde.EstimateSerializedSize({{{{2, 4, 256, 128}, DType::kBFloat16}}}, &e), 262144u);
  EXPECT_EQ(serde.EstimateSerializedSize({{{{4, 8}, DType::kFloat16}, {{16}, DType::kFloat32}}}, &e), 48u);
  EXPECT_EQ(serde.EstimateSerializedSize({{{{4}, DType::kUInt8}}}, &e), 0u);
  EXPECT_EQ(e, SerdeError::kBadLayout);
  EXPECT_EQ(serde.EstimateSerializedSize({{{{-1}, DType::kFloat32}}}, &e), 0u);
  EXPECT_EQ(e, SerdeError::kBadLayout);
  EXPECT_EQ(serde.EstimateSerializedSize({{{{1 << 30, 1 << 30, 1 << 30}, DType::kFloat32}}}, &e), 0u);
  EXPECT_EQ(e, SerdeError::kBadLayout);  // overflows: refused, never wrapped
}

TEST(Fp8Serde, RefusesShortBuffersAndBlobs) {
  const Fp8Serde serde(Fp8Format::kE5M2);
  const Layout layout{{{{8}, DType::kBFloat16}}};
  std::vector<std::byte> src(16), blob(8), small(7), dst(16);
  std::size_t written = 99;
  EXPECT_EQ(serde.Serialize(layout, std::span(src).first(15), blob, nullptr, &written), SerdeError::kSizeMismatch);
  EXPECT_EQ(serde.Serialize(layout, src, small, nullptr, &written), SerdeError::kTooSmall);
  EXPECT_EQ(written, 0u);
  EXPECT_EQ(serde.Deserialize(small, layout, dst, nullptr), SerdeError::kCorrupt);
  EXPECT_EQ(serde.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
  EXPECT_EQ(written, 8u);
  std::vector<std::byte> longer(blob);
  longer.resize(20);  // LMCache loads a longer blob, using its first numel bytes
  EXPECT_EQ(serde.Deserialize(longer, layout, dst, nullptr), SerdeError::kOk);
}

TEST(SerdeRegistry, ConfigRules) {
  const SerdeRegistry r = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  std::string error;
  auto s = r.CreateFromText(R"({"type":"fp8","fp8_dtype":"float8_e5m2","max_workers":2})", &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->max_workers, 2u);
  EXPECT_EQ(dynamic_cast<const Fp8Serde&>(*s->serializer).format(), Fp8Format::kE5M2);
  EXPECT_TRUE(r.CreateFromText(R"({"type":"fp8"})", &error));  // e4m3fn by default

  EXPECT_FALSE(r.CreateFromText(R"({"type":"fp8","fp8_dtipe":"float8_e5m2"})", &error));
  EXPECT_NE(error.find("unknown key 'fp8_dtipe'"), std::string::npos) << error;
  EXPECT_FALSE(r.CreateFromText(R"({"type":"fp8","fp8_dtype":"float16"})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"fp8","max_workers":0})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"zfp"})", &error));
  EXPECT_NE(error.find("registered: aesgcm, checksum, encrypt, fp8, lz4, zstd"), std::string::npos) << error;
  EXPECT_FALSE(r.CreateFromText(R"({"fp8_dtype":"float8_e5m2"})", &error));
  EXPECT_FALSE(r.CreateFromText(R"(["fp8"])", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"fp8",)", &error));
  EXPECT_EQ(error, "serde config is not valid JSON");
}

TEST(SerdeRegistry, DuplicateNamesAreRefused) {
  SerdeRegistry r = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  std::string error;
  EXPECT_FALSE(r.Register(
      "fp8", [](const nlohmann::json&, std::string*) { return std::optional<SerdeInstance>(); }, &error));
  EXPECT_NE(error.find("already registered"), std::string::npos);
}

}  // namespace
}  // namespace lmc::serde
