#include "serde/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <zstd.h>

#include "serde/aesgcm_serde.h"
#include "serde/checksum_serde.h"
#include "serde/fp8_serde.h"
#include "serde/lossless_serde.h"

namespace lmc::serde {

bool OnlyKnownKeys(const nlohmann::json& kwargs, const std::vector<std::string>& known, const std::string& type,
                   std::string* error) {
  for (const auto& item : kwargs.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      *error = "serde '" + type + "': unknown key '" + item.key() + "' (known: " + list + ")";
      return false;
    }
  }
  return true;
}

bool GetInt64(const nlohmann::json& value, std::int64_t* out) {
  // nlohmann keeps integers at or above 2^63 as unsigned; get<int64_t>()
  // would wrap them to negative numbers.
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) return false;
  *out = value.get<std::int64_t>();
  return true;
}

bool ReadMaxWorkers(const nlohmann::json& kwargs, unsigned* out, std::string* error) {
  *out = 1;
  const auto it = kwargs.find("max_workers");
  if (it == kwargs.end()) return true;
  std::int64_t v = 0;
  if (!GetInt64(*it, &v) || v < 1 || v > 256) {
    *error = "serde: 'max_workers' must be an integer from 1 to 256";
    return false;
  }
  *out = static_cast<unsigned>(v);
  return true;
}

namespace {

int ZstdMinLevel() { return ZSTD_minCLevel() < -131072 ? -131072 : ZSTD_minCLevel(); }

std::optional<SerdeInstance> MakeFp8(const nlohmann::json& kwargs, std::string* error) {
  if (!OnlyKnownKeys(kwargs, {"fp8_dtype", "max_workers"}, "fp8", error)) return std::nullopt;
  SerdeInstance s;
  s.type = "fp8";
  if (!ReadMaxWorkers(kwargs, &s.max_workers, error)) return std::nullopt;
  Fp8Format format = Fp8Format::kE4M3FN;
  if (const auto it = kwargs.find("fp8_dtype"); it != kwargs.end()) {
    const std::string name = it->is_string() ? it->get<std::string>() : "";
    // LMCache accepts any torch attribute here and then truncates or fails
    // (serde.md §3.1); only the two one-byte formats are meaningful.
    if (name == "float8_e4m3fn") {
      format = Fp8Format::kE4M3FN;
    } else if (name == "float8_e5m2") {
      format = Fp8Format::kE5M2;
    } else {
      *error = "serde 'fp8': 'fp8_dtype' must be \"float8_e4m3fn\" or \"float8_e5m2\"";
      return std::nullopt;
    }
  }
  auto serde = std::make_shared<Fp8Serde>(format);
  s.serializer = serde;
  s.deserializer = serde;
  return s;
}

SerdeFactory MakeLossless(Codec codec) {
  return [codec](const nlohmann::json& kwargs, std::string* error) -> std::optional<SerdeInstance> {
    const std::string type = codec == Codec::kZstd ? "zstd" : "lz4";
    if (!OnlyKnownKeys(kwargs, {"level", "byte_planes", "max_workers"}, type, error)) return std::nullopt;
    SerdeInstance s;
    s.type = type;
    if (!ReadMaxWorkers(kwargs, &s.max_workers, error)) return std::nullopt;
    LosslessOptions o;
    o.codec = codec;
    o.level = codec == Codec::kZstd ? 3 : 0;
    if (const auto it = kwargs.find("level"); it != kwargs.end()) {
      std::int64_t v = 0;
      const bool ok = GetInt64(*it, &v) && (codec == Codec::kZstd ? v >= ZstdMinLevel() && v <= 22 : v >= 0 && v <= 12);
      if (!ok) {
        *error = "serde '" + type + "': 'level' must be an integer " +
                 (codec == Codec::kZstd ? std::string("from ") + std::to_string(ZstdMinLevel()) + " to 22"
                                        : std::string("from 0 (fast) to 12 (HC)"));
        return std::nullopt;
      }
      o.level = static_cast<int>(v);
    }
    if (const auto it = kwargs.find("byte_planes"); it != kwargs.end()) {
      if (!it->is_boolean()) {
        *error = "serde '" + type + "': 'byte_planes' must be true or false";
        return std::nullopt;
      }
      o.byte_planes = it->get<bool>();
    }
    auto serde = std::make_shared<LosslessSerde>(o);
    s.serializer = serde;
    s.deserializer = serde;
    return s;
  };
}

std::optional<SerdeInstance> MakeChecksum(const nlohmann::json& kwargs, std::string* error) {
  if (!OnlyKnownKeys(kwargs, {"max_workers"}, "checksum", error)) return std::nullopt;
  SerdeInstance s;
  s.type = "checksum";
  if (!ReadMaxWorkers(kwargs, &s.max_workers, error)) return std::nullopt;
  auto serde = std::make_shared<ChecksumSerde>();
  s.serializer = serde;
  s.deserializer = serde;
  return s;
}

// aesgcm and its earlier form, encrypt (serde.md §4.2): one frame, each its
// own HKDF info prefix.
// The master key file is read, and the IVs drawn, through `env`.
SerdeFactory MakeAesGcm(std::string type, runtime::Env& env) {
  return [type = std::move(type), &env](const nlohmann::json& kwargs,
                                        std::string* error) -> std::optional<SerdeInstance> {
    if (!OnlyKnownKeys(kwargs, {"key_provider", "aes_bits", "master_key_path", "max_workers"}, type, error)) {
      return std::nullopt;
    }
    SerdeInstance s;
    s.type = type;
    if (!ReadMaxWorkers(kwargs, &s.max_workers, error)) return std::nullopt;
    if (const auto it = kwargs.find("key_provider"); it != kwargs.end() && *it != "hkdf") {
      *error = "serde '" + type + "': 'key_provider' must be \"hkdf\"";
      return std::nullopt;
    }
    int bits = 128;
    if (const auto it = kwargs.find("aes_bits"); it != kwargs.end()) {
      if (!it->is_number_integer() || (*it != 128 && *it != 256)) {
        *error = "serde '" + type + "': 'aes_bits' must be 128 or 256";
        return std::nullopt;
      }
      bits = it->get<int>();
    }
    const auto path = kwargs.find("master_key_path");
    if (path == kwargs.end() || !path->is_string()) {
      *error = "serde '" + type + "': 'master_key_path' (a file) is required";
      return std::nullopt;
    }
    // A regular file only (not a FIFO or a device), and never more than the
    // limit read: the path comes from configuration.
    std::vector<std::byte> key(4096);
    std::size_t size = 0;
    // Through links: a key mounted as a Kubernetes secret is one.
    if (env.Files().ReadFile(path->get<std::string>(), key, &size, runtime::Links::kFollow) != runtime::FsError::kOk ||
        size < 16) {
      *error =
          "serde '" + type + "': cannot read a master key of 16 to 4096 bytes from '" + path->get<std::string>() + "'";
      return std::nullopt;
    }
    key.resize(size);
    const auto prefix = AesGcmInfoPrefix(type);
    if (!prefix) {
      *error = "serde '" + type + "': no HKDF info prefix for this type";  // a bug in WithBuiltins
      return std::nullopt;
    }
    auto serde = std::make_shared<AesGcmSerde>(std::move(key), bits, *prefix,
                                               [&env](std::span<std::byte> iv) { return env.CryptoRandom(iv); });
    s.serializer = serde;
    s.deserializer = serde;
    return s;
  };
}

}  // namespace

