#include "tools/bench_driver.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "net/asio_transport.h"
#include "runtime/process_env.h"

namespace lmc::tools::bench {
namespace {

using Clock = std::chrono::steady_clock;
using client::CallStatus;

// The protocol's length field is an int32: no object can be larger.
constexpr std::size_t kMaxObjectBytes = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

// Why a call failed, as the summary prints it.
std::string_view Reason(CallStatus s) {
  switch (s) {
    case CallStatus::kTimedOut: return "timed out";
    case CallStatus::kUnavailable: return "server unavailable (connection refused or lost)";
    case CallStatus::kInvalidReply: return "invalid reply";
    case CallStatus::kBadRequest: return "bad request";
    case CallStatus::kClientClosed: return "client closed";
    case CallStatus::kOk:
    case CallStatus::kMiss: break;
  }
  return client::CallStatusName(s);
}

// Connection-level failures: the connection is gone or out of step, so its
// lanes (or its warm-up) stop rather than spin on errors.
bool EndsConnection(CallStatus s) {
  return s == CallStatus::kUnavailable || s == CallStatus::kClientClosed || s == CallStatus::kTimedOut;
}

std::vector<std::byte> Pattern(std::uint64_t seed, std::size_t bytes) {
  std::vector<std::byte> v(bytes);
  std::mt19937_64 g(seed);
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    const std::uint64_t x = g();
    std::memcpy(v.data() + i, &x, 8);
  }
  return v;
}

// One key per (connection, entry of --sizes, key): by the entry's index,
// not its size, so that a size listed twice cannot mix two patterns.
std::string KeyOf(unsigned conn, std::size_t size_index, unsigned k) {
  return "bench@" + std::to_string(conn) + "@0@" + std::to_string(size_index * 100000 + k) + "@uint8";
}
// The n-th fresh key of a connection: worker id 1, where KeyOf's are 0.
std::string FreshKeyOf(unsigned conn, std::uint64_t n) {
  return "bench@" + std::to_string(conn) + "@1@" + std::to_string(n) + "@uint8";
}

// What every connection shares: the configuration, the payloads, the
// deadlines and the live counters of the progress line.
class Driver {
 public:
  explicit Driver(const BenchConfig& config) : cfg_(config) {
    // Payload patterns, shared by every connection (indexed by size and key).
    payloads_.resize(cfg_.sizes.size());
    digests_.resize(cfg_.sizes.size());
    for (std::size_t s = 0; s < cfg_.sizes.size(); ++s) {
      for (unsigned k = 0; k < cfg_.keys; ++k) {
        payloads_[s].push_back(Pattern(cfg_.seed * 1000003 + s * 7919 + k, cfg_.sizes[s]));
        digests_[s].push_back(XXH3_64bits(payloads_[s].back().data(), payloads_[s].back().size()));
      }
    }
    // Nothing is issued past issue_deadline; nothing is waited for past
    // wait_deadline. --ops alone has no issue deadline: each call still has
    // its own. Completions before timed_from (the end of --warm-s) are not
    // counted.
    start_ = Clock::now();
    timed_from_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.warm_s));
    issue_deadline_ =
        cfg_.timed
            ? timed_from_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.duration_s))
            : Clock::time_point::max();
    wait_deadline_ = cfg_.timed ? issue_deadline_ + cfg_.timeout : Clock::time_point::max();
  }

  BenchResult Run();

 private:
  bool issuing() const { return Clock::now() < issue_deadline_; }
  void Connection(runtime::Env& env, unsigned conn, Stats& st);

  const BenchConfig& cfg_;
  std::vector<std::vector<std::vector<std::byte>>> payloads_;
  std::vector<std::vector<std::uint64_t>> digests_;
  Clock::time_point start_, timed_from_, issue_deadline_, wait_deadline_;
  std::atomic<std::uint64_t> done_ops_{0}, done_bytes_{0};
  std::atomic<bool> stop_{false};
};

