// LMCache's own serde blobs (golden/reference-vectors/serde-sample.json,
// written by LMCache's aesgcm, encrypt and checksum serdes with seeded IVs):
// the kit reads every blob back to its input, writes the same blob when
// given the same IV, and writes checksum blobs outright. The serdes are built
// through the registry from the same config LMCache was given, so a type
// name mapped to the wrong key derivation fails here.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/testing.h"
#include "serde/aesgcm_serde.h"
#include "serde/registry.h"

namespace lmc::serde {
namespace {

std::vector<std::byte> FromHex(const std::string& hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::byte> out;
  if (hex.size() % 2 != 0) throw std::invalid_argument("odd hex length");
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument("not hex: " + hex.substr(i, 2));
    out.push_back(static_cast<std::byte>(hi * 16 + lo));
  }
  return out;
}

Layout LayoutOf(const nlohmann::json& groups) {
  Layout layout;
  for (const auto& g : groups) {
    const auto dtype = ParseDType(g.at("dtype").get<std::string>());
    if (!dtype) throw std::invalid_argument("dtype " + g.at("dtype").dump());
    layout.groups.push_back({g.at("shape").get<std::vector<std::int64_t>>(), *dtype});
  }
  return layout;
}

// One case of the file, its fields decoded.
struct Case {
  std::size_t index;
  nlohmann::json json;
  std::string type;
  Layout layout;
  std::vector<std::byte> input;
  std::vector<std::byte> blob;
  ObjectKey key;
};

std::vector<Case> LoadCases() {
  std::ifstream f(LMC_SOURCE_DIR "/golden/reference-vectors/serde-sample.json");
  if (!f) return {};
  const auto doc = nlohmann::json::parse(f);
  std::vector<Case> cases;
  for (std::size_t i = 0; i < doc.at("cases").size(); ++i) {
    const auto& j = doc["cases"][i];
    Case c{i,
           j,
           j.at("serde").at("type").get<std::string>(),
           LayoutOf(j.at("groups")),
           FromHex(j.at("input_hex").get<std::string>()),
           FromHex(j.at("blob_hex").get<std::string>()),
           {}};
    c.key.chunk_hash = FromHex(j.at("chunk_hash_hex").get<std::string>());
    c.key.cache_salt = j.at("cache_salt").get<std::string>();
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string Describe(const Case& c) {
  return "case " + std::to_string(c.index) + " " + c.json.at("serde").dump() +
         " cache_salt=" + c.json.at("cache_salt").dump();
}

// The registry config LMCache was given, with the master key in a file.
std::string ConfigFor(const nlohmann::json& serde, std::size_t index) {
  nlohmann::json config = {{"type", serde.at("type")}};
  if (serde.contains("aes_bits")) config["aes_bits"] = serde["aes_bits"];
  if (serde.contains("master_key_hex")) {
    const std::string path = testing::TempDir() + "/lmc_serde_vector_key_" + std::to_string(index);
    const auto key = FromHex(serde["master_key_hex"].get<std::string>());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(key.data()), static_cast<std::streamsize>(key.size()));
    config["master_key_path"] = path;
    config["key_provider"] = "hkdf";
  }
  return config.dump();
}

TEST(SerdeVectors, TheRepositoryHasLMCachesCases) {
  const auto cases = LoadCases();
  ASSERT_EQ(cases.size(), 48u) << "golden/reference-vectors/serde-sample.json is missing or not the shared set";
  std::map<std::string, int> per_type;
  for (const auto& c : cases) ++per_type[c.type];
  EXPECT_GT(per_type["aesgcm"], 0);
  EXPECT_GT(per_type["encrypt"], 0);
  EXPECT_GT(per_type["checksum"], 0);
}

TEST(SerdeVectors, EveryBlobReadsBackToItsInput) {
  const SerdeRegistry registry = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  for (const auto& c : LoadCases()) {
    SCOPED_TRACE(Describe(c));
    std::string error;
    const auto serde = registry.CreateFromText(ConfigFor(c.json.at("serde"), c.index), &error);
    ASSERT_TRUE(serde) << error;
    SerdeError e;
    EXPECT_EQ(serde->serializer->EstimateSerializedSize(c.layout, &e), c.json.at("estimate").get<std::uint64_t>());
    EXPECT_EQ(e, SerdeError::kOk);
    std::vector<std::byte> back(c.input.size());
    ASSERT_EQ(serde->deserializer->Deserialize(c.blob, c.layout, back, &c.key), SerdeError::kOk);
    EXPECT_EQ(back, c.input);
  }
}

TEST(SerdeVectors, TheSameIvWritesTheSameBlob) {
  const SerdeRegistry registry = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  int written_cases = 0;
  for (const auto& c : LoadCases()) {
    SCOPED_TRACE(Describe(c));
    const auto& config = c.json.at("serde");
    std::shared_ptr<const Serializer> serializer;
    if (c.type == "checksum") {
      // Deterministic: the registry's own serde writes LMCache's bytes.
      std::string error;
      const auto made = registry.CreateFromText(ConfigFor(config, c.index), &error);
      ASSERT_TRUE(made) << error;
      serializer = made->serializer;
    } else {
      // The test seam: the IV LMCache drew, in place of the Env's
      // cryptographic source; the prefix the registry uses for this type.
      const auto prefix = AesGcmInfoPrefix(c.type);
      ASSERT_TRUE(prefix) << c.type;
      ASSERT_GE(c.blob.size(), 13u);
      const std::vector<std::byte> iv(c.blob.begin() + 1, c.blob.begin() + 13);
      serializer =
          std::make_shared<AesGcmSerde>(FromHex(config.at("master_key_hex").get<std::string>()),
                                        config.value("aes_bits", 128), *prefix, [iv](std::span<std::byte> out) {
                                          if (out.size() != iv.size()) return false;
                                          std::copy(iv.begin(), iv.end(), out.begin());
                                          return true;
                                        });
    }
    std::vector<std::byte> out(c.blob.size() + 64);
    std::size_t written = 0;
    ASSERT_EQ(serializer->Serialize(c.layout, c.input, out, &c.key, &written), SerdeError::kOk);
    out.resize(written);
    EXPECT_EQ(out, c.blob);
    ++written_cases;
  }
  EXPECT_EQ(written_cases, 48);
}

}  // namespace
}  // namespace lmc::serde