SerdeRegistry SerdeRegistry::WithBuiltins(runtime::Env& env) {
  SerdeRegistry r;
  // The built-in names are distinct and non-empty, so a refusal here is a
  // bug in this list: stop at once rather than start without a serde.
  const auto add = [&r](const std::string& name, SerdeFactory factory) {
    std::string error;
    if (!r.Register(name, std::move(factory), &error)) {
      std::fprintf(stderr, "serde registry: built-in %s: %s\n", name.c_str(), error.c_str());
      std::abort();
    }
  };
  add("fp8", MakeFp8);
  add("zstd", MakeLossless(Codec::kZstd));
  add("lz4", MakeLossless(Codec::kLz4));
  add("checksum", MakeChecksum);
  add("aesgcm", MakeAesGcm("aesgcm", env));
  add("encrypt", MakeAesGcm("encrypt", env));
  return r;
}

bool SerdeRegistry::Register(const std::string& name, SerdeFactory factory, std::string* error) {
  if (name.empty() || !factory) {
    *error = "serde registry: a factory needs a name and a function";
    return false;
  }
  if (!factories_.emplace(name, std::move(factory)).second) {
    *error = "serde registry: '" + name + "' is already registered";
    return false;
  }
  return true;
}

std::vector<std::string> SerdeRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, f] : factories_) names.push_back(name);
  return names;
}

std::optional<SerdeInstance> SerdeRegistry::Create(const nlohmann::json& config, std::string* error) const {
  if (!config.is_object()) {
    *error = "serde config must be a JSON object";
    return std::nullopt;
  }
  const auto type = config.find("type");
  if (type == config.end() || !type->is_string()) {
    *error = "serde config needs a string \"type\"";
    return std::nullopt;
  }
  const auto it = factories_.find(type->get<std::string>());
  if (it == factories_.end()) {
    std::string list;
    for (const auto& n : Names()) list += (list.empty() ? "" : ", ") + n;
    *error = "unknown serde type '" + type->get<std::string>() + "' (registered: " + list + ")";
    return std::nullopt;
  }
  nlohmann::json kwargs = config;
  kwargs.erase("type");
  return it->second(kwargs, error);
}

std::optional<SerdeInstance> SerdeRegistry::CreateFromText(const std::string& text, std::string* error) const {
  const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    *error = "serde config is not valid JSON";
    return std::nullopt;
  }
  return Create(config, error);
}

}  // namespace lmc::serde