BenchResult Driver::Run() {
  net::AsioTransport transport(cfg_.io_threads);
  transport.Start(cfg_.io_threads);
  runtime::ProcessEnv env(transport, {1, 0});
  std::vector<Stats> stats(cfg_.connections);
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < cfg_.connections; ++c)
    threads.emplace_back([this, &env, &stats, c] { Connection(env, c, stats[c]); });
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::thread progress([&] {
    double last = 0;
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const double t = std::chrono::duration<double>(Clock::now() - start_).count();
      if (!issuing()) stop_ = true;
      if (t - last >= 1.0) {
        last = t;
        std::fprintf(stderr, "%s[%6.1f s] %" PRIu64 " ops, %.2f GB/s%s", tty ? "\r" : "", t, done_ops_.load(),
                     static_cast<double>(done_bytes_.load()) / t / 1e9, tty ? "" : "\n");
      }
    }
  });
  for (auto& t : threads) t.join();
  stop_ = true;
  progress.join();
  if (tty) std::fprintf(stderr, "\n");
  BenchResult result;
  // The timed window: from the end of --warm-s (the start without it).
  result.seconds = std::max(1e-9, std::chrono::duration<double>(Clock::now() - timed_from_).count());
  transport.Stop();
  transport.Join();
  for (const Stats& st : stats) result.all.Merge(st);
  return result;
}

