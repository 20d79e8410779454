// What one simulated run does, drawn from its seed: the shape of the world
// (clients, keys, L1 size, tiers and serdes), the fault options, each
// client's operations and the fault schedule. A Scenario is plain data, so
// the shrinker can cut it (Cut) and the cut can be replayed from the
// command line.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "simnet/disk.h"
#include "simnet/network.h"

namespace lmc::simnet {

struct Op {
  enum class Kind : std::uint8_t {
    kPut,
    kGet,
    kExist,
    kList,
    kHealth,
    kCutPut,  // a raw PUT whose payload stops short, then a close or a stall
    kPause,
    kStore,  // the L2 worker: a wrapped store batch of `count` keys from `key`
    kLoad,   // the L2 worker: a wrapped load batch
  };
  Kind kind = Kind::kPause;
  int key = 0;
  int count = 1;
  std::uint32_t elements = 0;  // bf16 elements of a value (2 bytes each)
  std::uint32_t pause_us = 0;
};
std::string_view OpName(Op::Kind k);

// One scheduled fault. What each kind does, how often it is drawn and what
// it is called: the table in simnet/faults.h.
struct FaultEvent {
  enum class Kind : std::uint8_t {
    kReset,        // reset a random connection
    kHalfClose,    // half-close a random direction
    kClog,         // clog a random direction for `length`
    kPartition,    // cut client `target` (-1: the lm:// tier's backend) off the server for `length`
    kCrashServer,  // crash the server; it restarts after `length` (L1 lost, disk kept)
    kCrashWorker,  // crash the L2 worker; it restarts (disk kept)
    kDiskFull,     // the server's disk fills for `length`
    kRespRestart,  // the RESP node restarts, losing every write since its last restart
    kCount,        // not a fault: how many there are (simnet/faults.h has one entry each)
  };
  Kind kind = Kind::kReset;
  Duration at{};
  Duration length{};
  int target = 0;
};
std::string_view FaultName(FaultEvent::Kind k);

struct Scenario {
  std::uint64_t seed = 0;
  int clients = 2;
  int keys = 4;
  std::size_t l1_bytes = 256 << 10;
  // L1's chunk size (4 to 32 KiB: most values span chunks and share pages).
  std::size_t l1_chunk_bytes = 16 << 10;
  bool tier = false;  // an L2 tier under the server
  // "fs" (the server's disk), "lm" (a second server, node "backend") or
  // "resp" (a RESP node, resp::MiniServer, on node "backend": the server's
  // tier is shared, as over a Redis).
  std::string tier_type = "fs";
  std::string tier_serde;   // "" (raw), "checksum", "lz4", "fp8", "aesgcm"
  std::string batch_serde;  // the L2 worker's wrapper serde ("" = no worker)
  Duration stall_timeout = std::chrono::seconds(2);
  Duration call_timeout = std::chrono::seconds(2);
  NetFaults net;
  DiskFaults disk;
  bool bit_flips = false;                       // opt-in: on the worker's disk (its serde must detect them)
  std::vector<std::vector<Op>> ops;             // per client
  std::vector<Op> worker_ops;                   // the L2 worker's batches
  std::vector<FaultEvent> faults;               // in time order
  Duration heal_at = std::chrono::seconds(20);  // every fault ends here
  Duration resp_delay{};                        // the RESP node's delay before each reply

  std::size_t op_count() const;
  // The options drawn, one per line ("name: value").
  std::string Describe() const;
};

// `tier`: "" draws the tier as every seed does; "fs", "lm" or "resp" gives
// every seed that tier (lmcache-sim --tier), the rest drawn the same.
Scenario Draw(std::uint64_t seed, const std::string& tier = "");

// A smaller version of a scenario: each client (and the worker) keeps at
// most `ops_limit` operations, then the ones in `drop_ops` (numbered across
// clients in order, worker last) and the faults in `drop_faults` go.
struct Cut {
  std::size_t ops_limit = SIZE_MAX;
  std::set<std::size_t> drop_ops;
  std::set<std::size_t> drop_faults;
  bool empty() const { return ops_limit == SIZE_MAX && drop_ops.empty() && drop_faults.empty(); }
  // "--ops-limit N --drop-ops 1,4-7 --drop-faults 0" (empty if nothing is cut).
  std::string Flags() const;
};
Scenario Apply(const Scenario& s, const Cut& cut);
// The same cut without the drops that the prefix already removes (for a
// shorter replay command).
Cut Normalize(const Scenario& s, Cut cut);
// Parses "1,4-7" into a set; false on anything else.
bool ParseIndexSet(const std::string& text, std::set<std::size_t>* out);

}  // namespace lmc::simnet
