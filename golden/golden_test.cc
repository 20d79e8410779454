// Reads golden/fixtures/manifest.json and checks every case in both
// directions through the same code lmcache-wire uses: decoding the fixture
// bytes gives the manifest's object (every field, in order), encoding the
// object gives the fixture's bytes (or its canonical bytes), every invalid
// input is rejected, and every sha256 matches.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "base/version.h"
#include "wirejson/wire_json.h"

namespace lmc::wirejson {
namespace {

const std::string kFixtures = std::string(LMC_SOURCE_DIR) + "/golden/fixtures/";

std::string ReadFile(const std::string& rel) {
  std::ifstream f(kFixtures + rel, std::ios::binary);
  EXPECT_TRUE(f.good()) << rel;
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return ToHex(std::as_bytes(std::span(md)));
}

const Json& Manifest() {
  static const Json m = Json::parse(ReadFile("manifest.json"), nullptr, false);
  return m;
}

// The line lmcache-wire decodes for a fixture: hex, or the key text itself.
std::string DecodeInput(Kind kind, const std::string& bytes) {
  return kind == Kind::kKey ? bytes : ToHex(std::as_bytes(std::span(bytes)));
}

TEST(Golden, ManifestIsWellFormed) {
  const Json& m = Manifest();
  ASSERT_FALSE(m.is_discarded());
  EXPECT_EQ(m["schema"], "lmcache-kit/golden-manifest/v1");
  std::size_t count = 0;
  std::set<std::string> ids;
  for (const Json& g : m["testGroups"]) {
    for (const Json& t : g["tests"]) {
      ++count;
      EXPECT_TRUE(ids.insert(t["id"].get<std::string>()).second) << t["id"];
      for (const Json& f : t["flags"]) EXPECT_TRUE(m["notes"].contains(f.get<std::string>())) << f;
    }
  }
  EXPECT_EQ(count, m["numberOfTests"].get<std::size_t>());
  EXPECT_GE(count, 100u);
}

// The manifest (generate.py's PROTOCOL), every tool's --version and the
// conformance reports name the same protocol revision.
TEST(Golden, ManifestProtocolIsTheKits) {
  const Json& m = Manifest();
  ASSERT_FALSE(m.is_discarded());
  EXPECT_EQ(m.value("protocol", ""), std::string(base::kProtocolRevision));
}

TEST(Golden, EveryCaseInBothDirections) {
  std::size_t checked = 0;
  for (const Json& g : Manifest()["testGroups"]) {
    for (const Json& t : g["tests"]) {
      const std::string id = t["id"];
      SCOPED_TRACE(id);
      const std::optional<Kind> kind = ParseKind(t["kind"].get<std::string>());
      ASSERT_TRUE(kind.has_value());
      std::string out;
      if (t["result"] == "valid") {
        const std::string bytes = ReadFile(t["file"]);
        EXPECT_EQ(Sha256Hex(bytes), t["sha256"]);
        ASSERT_TRUE(DecodeLine(*kind, DecodeInput(*kind, bytes), &out)) << out;
        EXPECT_EQ(Json::parse(out), t["object"]);
        std::string want = bytes;
        if (t.contains("canonicalFile")) {
          want = ReadFile(t["canonicalFile"]);
          EXPECT_EQ(Sha256Hex(want), t["canonicalSha256"]);
        }
        ASSERT_TRUE(EncodeLine(*kind, t["object"].dump(), &out)) << out;
        EXPECT_EQ(out, DecodeInput(*kind, want));
      } else {
        ASSERT_EQ(t["result"], "invalid");
        if (t["direction"] == "decode") {
          const std::string bytes = ReadFile(t["file"]);
          EXPECT_EQ(Sha256Hex(bytes), t["sha256"]);
          EXPECT_FALSE(DecodeLine(*kind, DecodeInput(*kind, bytes), &out)) << out;
        } else {
          EXPECT_FALSE(EncodeLine(*kind, t["object"].dump(), &out)) << out;
        }
        EXPECT_EQ(out.rfind("error: ", 0), 0u);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, Manifest()["numberOfTests"].get<std::size_t>());
}

}  // namespace
}  // namespace lmc::wirejson