void Driver::Connection(runtime::Env& env, unsigned conn, Stats& st) {
  // The names the loop below has always used.
  const client::ClientOptions& options = cfg_.client;
  const std::vector<std::size_t>& sizes = cfg_.sizes;
  const unsigned keys = cfg_.keys;
  const unsigned depth = cfg_.depth;
  const std::uint64_t ops_limit = cfg_.ops_limit;
  const bool no_fill = !cfg_.fill;
  const bool no_verify = !cfg_.verify;
  const bool fresh_keys = cfg_.fresh_keys;
  const auto timeout = cfg_.timeout;
  const auto& payloads = payloads_;
  const auto& digests = digests_;
  const auto& weights = cfg_.weights;
  const std::uint64_t seed = cfg_.seed;
  const auto timed_from = timed_from_;
  const auto wait_deadline = wait_deadline_;
  const auto issuing = [this] { return this->issuing(); };
  const auto key_of = KeyOf;
  const auto fresh_key_of = FreshKeyOf;
  std::atomic<bool>& stop = stop_;
  std::atomic<std::uint64_t>& done_ops = done_ops_;
  std::atomic<std::uint64_t>& done_bytes = done_bytes_;

  lmc::client::Client client(env, options);
  std::mt19937_64 rng(seed + conn);
  std::discrete_distribution<int> pick({weights[0], weights[1], weights[2]});
  lmc::protocol::PutFields fields{5, 0, {}};
  // Warm-up: blocking PUTs, each within --timeout-ms; a connection whose
  // server does not take them (refused, silent) stops here.
  bool warm = true;
  for (std::size_t s = 0; s < sizes.size() && warm && !no_fill; ++s) {
    for (unsigned k = 0; k < keys && warm; ++k) {
      if (!issuing()) {
        warm = false;
        break;
      }
      fields.shape = {static_cast<std::int32_t>(sizes[s]), 0, 0, 0};
      const auto r = client.Put(key_of(conn, s, k), fields, payloads[s][k]);
      if (r.status != CallStatus::kOk) {
        st.Error(0, Reason(r.status));
        if (EndsConnection(r.status)) warm = false;
      }
    }
  }
  // PUT has no reply: an EXIST per connection makes sure the PUTs landed.
  if (warm && issuing()) {
    const auto r = client.Exist(key_of(conn, 0, 0));
    if (r.status == CallStatus::kMiss) {
      ++st.misses;
    } else if (r.status != CallStatus::kOk) {
      st.Error(2, Reason(r.status));
      if (EndsConnection(r.status)) warm = false;
    }
  }
  if (!warm) {
    client.Close();
    return;
  }
  // `depth` lanes, each one request after another, driven from the
  // connection's I/O thread: a completion records its result and issues
  // the lane's next request right there, with no thread hand-off (as
  // redis-benchmark's event loop does). Each lane has its own GET buffer.
  // Bodies are checked as they arrive: each piece is hashed (XXH3-64,
  // streaming) right after it was received, while still in cache, and the
  // digest is compared with the pattern's when the GET completes (a second
  // pass over a 32 MiB body, out of L3, cost a 1-connection GET ~20%).
  // These calls have no deadline of their own: the wait below is theirs.
  std::vector<std::vector<std::byte>> buffers(depth);
  for (auto& b : buffers) b.resize(*std::max_element(sizes.begin(), sizes.end()));
  std::vector<std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>> hashes;
  for (unsigned d = 0; d < depth; ++d) hashes.emplace_back(XXH3_createState(), &XXH3_freeState);
  std::mutex mu;  // guards the fields below, rng and st
  std::condition_variable lanes_done;
  unsigned lanes_open = depth;
  std::uint64_t issued = 0;
  std::uint64_t fresh = 0;  // fresh keys written
  bool abandon = false;
  // Per lane: when its call in flight was issued, and, once the
  // connection is abandoned, why that call is an error.
  std::vector<std::optional<Clock::time_point>> in_flight(depth);
  std::vector<std::string_view> verdict(depth);
  const auto end_lane = [&] {
    if (--lanes_open == 0) lanes_done.notify_all();
  };
  std::function<void(unsigned)> issue = [&](unsigned lane) {
    int op;
    std::size_t s;
    unsigned k;
    Clock::time_point t0;
    std::string key;
    {
      std::lock_guard lock(mu);
      if (stop || abandon || !issuing() || (ops_limit != 0 && issued >= ops_limit)) return end_lane();
      ++issued;
      s = rng() % sizes.size();
      k = static_cast<unsigned>(rng() % keys);
      op = pick(rng);
      key = op == 0 && fresh_keys ? fresh_key_of(conn, fresh++) : key_of(conn, s, k);
      t0 = Clock::now();
      in_flight[lane] = t0;
    }
    // Runs on the I/O thread; completions of one connection never overlap.
    auto done = [&, lane, op, s, k, t0](const lmc::client::CallResult& r) {
      {
        // Uncontended but needed: a call that fails at once (no connection)
        // completes on the calling thread, not the I/O thread.
        std::lock_guard lock(mu);
        in_flight[lane].reset();
        if (!verdict[lane].empty()) {
          // Past its deadline (or the run's): closing the connection ended it.
          st.Error(op, verdict[lane]);
          return end_lane();
        }
        // Errors and body mismatches count in the warm-up too; the rest
        // only from timed_from on.
        if (r.status != CallStatus::kOk && r.status != CallStatus::kMiss) st.Error(op, Reason(r.status));
        if (op == 1 && r.status == CallStatus::kOk && !no_verify) {
          const std::size_t got = r.in_place_bytes != 0 ? r.in_place_bytes : r.body.size();
          if (got != sizes[s] || XXH3_64bits_digest(hashes[lane].get()) != digests[s][k]) ++st.mismatches;
        }
        const auto now = Clock::now();
        if (now >= timed_from) {
          st.latency_ns[op].push_back(static_cast<std::uint64_t>((now - t0).count()));
          if (r.status == CallStatus::kMiss) ++st.misses;
          const std::size_t moved = op == 2 || r.status != CallStatus::kOk ? 0 : sizes[s];
          st.bytes += moved;
          done_ops.fetch_add(1, std::memory_order_relaxed);
          done_bytes.fetch_add(moved, std::memory_order_relaxed);
        }
        if (EndsConnection(r.status)) return end_lane();  // rather than spin on errors
      }
      issue(lane);
    };
    if (op == 0) {
      const lmc::protocol::PutFields put_fields{5, 0, {static_cast<std::int32_t>(sizes[s]), 0, 0, 0}};
      client.PutAsync(key, put_fields, payloads[s][k], std::move(done));
    } else if (op == 1) {
      lmc::protocol::BodyObserver observe;
      if (!no_verify) {
        XXH3_state_t* h = hashes[lane].get();
        XXH3_64bits_reset(h);
        observe = [h](std::span<const std::byte> piece) { XXH3_64bits_update(h, piece.data(), piece.size()); };
      }
      client.GetAsync(key, buffers[lane], std::move(observe), std::move(done));
    } else {
      client.ExistAsync(key, std::move(done));
    }
  };
  for (unsigned lane = 0; lane < depth; ++lane) issue(lane);
  {
    // The deadlines: a call in flight for longer than --timeout-ms, or
    // anything still in flight at wait_deadline, abandons the connection;
    // closing the client then completes whatever is pending.
    std::unique_lock lock(mu);
    while (lanes_open != 0) {
      const auto now = Clock::now();
      bool late = now >= wait_deadline;
      // Woken at least once per timeout: a call issued after `now` is
      // due no earlier than that.
      auto wake = std::min(wait_deadline, now + timeout);
      for (const auto& t : in_flight) {
        if (!t) continue;
        late = late || now >= *t + timeout;
        wake = std::min(wake, *t + timeout);
      }
      if (!late) {
        lanes_done.wait_until(lock, wake);
        continue;
      }
      abandon = true;
      for (unsigned lane = 0; lane < depth; ++lane) {
        if (!in_flight[lane]) continue;
        verdict[lane] =
            now >= *in_flight[lane] + timeout ? "timed out" : "abandoned (another call on its connection timed out)";
      }
      lock.unlock();
      client.Close();
      lock.lock();
      if (!lanes_done.wait_for(lock, std::chrono::seconds(10), [&] { return lanes_open == 0; })) {
        std::fprintf(stderr, "lmcache-bench: connection %u did not wind down; giving up\n", conn);
        std::_Exit(1);
      }
    }
  }
  // PUT has no reply: one EXIST, answered after every PUT before it, so
  // that the run ends only when the server has all the bytes counted.
  if (!abandon) {
    const auto r = client.Exist(key_of(conn, 0, 0));
    if (r.status != CallStatus::kOk && r.status != CallStatus::kMiss) {
      std::lock_guard lock(mu);
      st.Error(2, Reason(r.status));
    }
  }
  client.Close();
}

}  // namespace

