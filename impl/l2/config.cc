#include "l2/config.h"

#include <algorithm>

#include "l2/backends.h"
#include "l2/serde_wrapper.h"
#include "serde/registry.h"

namespace lmc::l2 {
namespace {

using nlohmann::json;

bool OnlyKnownKeys(const json& c, const std::vector<std::string>& known, const std::string& what, std::string* error) {
  for (const auto& item : c.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    *error = what + ": unknown key '" + item.key() + "' (known: " + list + ")";
    return false;
  }
  return true;
}

bool ReadRate(const json& c, const char* name, double* out, std::string* error) {
  const auto it = c.find(name);
  if (it == c.end()) return true;
  if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) {
    *error = std::string("l2 fault: '") + name + "' must be a number from 0 to 1";
    return false;
  }
  *out = it->get<double>();
  return true;
}

bool ReadUnsigned(const json& c, const char* name, std::uint64_t max, std::uint64_t* out, std::string* error) {
  const auto it = c.find(name);
  if (it == c.end()) return true;
  if (it->is_number_unsigned() && it->get<std::uint64_t>() <= max) {
    *out = it->get<std::uint64_t>();
    return true;
  }
  std::int64_t v = 0;
  if (!serde::GetInt64(*it, &v) || v < 0 || static_cast<std::uint64_t>(v) > max) {
    *error = std::string("l2: '") + name + "' must be an integer from 0 to " + std::to_string(max);
    return false;
  }
  *out = static_cast<std::uint64_t>(v);
  return true;
}

std::unique_ptr<Backend> MakeBackend(const json& c, runtime::Env& env, std::string* error) {
  if (!c.is_object() || !c.contains("type") || !c["type"].is_string()) {
    *error = "l2: an adapter must be a JSON object with a string \"type\"";
    return nullptr;
  }
  const std::string type = c["type"].get<std::string>();
  if (type == "memory") {
    if (!OnlyKnownKeys(c, {"type", "num_workers", "serde"}, "l2 memory", error)) return nullptr;
    return std::make_unique<MemoryBackend>();
  }
  if (type == "fs") {
    if (!OnlyKnownKeys(c,
                       {"type", "num_workers", "serde", "base_path", "relative_tmp_dir", "read_ahead_size",
                        "use_odirect", "fsync"},
                       "l2 fs", error))
      return nullptr;
    FsOptions o;
    if (!c.contains("base_path") || !c["base_path"].is_string()) {
      *error = "l2 fs: \"base_path\" (a string) is required";
      return nullptr;
    }
    o.base_path = c["base_path"].get<std::string>();
    if (c.contains("relative_tmp_dir") && !c["relative_tmp_dir"].is_null()) {
      if (!c["relative_tmp_dir"].is_string()) {
        *error = "l2 fs: \"relative_tmp_dir\" must be a string";
        return nullptr;
      }
      o.relative_tmp_dir = c["relative_tmp_dir"].get<std::string>();
    }
    std::uint64_t ignored = 0;
    if (c.contains("read_ahead_size") && !c["read_ahead_size"].is_null() &&
        !ReadUnsigned(c, "read_ahead_size", UINT32_MAX, &ignored, error))
      return nullptr;
    // use_odirect is accepted and served by buffered I/O (LMCache falls back
    // to it too whenever a size is not a multiple of the block size).
    if (c.contains("use_odirect") && !c["use_odirect"].is_boolean()) {
      *error = "l2 fs: \"use_odirect\" must be a boolean";
      return nullptr;
    }
    if (c.contains("fsync")) {
      if (!c["fsync"].is_boolean()) {
        *error = "l2 fs: \"fsync\" must be a boolean";
        return nullptr;
      }
      o.fsync = c["fsync"].get<bool>();
    }
    return FsBackend::Open(env.Files(), std::move(o), error);
  }
  if (type == "lm") {
    if (!OnlyKnownKeys(c, {"type", "num_workers", "serde", "url", "timeout_ms"}, "l2 lm", error)) return nullptr;
    client::ClientOptions o;
    if (!c.contains("url") || !c["url"].is_string() ||
        !client::ParseLmUrl(c["url"].get<std::string>(), &o.host, &o.port)) {
      *error = "l2 lm: \"url\" must be lm://HOST:PORT";
      return nullptr;
    }
    std::uint64_t timeout = 10000;
    if (!ReadUnsigned(c, "timeout_ms", 3600000, &timeout, error)) return nullptr;
    o.call_timeout = std::chrono::milliseconds(timeout);
    return std::make_unique<LmBackend>(env, o);
  }
  if (type == "fault") {
    if (!OnlyKnownKeys(c,
                       {"type", "num_workers", "serde", "inner", "seed", "fail_rate", "short_rate", "corrupt_rate",
                        "delay_rate", "delay_ms"},
                       "l2 fault", error))
      return nullptr;
    if (!c.contains("inner")) {
      *error = "l2 fault: \"inner\" (an adapter object) is required";
      return nullptr;
    }
    if (c["inner"].is_object() && c["inner"].contains("serde")) {
      *error = "l2 fault: put \"serde\" on the fault adapter, not on its inner adapter";
      return nullptr;
    }
    FaultOptions o;
    std::uint64_t delay_ms = 5;
    if (!ReadUnsigned(c, "seed", UINT64_MAX, &o.seed, error) || !ReadRate(c, "fail_rate", &o.fail_rate, error) ||
        !ReadRate(c, "short_rate", &o.short_rate, error) || !ReadRate(c, "corrupt_rate", &o.corrupt_rate, error) ||
        !ReadRate(c, "delay_rate", &o.delay_rate, error) || !ReadUnsigned(c, "delay_ms", 10000, &delay_ms, error))
      return nullptr;
    if (o.fail_rate + o.short_rate + o.corrupt_rate + o.delay_rate > 1.0) {
      *error = "l2 fault: the rates add up to more than 1";
      return nullptr;
    }
    o.delay = std::chrono::milliseconds(delay_ms);
    std::unique_ptr<Backend> inner = MakeBackend(c["inner"], env, error);
    if (!inner) return nullptr;
    return std::make_unique<FaultBackend>(env, std::move(inner), o);
  }
  *error = "l2: unknown adapter type '" + type + "' (known: fs, lm, memory, fault)";
  return nullptr;
}

}  // namespace

