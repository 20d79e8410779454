#include "l2/resp_backend.h"

#include "wire/text.h"

namespace lmc::l2 {

std::optional<std::string> RespKey(const ObjectKey& key, std::string_view prefix) {
  if (key.model_name.find('@') != std::string::npos || key.cache_salt.find('@') != std::string::npos)
    return std::nullopt;
  if (key.kv_rank < 0 || key.object_group_id < 0) return std::nullopt;
  std::string out;
  if (!prefix.empty()) {
    out += prefix;
    out += '@';
  }
  // Python's f"{kv_rank:08x}": at least eight lowercase digits.
  out += key.model_name + "@" + wire::ToHex(static_cast<std::uint64_t>(key.kv_rank), 8) + "@" +
         wire::ToHex(static_cast<std::uint64_t>(key.object_group_id)) + "@" + wire::ToHex(key.chunk_hash);
  if (!key.cache_salt.empty()) out += "@" + key.cache_salt;
  return out;
}

std::unique_ptr<RespBackend> RespBackend::Open(runtime::Env& env, RespOptions options, std::string* error,
                                               std::string* warning) {
  std::unique_ptr<RespBackend> b(new RespBackend(env, std::move(options)));
  if (!b->options_.connect_at_start) return b;
  std::string detail;
  switch (b->client_.Check(&detail)) {
    case resp::Status::kOk: break;
    case resp::Status::kUnavailable:
    case resp::Status::kTimedOut:
      *warning = b->type() + ": " + detail + " (starting anyway: loads miss and stores fail until it answers)";
      break;
    default: *error = b->type() + ": " + detail; return nullptr;
  }
  return b;
}

std::string RespBackend::Detail() const {
  std::string d = options_.client.cluster ? "cluster " : "";
  for (std::size_t i = 0; i < options_.client.nodes.size(); ++i)
    d += (i == 0 ? "" : ",") + options_.client.nodes[i].Name();
  if (options_.max_capacity_bytes > 0)
    d += " used=" + std::to_string(bytes_used()) + "/" + std::to_string(options_.max_capacity_bytes);
  return d;
}

std::uint64_t RespBackend::bytes_used() const {
  std::lock_guard lock(mu_);
  return used_;
}

void RespBackend::Forget(const std::string& key) {
  const auto it = where_.find(key);
  if (it == where_.end()) return;
  used_ -= it->second->second;
  lru_.erase(it->second);
  where_.erase(it);
}

bool RespBackend::Store(const ObjectKey& key, std::span<const std::byte> bytes) {
  const std::optional<std::string> k = RespKey(key, options_.key_prefix);
  if (!k) return false;
  const std::uint64_t cap = options_.max_capacity_bytes;
  if (cap > 0) {
    if (bytes.size() > cap) return false;
    std::vector<std::string> victims;
    {
      std::lock_guard lock(mu_);
      Forget(*k);  // an overwrite counts once
      while (!lru_.empty() && used_ + bytes.size() > cap) {
        victims.push_back(lru_.front().first);
        Forget(lru_.front().first);
      }
    }
    // Deleted before the store, so the count never passes the capacity; a
    // delete that fails leaves a key Redis may still evict by its own policy.
    for (const std::string& v : victims) (void)client_.Del(v);
  }
  if (client_.Set(*k, bytes) != resp::Status::kOk) return false;
  if (cap > 0) {
    std::lock_guard lock(mu_);
    Forget(*k);
    lru_.emplace_back(*k, bytes.size());
    where_[*k] = std::prev(lru_.end());
    used_ += bytes.size();
  }
  return true;
}

bool RespBackend::Exists(const ObjectKey& key) {
  const std::optional<std::string> k = RespKey(key, options_.key_prefix);
  return k && client_.Exists(*k) == resp::Status::kOk;
}

std::optional<std::size_t> RespBackend::Load(const ObjectKey& key, std::span<std::byte> dst) {
  const std::optional<std::string> k = RespKey(key, options_.key_prefix);
  if (!k) return std::nullopt;
  std::size_t size = 0;
  if (client_.Get(*k, dst, /*exact=*/false, &size) != resp::Status::kOk) return std::nullopt;
  if (options_.max_capacity_bytes > 0) {
    std::lock_guard lock(mu_);
    if (const auto it = where_.find(*k); it != where_.end()) lru_.splice(lru_.end(), lru_, it->second);
  }
  return size;
}

void RespBackend::Delete(const ObjectKey& key) {
  const std::optional<std::string> k = RespKey(key, options_.key_prefix);
  if (!k) return;
  if (options_.max_capacity_bytes > 0) {
    std::lock_guard lock(mu_);
    Forget(*k);
  }
  (void)client_.Del(*k);
}

}  // namespace lmc::l2