std::size_t ParseSize(const std::string& s) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || !std::isfinite(v) || v < 0) {
    throw std::invalid_argument("bad size '" + s + "' (want a number of bytes with an optional K, M or G suffix)");
  }
  const std::string unit = s.substr(used);
  double mult = 1;
  if (unit == "K" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    throw std::invalid_argument("bad size unit in '" + s + "'");
  const double bytes = v * mult;
  if (bytes > static_cast<double>(kMaxObjectBytes)) {
    throw std::invalid_argument("size '" + s + "' is over the protocol's largest object, " +
                                std::to_string(kMaxObjectBytes) + " bytes (its length field is an int32)");
  }
  return static_cast<std::size_t>(bytes);
}

bool ParseMix(const std::string& mix, std::array<double, 3>* weights, std::string* error) {
  *weights = {0, 0, 0};
  std::stringstream ss(mix);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    const std::string name = item.substr(0, eq);
    double w = -1;
    std::size_t used = 0;
    if (eq != std::string::npos) {
      try {
        w = std::stod(item.substr(eq + 1), &used);
      } catch (const std::exception&) {
        w = -1;
      }
    }
    const bool whole = eq != std::string::npos && used != 0 && used == item.size() - eq - 1;
    if (!whole || !std::isfinite(w) || w < 0) {
      *error = "--mix: bad item '" + item + "' (want NAME=WEIGHT, a weight of 0 or more)";
      return false;
    }
    if (name == "put") {
      (*weights)[kPut] = w;
    } else if (name == "get") {
      (*weights)[kGet] = w;
    } else if (name == "exist") {
      (*weights)[kExist] = w;
    } else {
      *error = "--mix: unknown command '" + name + "' (put, get or exist)";
      return false;
    }
  }
  if ((*weights)[kPut] + (*weights)[kGet] + (*weights)[kExist] <= 0) {
    *error = "--mix: every weight is 0";
    return false;
  }
  return true;
}

void Stats::Error(int op, std::string_view why) {
  ++errors;
  ++reasons[std::string(kOpNames[op]) + " " + std::string(why)];
}

void Stats::Merge(const Stats& other) {
  for (int i = 0; i < 3; ++i)
    latency_ns[i].insert(latency_ns[i].end(), other.latency_ns[i].begin(), other.latency_ns[i].end());
  bytes += other.bytes;
  errors += other.errors;
  for (const auto& [why, n] : other.reasons) reasons[why] += n;
  misses += other.misses;
  mismatches += other.mismatches;
}

BenchResult RunBench(const BenchConfig& config) { return Driver(config).Run(); }

}  // namespace lmc::tools::bench