namespace {
std::shared_ptr<L2Adapter> Make(const json& config, runtime::Env& env, std::string* error) {
  std::unique_ptr<Backend> backend = MakeBackend(config, env, error);
  if (!backend) return nullptr;
  std::uint64_t workers = 2;
  if (!ReadUnsigned(config, "num_workers", 64, &workers, error)) return nullptr;
  if (workers == 0) workers = 1;
  std::shared_ptr<L2Adapter> adapter =
      std::make_shared<BackendAdapter>(env, std::move(backend), static_cast<unsigned>(workers));
  const auto s = config.find("serde");
  if (s == config.end() || s->is_null()) return adapter;
  if (!s->is_object()) {
    *error = "l2: \"serde\" must be an object";
    return nullptr;
  }
  json serde_config = *s;
  WrapperOptions w;
  std::uint64_t budget = w.temp_budget_bytes;
  if (!ReadUnsigned(serde_config, "temp_budget_bytes", std::uint64_t{1} << 40, &budget, error)) return nullptr;
  w.temp_budget_bytes = static_cast<std::size_t>(budget);
  serde_config.erase("temp_budget_bytes");
  const std::optional<serde::SerdeInstance> instance =
      serde::SerdeRegistry::WithBuiltins(env).Create(serde_config, error);
  if (!instance) return nullptr;
  return std::make_shared<SerdeL2Wrapper>(env, std::move(adapter), *instance, w);
}
}  // namespace

std::shared_ptr<L2Adapter> MakeAdapter(const json& config, runtime::Env& env, std::string* error) {
  try {
    return Make(config, env, error);
  } catch (const std::exception& e) {  // eventfds could not be created
    *error = std::string("l2: ") + e.what();
    return nullptr;
  }
}

std::shared_ptr<L2Adapter> MakeAdapterFromText(const std::string& text, runtime::Env& env, std::string* error) {
  const json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    *error = "l2: the adapter config is not valid JSON";
    return nullptr;
  }
  return MakeAdapter(config, env, error);
}

}  // namespace lmc::l2
