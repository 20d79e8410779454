// Serde factories by name, configured by the JSON "serde" object of
// LMCache's docs (serde.md §1.1, §1.5): {"type": NAME, ...kwargs}. Every key
// a factory does not know is refused with a message naming it (LMCache's
// Python would pass it on silently); a second factory under one name is
// refused.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/env.h"
#include "serde/serde.h"

namespace lmc::serde {

struct SerdeInstance {
  std::string type;
  std::shared_ptr<const Serializer> serializer;
  std::shared_ptr<const Deserializer> deserializer;
  unsigned max_workers = 1;
};

// Builds an instance from the config's keys other than "type"; on failure
// returns nullopt and says why in *error.
using SerdeFactory = std::function<std::optional<SerdeInstance>(const nlohmann::json& kwargs, std::string* error)>;

class SerdeRegistry {
 public:
  // fp8 and the kit's other built-in serdes. aesgcm reads its master key
  // and draws its IVs through `env`, which must outlive the serdes made.
  static SerdeRegistry WithBuiltins(runtime::Env& env);

  [[nodiscard]] bool Register(const std::string& name, SerdeFactory factory, std::string* error);
  std::vector<std::string> Names() const;
  // `config` is the "serde" object.
  [[nodiscard]] std::optional<SerdeInstance> Create(const nlohmann::json& config, std::string* error) const;
  // The same from JSON text (never throws on bad text).
  [[nodiscard]] std::optional<SerdeInstance> CreateFromText(const std::string& text, std::string* error) const;

 private:
  std::map<std::string, SerdeFactory> factories_;
};

// Helpers for factories: refuse keys outside `known`; read "max_workers".
[[nodiscard]] bool OnlyKnownKeys(const nlohmann::json& kwargs, const std::vector<std::string>& known,
                                 const std::string& type, std::string* error);
[[nodiscard]] bool ReadMaxWorkers(const nlohmann::json& kwargs, unsigned* out, std::string* error);
// An integer that fits int64 (false for other types and for unsigned values
// above INT64_MAX, which nlohmann would otherwise wrap).
[[nodiscard]] bool GetInt64(const nlohmann::json& value, std::int64_t* out);

}  // namespace lmc::serde
