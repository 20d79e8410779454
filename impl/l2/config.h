// L2 adapters from the JSON of LMCache's `--l2-adapter` option:
//   {"type": "fs", "base_path": "/data/l2", "serde": {"type": "fp8", ...}}
// Types: fs (LMCache's keys: base_path, relative_tmp_dir, read_ahead_size,
// use_odirect), memory, lm ({"url": "lm://host:port"}), fault ({"inner":
// {adapter}, "seed", "fail_rate", "short_rate", "corrupt_rate",
// "delay_rate", "delay_ms"}), resp (LMCache's: {"host", "port",
// "username", "password", "max_capacity_gb"}, LMCACHE_RESP_HOST, _PORT,
// _USERNAME and _PASSWORD override them; the kit's "timeout_ms" and
// "connect_at_start"), valkey
// ({"startup_nodes": "h:p,h:p", "cluster_mode", "username", "password",
// "key_prefix", "request_timeout", "connection_timeout",
// "max_capacity_gb"}; TLS and database ids other than 0 are refused).
// Every adapter takes "num_workers"; an
// optional "serde" object wraps it in a SerdeL2Wrapper (with
// "temp_budget_bytes" beside "type" in that object). Unknown keys are
// refused by name. Never throws.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "l2/adapter.h"
#include "runtime/env.h"

namespace lmc::l2 {

// Every adapter runs on `env` (workers, files, the network for "lm"),
// which must outlive it.
[[nodiscard]] std::shared_ptr<L2Adapter> MakeAdapter(const nlohmann::json& config, runtime::Env& env,
                                                     std::string* error);
[[nodiscard]] std::shared_ptr<L2Adapter> MakeAdapterFromText(const std::string& text, runtime::Env& env,
                                                             std::string* error);

}  // namespace lmc::l2
