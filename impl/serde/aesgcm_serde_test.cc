#include "serde/aesgcm_serde.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "runtime/testing.h"
#include "serde/registry.h"

namespace lmc::serde {
namespace {

std::vector<std::byte> MasterKey() {
  std::vector<std::byte> k(32);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i);
  return k;
}

std::string Hex(const std::vector<unsigned char>& v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned char c : v) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

TEST(AesGcm, HkdfMatchesAnIndependentImplementation) {
  // Expected keys from RFC 5869 HKDF written with Python's hmac/hashlib
  // (which reproduces RFC 5869 test case 3): master key bytes 0..31, no salt,
  // each serde's own info prefix.
  std::vector<unsigned char> key;
  ASSERT_TRUE(AesGcmSerde(MasterKey(), 128, kAesGcmInfoPrefix, {}).DeriveKey("tenant-a", &key));
  EXPECT_EQ(Hex(key), "7eee1026124ce34e8152063c3f5b5039");
  ASSERT_TRUE(AesGcmSerde(MasterKey(), 256, kAesGcmInfoPrefix, {}).DeriveKey("", &key));
  EXPECT_EQ(Hex(key), "f6b3e40f45eef1b66d8858df666638df3f8aeb1a14e1668f93ea687790c61e4d");
  ASSERT_TRUE(AesGcmSerde(MasterKey(), 128, kEncryptInfoPrefix, {}).DeriveKey("tenant-a", &key));
  EXPECT_EQ(Hex(key), "1c516ad8a0aa50b3ab227734829faad2");
  ASSERT_TRUE(AesGcmSerde(MasterKey(), 256, kEncryptInfoPrefix, {}).DeriveKey("", &key));
  EXPECT_EQ(Hex(key), "13e49c8a9d9cefd09893bfb3994ac99a28fb7539827ad64cbd4ddf5c39713452");
}

TEST(AesGcm, EachTypeHasItsOwnPrefix) {
  EXPECT_EQ(AesGcmInfoPrefix("aesgcm"), kAesGcmInfoPrefix);
  EXPECT_EQ(AesGcmInfoPrefix("encrypt"), kEncryptInfoPrefix);
  EXPECT_EQ(AesGcmInfoPrefix("checksum"), std::nullopt);
  EXPECT_EQ(kAesGcmInfoPrefix, "lmcache-l2-aesgcm-v1");
  EXPECT_EQ(kEncryptInfoPrefix, "lmcache-l2-encrypt-v1");
}

TEST(AesGcm, NeitherFormReadsTheOthersBlobs) {
  const auto iv = [](std::span<std::byte> out) { return runtime::TestEnv().CryptoRandom(out); };
  const AesGcmSerde aesgcm(MasterKey(), 128, kAesGcmInfoPrefix, iv);
  const AesGcmSerde encrypt(MasterKey(), 128, kEncryptInfoPrefix, iv);
  const Layout layout{{{{64}, DType::kUInt8}}};
  std::vector<std::byte> src(64, std::byte{7}), blob(64 + kAesGcmOverheadBytes), back(64);
  std::size_t written = 0;
  ASSERT_EQ(aesgcm.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
  EXPECT_EQ(encrypt.Deserialize(blob, layout, back, nullptr), SerdeError::kAuth);
  ASSERT_EQ(encrypt.Serialize(layout, src, blob, nullptr, &written), SerdeError::kOk);
  EXPECT_EQ(aesgcm.Deserialize(blob, layout, back, nullptr), SerdeError::kAuth);
}

TEST(AesGcm, LayoutRoundTripAndTampering) {
  for (const int bits : {128, 256}) {
    const AesGcmSerde serde(MasterKey(), bits, kAesGcmInfoPrefix,
                            [](std::span<std::byte> iv) { return runtime::TestEnv().CryptoRandom(iv); });
    const Layout layout{{{{3, 100}, DType::kUInt8}}};
    std::vector<std::byte> src(300);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 13);
    ObjectKey key;
    key.cache_salt = "tenant-a";
    SerdeError e;
    ASSERT_EQ(serde.EstimateSerializedSize(layout, &e), 329u);  // exact: + version, IV, tag
    std::vector<std::byte> blob(329), again(329);
    std::size_t written = 0;
    ASSERT_EQ(serde.Serialize(layout, src, blob, &key, &written), SerdeError::kOk);
    EXPECT_EQ(written, 329u);
    EXPECT_EQ(blob[0], std::byte{1});
    ASSERT_EQ(serde.Serialize(layout, src, again, &key, &written), SerdeError::kOk);
    EXPECT_NE(blob, again);  // a fresh IV every time
    std::vector<std::byte> back(300);
    ASSERT_EQ(serde.Deserialize(blob, layout, back, &key), SerdeError::kOk);
    EXPECT_EQ(back, src);
    for (const std::size_t at :
         {std::size_t{1}, std::size_t{12}, std::size_t{13}, std::size_t{200}, std::size_t{312}, std::size_t{328}}) {
      auto bad = blob;
      bad[at] ^= std::byte{0x10};
      EXPECT_EQ(serde.Deserialize(bad, layout, back, &key), SerdeError::kAuth) << at;
      EXPECT_EQ(back, std::vector<std::byte>(300)) << "no unauthenticated plaintext is left behind";
    }
    auto version = blob;
    version[0] = std::byte{2};
    EXPECT_EQ(serde.Deserialize(version, layout, back, &key), SerdeError::kWrongSerde);
    ObjectKey other = key;
    other.cache_salt = "tenant-b";
    EXPECT_EQ(serde.Deserialize(blob, layout, back, &other), SerdeError::kAuth);
    EXPECT_EQ(serde.Deserialize(std::span(blob).first(328), layout, back, &key), SerdeError::kCorrupt);
  }
}

TEST(AesGcm, WithoutARandomSourceNothingIsEncrypted) {
  const Layout layout{{{{16}, DType::kUInt8}}};
  std::vector<std::byte> src(16), blob(16 + kAesGcmOverheadBytes);
  std::size_t written = 0;
  EXPECT_EQ(AesGcmSerde(MasterKey(), 128, kAesGcmInfoPrefix, {}).Serialize(layout, src, blob, nullptr, &written),
            SerdeError::kAuth);
  const AesGcmSerde failing(MasterKey(), 128, kAesGcmInfoPrefix, [](std::span<std::byte>) { return false; });
  EXPECT_EQ(failing.Serialize(layout, src, blob, nullptr, &written), SerdeError::kAuth);
  EXPECT_EQ(written, 0u);
}

TEST(AesGcm, RegistryReadsTheMasterKeyFile) {
  const std::string path = testing::TempDir() + "/lmc_master_key";
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 32; ++i) f.put(static_cast<char>(i));
  }
  const SerdeRegistry r = SerdeRegistry::WithBuiltins(runtime::TestEnv());
  std::string error;
  auto s = r.CreateFromText(
      R"({"type":"aesgcm","key_provider":"hkdf","aes_bits":256,"master_key_path":")" + path + R"("})", &error);
  ASSERT_TRUE(s) << error;
  std::vector<unsigned char> key;
  ASSERT_TRUE(dynamic_cast<const AesGcmSerde&>(*s->serializer).DeriveKey("", &key));
  EXPECT_EQ(Hex(key), "f6b3e40f45eef1b66d8858df666638df3f8aeb1a14e1668f93ea687790c61e4d");
  auto e = r.CreateFromText(R"({"type":"encrypt","aes_bits":256,"master_key_path":")" + path + R"("})", &error);
  ASSERT_TRUE(e) << error;
  ASSERT_TRUE(dynamic_cast<const AesGcmSerde&>(*e->serializer).DeriveKey("", &key));
  EXPECT_EQ(Hex(key), "13e49c8a9d9cefd09893bfb3994ac99a28fb7539827ad64cbd4ddf5c39713452");
  // Through a link, as a Kubernetes secret volume mounts it.
  const std::string link = path + ".link";
  std::remove(link.c_str());
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_TRUE(r.CreateFromText(R"({"type":"aesgcm","master_key_path":")" + link + R"("})", &error)) << error;
  std::remove(link.c_str());
  // A FIFO with no writer: refused at once, not waited on.
  const std::string fifo = path + ".fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(r.CreateFromText(R"({"type":"aesgcm","master_key_path":")" + fifo + R"("})", &error));
  std::remove(fifo.c_str());
  EXPECT_FALSE(r.CreateFromText(R"({"type":"aesgcm"})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"aesgcm","master_key_path":"/nonexistent/key"})", &error));
  // Not a regular file: refused without reading (/dev/zero would never end).
  EXPECT_FALSE(r.CreateFromText(R"({"type":"aesgcm","master_key_path":"/dev/zero"})", &error));
  EXPECT_FALSE(r.CreateFromText(R"({"type":"aesgcm","aes_bits":192,"master_key_path":")" + path + R"("})", &error));
  EXPECT_FALSE(
      r.CreateFromText(R"({"type":"aesgcm","key_provider":"kms","master_key_path":")" + path + R"("})", &error));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace lmc::serde
