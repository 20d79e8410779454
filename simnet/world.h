// The simulated world's core: one virtual clock, seeded generators, and a
// scheduler that runs every ready task on one thread at a time, in an order
// drawn from the seed, so a run replays exactly from its seed.
//
// Tasks. Every task belongs to a context: a stream's handlers, a node's
// loop, or one offloaded job. A context's tasks run in the order they were
// scheduled (what an Asio strand promises); among contexts with a ready
// task the scheduler draws one at random. Time moves only when nothing is
// ready: the clock jumps to the next timed task.
//
// Blocking. The kit's blocking calls (the client's calls, a TaskGroup's
// Close, the tier's Fetch) wait on a runtime::Waiter. A simulated waiter
// parks the thread it runs on and hands the scheduler to another thread
// (one of a pool of "fibers": real threads of which exactly one runs at a
// time, passing a baton), so a job blocked in the middle of its stack
// waits in virtual time while the rest of the world runs on (in the normal
// build a fiber is a stack switched to with swapcontext, all on one
// thread; under ASan and TSan, which do not follow swapcontext, it is a real
// thread and the baton a condition variable). Handlers
// never block (a wait on a loop is a violation the world records); jobs
// may. Which thread runs a task never changes its outcome: the baton
// passes in a fixed order.
//
// Everything here is touched by the thread holding the baton only, so the
// world needs no lock but the baton's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#include <ucontext.h>
#endif

#include "net/transport.h"
#include "runtime/env.h"

namespace lmc::simnet {

using Clock = net::Clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

// xoshiro256** seeded through splitmix64: fast, and the same on every
// platform (std::uniform_int_distribution is not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t Next();
  // Uniform in [0, n); 0 when n is 0.
  std::uint64_t Below(std::uint64_t n);
  // Uniform in [lo, hi].
  std::uint64_t Between(std::uint64_t lo, std::uint64_t hi) { return lo + Below(hi - lo + 1); }
  double Unit();  // [0, 1)
  bool Chance(double p) { return p > 0 && Unit() < p; }

 private:
  std::uint64_t s_[4];
};

// The run's trace: every scheduling decision and every observable outcome
// folded into one 64-bit hash (two runs of a seed must agree on it).
class Trace {
 public:
  void Add(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0);
  std::uint64_t hash() const { return h_; }
  std::uint64_t events() const { return n_; }

 private:
  std::uint64_t h_ = 0x9e3779b97f4a7c15ULL;
  std::uint64_t n_ = 0;
};

class World {
 public:
  using Context = std::uint64_t;
  using Task = std::function<void()>;

  // `seed` feeds every generator; the start time is a fixed, arbitrary
  // point (so that no code sees a zero time point).
  explicit World(std::uint64_t seed);
  // Ends every parked wait (it returns false), then joins the fibers. Call
  // it with the world quiet: what the ended waits do next runs here.
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  Time Now() const { return now_; }
  Rng& sched_rng() { return sched_rng_; }
  Trace& trace() { return trace_; }

  // A fresh context (ids are never reused).
  Context NewContext() { return next_context_++; }
  // The context of the running task (0 outside any).
  Context current() const;
  // True while a handler (not a job) runs on this thread.
  bool InHandler() const;

  // Runs `task` in `ctx` at `at` (at once if in the past), after every task
  // already scheduled in `ctx` for that time. A job may block; a handler
  // may not.
  void Schedule(Time at, Context ctx, Task task, bool job = false);
  void Soon(Context ctx, Task task) { Schedule(now_, ctx, std::move(task)); }

  [[nodiscard]] std::unique_ptr<runtime::Waiter> MakeWaiter();

  // Runs tasks until `done()` holds (checked between tasks) or the clock
  // passes `limit`; false if neither can happen (nothing is left to run).
  // From the thread that made the world, never inside a task.
  bool RunUntil(const std::function<bool()>& done, Time limit);
  // Runs until nothing is scheduled or the clock passes `limit`.
  void RunQuiet(Time limit) {
    (void)RunUntil([] { return false; }, limit);
  }

  std::uint64_t steps() const { return steps_; }
  std::size_t parked() const { return parked_; }
  std::size_t fibers() const { return fibers_.size(); }

  // Violations of the seam's rules the world saw (a wait on a loop, a wait
  // that can never end, a loop that never lets time move).
  const std::vector<std::string>& violations() const { return violations_; }
  void Violation(std::string what) { violations_.push_back(std::move(what)); }

  // Tasks run by every world of the process: a watchdog thread reads it
  // (without the baton) to tell a hang outside the seam from a long run.
  static std::uint64_t GlobalProgress();

 private:
  struct Fiber;
  struct WaitState;
  class SimWaiter;
  struct Timed {
    Time at;
    std::uint64_t seq;
    Context ctx;
    bool job;
    Task task;
    bool operator>(const Timed& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  struct Ready {
    std::deque<std::pair<Task, bool>> tasks;  // (task, is job)
  };

  // One task; false if nothing is scheduled at all.
  bool Step();
  void Mature();
  bool Park(const std::shared_ptr<WaitState>& w, Time deadline);
  void Resume(const std::shared_ptr<WaitState>& w);
  void Transfer(Fiber* from, Fiber* to);
  Fiber* IdleFiber();
  void FiberMain(Fiber* f);
  static void FiberEntry();
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  static void PrepareContext(ucontext_t* uc, char* stack, std::size_t bytes);
#endif
  void EndStuckWaits();

  Time now_;
  Rng sched_rng_;
  Trace trace_;
  Context next_context_ = 1;
  std::uint64_t seq_ = 0;
  std::uint64_t steps_ = 0;
  std::uint64_t steps_at_this_time_ = 0;
  std::priority_queue<Timed, std::vector<Timed>, std::greater<>> timed_;
  std::unordered_map<Context, Ready> ready_;
  std::vector<Context> ready_list_;  // contexts with a ready task
  std::vector<std::string> violations_;

  // Fibers and the baton.
  std::mutex baton_mu_;
  Fiber* holder_ = nullptr;
  std::unique_ptr<Fiber> main_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
  std::vector<Fiber*> idle_;
  std::vector<std::shared_ptr<WaitState>> parked_waits_;  // in park order
  std::size_t parked_ = 0;
  bool shutting_down_ = false;
};

}  // namespace lmc::simnet
