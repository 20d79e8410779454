#include "serde/registry.h"

#include <algorithm>

#include "serde/fp8_serde.h"

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

bool ReadMaxWorkers(const nlohmann::json& kwargs, unsigned* out, std::string* error) {
  *out = 1;
  const auto it = kwargs.find("max_workers");
  if (it == kwargs.end()) return true;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 256) {
    *error = "serde: 'max_workers' must be an integer from 1 to 256";
    return false;
  }
  *out = static_cast<unsigned>(it->get<std::int64_t>());
  return true;
}

namespace {

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

}  // namespace

SerdeRegistry SerdeRegistry::WithBuiltins() {
  SerdeRegistry r;
  std::string ignored;
  r.Register("fp8", MakeFp8, &ignored);
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
