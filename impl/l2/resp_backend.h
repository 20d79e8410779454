// The Redis tier: LMCache's `resp` adapter (a native RESP connector) and its
// `valkey` adapter's cluster mode, as a Backend over resp::Client.
//
// Layout, as LMCache's own connectors write it, so a deployment of LMCache
// and the kit can share one Redis:
// - the key is NativeConnectorL2Adapter's string,
//   "<model>@<kv_rank %08x>@<object_group_id %x>@<chunk_hash hex>", with
//   "@<cache_salt>" when the salt is not empty (valkey: "<key_prefix>@"
//   before it when a prefix is set);
// - the value is the object's bytes, nothing else (SET key value; GET).
// Keys LMCache's ObjectKey refuses (an '@' in the model or salt) and
// negative ranks or groups are refused here too (the store fails).
//
// max_capacity_gb, as LMCache counts it: the bytes this adapter stored
// (int(gb * 2^30)), less those it deleted. LMCache's L2 eviction controller
// deletes least-recently-used keys when that count is over the capacity;
// the kit does the same before a store that would pass it (and refuses an
// object larger than the capacity). 0 disables it. Objects other writers
// put in the same Redis are not counted, as in LMCache.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/mutex.h"
#include "l2/backend_adapter.h"
#include "resp/client.h"
#include "runtime/env.h"

namespace lmc::l2 {

// NativeConnectorL2Adapter's key string (nullopt: a key it cannot hold).
[[nodiscard]] std::optional<std::string> RespKey(const ObjectKey& key, std::string_view prefix = {});

struct RespOptions {
  resp::ClientOptions client;
  std::string key_prefix;
  std::uint64_t max_capacity_bytes = 0;  // 0: no limit
  std::string type = "resp";             // or "valkey"
  // The kit's own: connect, AUTH and PING in Open (a refused AUTH is an
  // error at start). false: the first call connects (the simulator builds
  // its servers outside any job, where nothing may wait).
  bool connect_at_start = true;
};

class RespBackend final : public Backend {
 public:
  // Connects once (AUTH, PING; a cluster's slot map): a refused AUTH or a
  // node that answers with an error is an error here (nullptr, *error set);
  // an unreachable node is not (the tier starts, calls fail fast until it
  // answers), and is said in *warning.
  static std::unique_ptr<RespBackend> Open(runtime::Env& env, RespOptions options, std::string* error,
                                           std::string* warning);
  std::string type() const override { return options_.type; }
  [[nodiscard]] bool Store(const ObjectKey& key, std::span<const std::byte> bytes) override;
  bool Exists(const ObjectKey& key) override;
  [[nodiscard]] std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) override;
  void Delete(const ObjectKey& key) override;
  bool Healthy() const override { return client_.Healthy(); }
  std::string Detail() const override;
  void Close() override { client_.Close(); }

  std::uint64_t bytes_used() const;
  resp::ClientStats client_stats() const { return client_.Stats(); }

 private:
  RespBackend(runtime::Env& env, RespOptions options) : options_(std::move(options)), client_(env, options_.client) {}
  void Forget(const std::string& key);

  RespOptions options_;
  resp::Client client_;
  // Capacity accounting (when max_capacity_bytes > 0): what this adapter
  // stored, least recently used first.
  mutable base::Mutex mu_;
  std::list<std::pair<std::string, std::uint64_t>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::uint64_t>>::iterator> where_;
  std::uint64_t used_ = 0;
};

}  // namespace lmc::l2
