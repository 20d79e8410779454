#include "serde/aesgcm_serde.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>
#include <memory>

namespace lmc::serde {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

}  // namespace

std::optional<std::string_view> AesGcmInfoPrefix(std::string_view serde_type) {
  if (serde_type == "aesgcm") return kAesGcmInfoPrefix;
  if (serde_type == "encrypt") return kEncryptInfoPrefix;
  return std::nullopt;
}

AesGcmSerde::AesGcmSerde(std::vector<std::byte> master_key, int aes_bits, std::string_view info_prefix,
                         RandomSource iv_source)
    : master_key_(std::move(master_key)),
      aes_bits_(aes_bits),
      info_prefix_(info_prefix),
      iv_source_(std::move(iv_source)) {}

bool AesGcmSerde::DeriveKey(const std::string& cache_salt, std::vector<unsigned char>* out) const {
  out->assign(static_cast<std::size_t>(aes_bits_ / 8), 0);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  std::string info = info_prefix_;
  info += cache_salt;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::byte*>(master_key_.data()),
                                        master_key_.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out->data(), out->size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

std::uint64_t AesGcmSerde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  const auto bytes = LayoutBytes(layout);
  if (layout.groups.empty() || !bytes || *bytes > static_cast<std::uint64_t>(INT32_MAX)) {
    *error = SerdeError::kBadLayout;  // OpenSSL's update calls take an int length
    return 0;
  }
  *error = SerdeError::kOk;
  return *bytes + kAesGcmOverheadBytes;  // exact
}

SerdeError AesGcmSerde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                  const ObjectKey* key, std::size_t* written) const {
  *written = 0;
  SerdeError e;
  const std::uint64_t size = EstimateSerializedSize(layout, &e);
  if (e != SerdeError::kOk) return e;
  if (src.size() != size - kAesGcmOverheadBytes) return SerdeError::kSizeMismatch;
  if (dst.size() < size) return SerdeError::kTooSmall;
  std::vector<unsigned char> aes_key;
  if (!DeriveKey(key != nullptr ? key->cache_salt : std::string(), &aes_key)) return SerdeError::kAuth;
  auto* out = reinterpret_cast<unsigned char*>(dst.data());
  out[0] = 0x01;
  unsigned char* iv = out + 1;
  if (!iv_source_ || !iv_source_(std::span(reinterpret_cast<std::byte*>(iv), 12))) return SerdeError::kAuth;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const EVP_CIPHER* cipher = aes_bits_ == 256 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, aes_key.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out + 13, &len, reinterpret_cast<const unsigned char*>(src.data()),
                        static_cast<int>(src.size())) != 1) {
    return SerdeError::kAuth;
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), out + 13 + total, &len) != 1) return SerdeError::kAuth;
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, out + 13 + total) != 1) return SerdeError::kAuth;
  *written = static_cast<std::size_t>(size);
  return SerdeError::kOk;
}

SerdeError AesGcmSerde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                    const ObjectKey* key) const {
  SerdeError e;
  const std::uint64_t size = EstimateSerializedSize(layout, &e);
  if (e != SerdeError::kOk) return e;
  if (dst.size() != size - kAesGcmOverheadBytes) return SerdeError::kSizeMismatch;
  if (blob.size() < size) return SerdeError::kCorrupt;
  const auto* in = reinterpret_cast<const unsigned char*>(blob.data());
  if (in[0] != 0x01) return SerdeError::kWrongSerde;
  std::vector<unsigned char> aes_key;
  if (!DeriveKey(key != nullptr ? key->cache_salt : std::string(), &aes_key)) return SerdeError::kAuth;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const EVP_CIPHER* cipher = aes_bits_ == 256 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
  int len = 0;
  unsigned char tag[16];
  std::memcpy(tag, in + 13 + dst.size(), 16);
  unsigned char final_block[16];
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, aes_key.data(), in + 1) != 1 ||
      (!dst.empty() && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(dst.data()), &len, in + 13,
                                         static_cast<int>(dst.size())) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), final_block, &len) != 1) {
    if (!dst.empty()) std::memset(dst.data(), 0, dst.size());  // never hand out unauthenticated plaintext
    return SerdeError::kAuth;
  }
  return SerdeError::kOk;
}

}  // namespace lmc::serde
