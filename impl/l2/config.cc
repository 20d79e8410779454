#include "l2/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "l2/backends.h"
#include "l2/resp_backend.h"
#include "l2/serde_wrapper.h"
#include "net/address.h"
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

// LMCACHE_RESP_* variables override the config (LMCache reads them when the
// adapter is made, so credentials need not be in the config).
std::string FromEnvironment(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

bool ReadString(const json& c, const char* name, std::string* out, std::string* error, const std::string& what) {
  const auto it = c.find(name);
  if (it == c.end() || it->is_null()) return true;
  if (it->is_string()) {
    *out = it->get<std::string>();
    return true;
  }
  if (it->is_number_integer() || it->is_boolean()) {  // Python's str() of a number
    *out = it->is_boolean() ? (it->get<bool>() ? "True" : "False") : std::to_string(it->get<std::int64_t>());
    return true;
  }
  *error = what + ": \"" + name + "\" must be a string";
  return false;
}

bool ReadCapacity(const json& c, std::uint64_t* bytes, std::string* error, const std::string& what) {
  const auto it = c.find("max_capacity_gb");
  if (it == c.end()) return true;
  if (!it->is_number() || it->is_boolean() || it->get<double>() < 0 || it->get<double>() > 1e9) {
    *error = what + ": \"max_capacity_gb\" must be a non-negative number";
    return false;
  }
  *bytes = static_cast<std::uint64_t>(it->get<double>() * 1073741824.0);  // int(gb * 1024**3)
  return true;
}

std::unique_ptr<Backend> MakeResp(const json& c, runtime::Env& env, std::string* error) {
  const std::string type = c["type"].get<std::string>();
  const bool valkey = type == "valkey";
  const std::string what = "l2 " + type;
  if (valkey) {
    if (!OnlyKnownKeys(
            c,
            {"type", "num_workers", "serde", "startup_nodes", "cluster_mode", "username", "password", "key_prefix",
             "tls_enable", "database_id", "request_timeout", "connection_timeout", "max_capacity_gb"},
            what, error))
      return nullptr;
  } else if (!OnlyKnownKeys(c,
                            {"type", "num_workers", "serde", "host", "port", "username", "password", "max_capacity_gb",
                             "timeout_ms", "connect_at_start"},
                            what, error)) {
    return nullptr;
  }
  RespOptions o;
  o.type = type;
  resp::ClientOptions& client = o.client;
  if (const auto w = c.find("num_workers"); w != c.end()) {
    if (!w->is_number_integer() || w->get<std::int64_t>() <= 0 || w->get<std::int64_t>() > 64) {
      *error = what + ": \"num_workers\" must be an integer from 1 to 64";
      return nullptr;
    }
    client.connections_per_node = static_cast<unsigned>(w->get<std::int64_t>());
  }
  if (!ReadString(c, "username", &client.username, error, what) ||
      !ReadString(c, "password", &client.password, error, what) || !ReadCapacity(c, &o.max_capacity_bytes, error, what))
    return nullptr;
  if (valkey) {
    const auto nodes = c.find("startup_nodes");
    if (nodes == c.end() || !nodes->is_string()) {
      *error = what + ": \"startup_nodes\" ('host:port[,host:port...]') is required";
      return nullptr;
    }
    const std::string text = nodes->get<std::string>();
    for (std::size_t begin = 0; begin <= text.size();) {
      std::size_t end = text.find(',', begin);
      if (end == std::string::npos) end = text.size();
      std::string item = text.substr(begin, end - begin);
      begin = end + 1;
      while (!item.empty() && item.front() == ' ') item.erase(item.begin());
      while (!item.empty() && item.back() == ' ') item.pop_back();
      if (item.empty()) continue;
      resp::Node n;
      if (!net::ParseHostPort(item, &n.host, &n.port) || n.host.empty()) {
        *error = what + ": a startup_nodes entry must be 'host:port', got '" + item + "'";
        return nullptr;
      }
      client.nodes.push_back(std::move(n));
    }
    if (client.nodes.empty()) {
      *error = what + ": \"startup_nodes\" has no node";
      return nullptr;
    }
    if (const auto cm = c.find("cluster_mode"); cm != c.end()) {
      if (!cm->is_boolean()) {
        *error = what + ": \"cluster_mode\" must be a boolean";
        return nullptr;
      }
      client.cluster = cm->get<bool>();
    }
    if (!client.cluster) client.nodes.resize(1);  // as LMCache: only the first in standalone mode
    if (!ReadString(c, "key_prefix", &o.key_prefix, error, what)) return nullptr;
    if (o.key_prefix.find('@') != std::string::npos) {
      *error = what + ": \"key_prefix\" must not contain '@'";
      return nullptr;
    }
    if (const auto t = c.find("tls_enable"); t != c.end() && t->is_boolean() && t->get<bool>()) {
      *error = what + ": \"tls_enable\" is not supported by the kit (no TLS)";
      return nullptr;
    }
    if (const auto d = c.find("database_id");
        d != c.end() && !d->is_null() && !(d->is_number_integer() && d->get<std::int64_t>() == 0)) {
      *error = what + ": \"database_id\" other than 0 is not supported by the kit";
      return nullptr;
    }
    client.call_timeout = std::chrono::milliseconds(5000);  // LMCache's valkey defaults
    client.connect_timeout = std::chrono::milliseconds(10000);
    for (const auto& [name, field] : {std::pair{"request_timeout", &client.call_timeout},
                                      std::pair{"connection_timeout", &client.connect_timeout}}) {
      const auto t = c.find(name);
      if (t == c.end()) continue;
      if (!t->is_number() || t->is_boolean() || t->get<double>() <= 0 || t->get<double>() > 3600) {
        *error = what + ": \"" + name + "\" must be a number of seconds above 0";
        return nullptr;
      }
      *field = std::chrono::milliseconds(std::llround(t->get<double>() * 1000.0));
    }
  } else {
    resp::Node n;
    const auto host = c.find("host");
    if (host == c.end() || !host->is_string() || host->get<std::string>().empty()) {
      *error = what + ": \"host\" must be a non-empty string";
      return nullptr;
    }
    n.host = host->get<std::string>();
    const auto port = c.find("port");
    if (port == c.end() || !port->is_number_integer() || port->get<std::int64_t>() <= 0 ||
        port->get<std::int64_t>() > 65535) {
      *error = what + ": \"port\" must be a positive integer (at most 65535)";
      return nullptr;
    }
    n.port = static_cast<std::uint16_t>(port->get<std::int64_t>());
    if (const std::string h = FromEnvironment("LMCACHE_RESP_HOST"); !h.empty()) n.host = h;
    if (const std::string p = FromEnvironment("LMCACHE_RESP_PORT"); !p.empty() && !net::ParsePort(p, &n.port)) {
      *error = what + ": LMCACHE_RESP_PORT must be a port number, got '" + p + "'";
      return nullptr;
    }
    if (const std::string u = FromEnvironment("LMCACHE_RESP_USERNAME"); !u.empty()) client.username = u;
    if (const std::string p = FromEnvironment("LMCACHE_RESP_PASSWORD"); !p.empty()) client.password = p;
    client.nodes.push_back(std::move(n));
    std::uint64_t timeout = 5000;
    if (!ReadUnsigned(c, "timeout_ms", 3600000, &timeout, error)) return nullptr;
    client.call_timeout = std::chrono::milliseconds(std::max<std::uint64_t>(timeout, 1));
  }
  if (const auto check = c.find("connect_at_start"); check != c.end()) {
    if (!check->is_boolean()) {
      *error = what + ": \"connect_at_start\" must be a boolean";
      return nullptr;
    }
    o.connect_at_start = check->get<bool>();
  }
  std::string warning;
  return RespBackend::Open(env, std::move(o), error, &warning);
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
  if (type == "resp" || type == "valkey") return MakeResp(c, env, error);
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
  *error = "l2: unknown adapter type '" + type + "' (known: fs, lm, resp, valkey, memory, fault)";
  return nullptr;
}

}  // namespace

namespace {
std::shared_ptr<L2Adapter> Make(const json& config, runtime::Env& env, std::string* error) {
  std::unique_ptr<Backend> backend = MakeBackend(config, env, error);
  if (!backend) return nullptr;
  // LMCache's resp and valkey adapters default to 8 workers; the kit's others to 2.
  const std::string type = config["type"].get<std::string>();
  std::uint64_t workers = type == "resp" || type == "valkey" ? 8 : 2;
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
