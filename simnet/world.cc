#include "simnet/world.h"

#include <algorithm>
#include <exception>

#include <xxhash.h>

#include "base/check.h"
#include "base/mutex.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers follow real threads but not swapcontext: under them a
// fiber is a thread and the baton a condition variable.
#define LMC_SIM_THREAD_FIBERS 1
#else
#include <ucontext.h>
#endif

namespace lmc::simnet {
namespace {

std::uint64_t SplitMix(std::uint64_t* x) {
  std::uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// A same-time run this long means a loop that never lets time move (an
// accept retried at once, forever): the world records it and nudges the
// clock so the run still ends.
constexpr std::uint64_t kStepsAtOneTimeMax = 2'000'000;

// The fiber the calling thread is, if it is one of a world's.
thread_local void* tl_fiber = nullptr;
#ifndef LMC_SIM_THREAD_FIBERS
// The world whose new fiber a first switch starts (makecontext passes no
// pointers): the one this thread made last.
thread_local World* tl_starting_world = nullptr;
#endif

std::atomic<std::uint64_t> g_progress{0};

}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (std::uint64_t& s : s_) s = SplitMix(&seed);
}

std::uint64_t Rng::Next() {
  const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::Below(std::uint64_t n) {
  if (n == 0) return 0;
  // Lemire's multiply-shift (the high half of a 64x64 product): unbiased
  // enough for a simulator's choices.
  __extension__ using U128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<U128>(Next()) * n) >> 64);
}

double Rng::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

void Trace::Add(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const std::uint64_t words[4] = {h_, a, b, c};
  h_ = XXH3_64bits(words, sizeof words);
  ++n_;
}

struct World::Fiber {
#ifdef LMC_SIM_THREAD_FIBERS
  std::condition_variable cv;
  std::thread thread;
#else
  ucontext_t uc{};
  std::unique_ptr<char[]> stack;
#endif
  Context ctx = 0;
  bool in_handler = false;
  bool exit = false;
};

struct World::WaitState {
  bool notified = false;
  Fiber* parked = nullptr;
  bool resume_queued = false;
};

class World::SimWaiter final : public runtime::Waiter {
 public:
  explicit SimWaiter(World& w) : w_(w), s_(std::make_shared<WaitState>()) {}
  void Notify() override {
    s_->notified = true;
    if (s_->parked == nullptr || s_->resume_queued) return;
    s_->resume_queued = true;
    w_.Soon(w_.NewContext(), [w = &w_, s = s_] { w->Resume(s); });
  }
  bool WaitUntil(Time deadline) override { return w_.Park(s_, deadline); }

 private:
  World& w_;
  std::shared_ptr<WaitState> s_;
};

World::World(std::uint64_t seed)
    : now_(Time{} + std::chrono::hours(24 * 365)), sched_rng_(seed ^ 0x5eed5c4edULL), main_(std::make_unique<Fiber>()) {
  holder_ = main_.get();
  tl_fiber = main_.get();
#ifndef LMC_SIM_THREAD_FIBERS
  tl_starting_world = this;
#endif
}

World::~World() {
  shutting_down_ = true;
  Fiber* me = main_.get();
  // A parked wait ends (false); its job runs on to its end, and its fiber
  // hands the baton back (see FiberMain).
  while (!parked_waits_.empty()) {
    const std::shared_ptr<WaitState> s = parked_waits_.front();
    Fiber* w = s->parked;
    s->parked = nullptr;
    if (w == nullptr) {
      parked_waits_.erase(parked_waits_.begin());
      continue;
    }
    Transfer(me, w);
  }
  for (Fiber* f : idle_) {
    f->exit = true;
    Transfer(me, f);
#ifdef LMC_SIM_THREAD_FIBERS
    f->thread.join();
#endif
  }
  idle_.clear();
  // The tasks never run: destroying one may free what schedules another
  // (a destructor cancelling its timer), so drain until nothing is left.
  while (!ready_.empty() || !timed_.empty()) {
    auto ready = std::move(ready_);
    auto timed = std::move(timed_);
    ready_.clear();
    ready_list_.clear();
    timed_ = {};
  }
  tl_fiber = nullptr;
}

std::uint64_t World::GlobalProgress() { return g_progress.load(std::memory_order_relaxed); }

World::Context World::current() const {
  const auto* f = static_cast<const Fiber*>(tl_fiber);
  return f ? f->ctx : 0;
}

bool World::InHandler() const {
  const auto* f = static_cast<const Fiber*>(tl_fiber);
  return f && f->in_handler;
}

void World::Schedule(Time at, Context ctx, Task task, bool job) {
  if (at <= now_) {
    Ready& r = ready_[ctx];
    if (r.tasks.empty()) ready_list_.push_back(ctx);
    r.tasks.emplace_back(std::move(task), job);
    return;
  }
  timed_.push({at, seq_++, ctx, job, std::move(task)});
}

void World::Mature() {
  while (!timed_.empty() && timed_.top().at <= now_) {
    // The heap's top is const; its task is moved out just before the pop.
    auto& top = const_cast<Timed&>(timed_.top());
    Ready& r = ready_[top.ctx];
    if (r.tasks.empty()) ready_list_.push_back(top.ctx);
    r.tasks.emplace_back(std::move(top.task), top.job);
    timed_.pop();
  }
}

bool World::Step() {
  Mature();
  if (ready_list_.empty()) {
    if (timed_.empty()) return false;
    now_ = timed_.top().at;
    steps_at_this_time_ = 0;
    Mature();
  }
  const std::size_t i = sched_rng_.Below(ready_list_.size());
  const Context ctx = ready_list_[i];
  auto it = ready_.find(ctx);
  auto [task, job] = std::move(it->second.tasks.front());
  it->second.tasks.pop_front();
  if (it->second.tasks.empty()) {
    ready_.erase(it);
    ready_list_[i] = ready_list_.back();
    ready_list_.pop_back();
  }
  ++steps_;
  g_progress.fetch_add(1, std::memory_order_relaxed);
  if (++steps_at_this_time_ > kStepsAtOneTimeMax) {
    if (steps_at_this_time_ == kStepsAtOneTimeMax + 1)
      Violation("livelock: " + std::to_string(kStepsAtOneTimeMax) + " tasks ran without the clock moving");
    now_ += std::chrono::milliseconds(1);
    steps_at_this_time_ = 0;
  }
  trace_.Add(1, ctx, static_cast<std::uint64_t>(now_.time_since_epoch().count()));

  auto* me = static_cast<Fiber*>(tl_fiber);
  const Context saved_ctx = me->ctx;
  const bool saved_handler = me->in_handler;
  me->ctx = ctx;
  me->in_handler = !job;
  try {
    task();
  } catch (const std::exception& e) {
    Violation(std::string("a task threw: ") + e.what());
  } catch (...) {
    Violation("a task threw a non-standard exception");
  }
  me->ctx = saved_ctx;
  me->in_handler = saved_handler;
  return true;
}

bool World::RunUntil(const std::function<bool()>& done, Time limit) {
  while (!done()) {
    Mature();
    if (ready_list_.empty()) {
      if (timed_.empty()) return false;
      if (timed_.top().at > limit) {
        now_ = std::max(now_, limit);
        return done();
      }
    }
    (void)Step();
  }
  return true;
}

std::unique_ptr<runtime::Waiter> World::MakeWaiter() { return std::make_unique<SimWaiter>(*this); }

bool World::Park(const std::shared_ptr<WaitState>& s, Time deadline) {
  auto* me = static_cast<Fiber*>(tl_fiber);
  if (me == nullptr) {
    Violation("a wait on a thread outside the simulation");
    return s->notified;
  }
  // Checked before the fast path, so a lock held across a wait is caught
  // even when the wait would not block this time.
  LMC_CHECK(base::LocksHeld() == 0, "a wait with ", base::LocksHeld(), " lock(s) held (context ", me->ctx, ")");
  if (s->notified) return true;
  if (me->in_handler) {
    Violation("a blocking wait on a loop (context " + std::to_string(me->ctx) + ")");
    return false;
  }
  if (shutting_down_ || deadline <= now_) return false;
  s->parked = me;
  s->resume_queued = false;
  if (deadline != Time::max()) {
    Schedule(deadline, NewContext(), [this, s] {
      if (s->parked == nullptr || s->resume_queued) return;
      s->resume_queued = true;
      Resume(s);
    });
  }
  parked_waits_.push_back(s);
  ++parked_;
  const Context saved_ctx = me->ctx;
  Transfer(me, IdleFiber());
  // Resumed: by a notification, the deadline, or the world ending.
  --parked_;
  parked_waits_.erase(std::find(parked_waits_.begin(), parked_waits_.end(), s));
  me->ctx = saved_ctx;
  me->in_handler = false;
  trace_.Add(2, saved_ctx, s->notified ? 1 : 0);
  return s->notified;
}

void World::Resume(const std::shared_ptr<WaitState>& s) {
  Fiber* w = s->parked;
  if (w == nullptr) return;
  s->parked = nullptr;
  // The runner idles (main too: the woken fiber hands main the baton back
  // as soon as it is free, see FiberMain, so RunUntil keeps its limits).
  auto* me = static_cast<Fiber*>(tl_fiber);
  idle_.push_back(me);
  Transfer(me, w);
}

void World::Transfer(Fiber* from, Fiber* to) {
#ifdef LMC_SIM_THREAD_FIBERS
  std::unique_lock lock(baton_mu_);
  holder_ = to;
  to->cv.notify_one();
  from->cv.wait(lock, [&] { return holder_ == from; });
#else
  // One thread: the fibers are stacks, and passing the baton is a switch.
  holder_ = to;
  tl_fiber = to;
  swapcontext(&from->uc, &to->uc);
#endif
}

World::Fiber* World::IdleFiber() {
  // Main parked as an idle runner comes first: it returns to RunUntil.
  auto main_idle = std::find(idle_.begin(), idle_.end(), main_.get());
  if (main_idle != idle_.end()) {
    idle_.erase(main_idle);
    return main_.get();
  }
  if (!idle_.empty()) {
    Fiber* f = idle_.back();
    idle_.pop_back();
    return f;
  }
  auto f = std::make_unique<Fiber>();
  Fiber* p = f.get();
  fibers_.push_back(std::move(f));
#ifdef LMC_SIM_THREAD_FIBERS
  p->thread = std::thread([this, p] {
    tl_fiber = p;
    {
      std::unique_lock lock(baton_mu_);
      p->cv.wait(lock, [&] { return holder_ == p; });
    }
    FiberMain(p);
  });
#else
  // Pages of the stack are taken as they are touched.
  constexpr std::size_t kStackBytes = std::size_t{2} << 20;
  p->stack.reset(new char[kStackBytes]);
  PrepareContext(&p->uc, p->stack.get(), kStackBytes);
#endif
  return p;
}

#ifndef LMC_SIM_THREAD_FIBERS
// getcontext "returns twice" to GCC's eye, which then warns that locals may
// be clobbered; this context is only ever entered at FiberEntry, never at
// getcontext's return, so nothing here is.
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
#endif
void World::PrepareContext(ucontext_t* uc, char* stack, std::size_t bytes) {
  (void)getcontext(uc);
  uc->uc_stack.ss_sp = stack;
  uc->uc_stack.ss_size = bytes;
  uc->uc_link = nullptr;
  makecontext(uc, &World::FiberEntry, 0);
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

void World::FiberEntry() {
#ifndef LMC_SIM_THREAD_FIBERS
  // Runs on the new fiber's stack, entered by the Transfer to it: the
  // fiber is the calling thread's current one.
  World* w = tl_starting_world;
  w->FiberMain(static_cast<Fiber*>(tl_fiber));
#endif
}

void World::FiberMain(Fiber* f) {
  while (!f->exit) {
    // A runner runs the world only while main is parked in a wait: when
    // main is idle (it ran a Resume) or the world is ending, main gets
    // the baton back and this fiber idles.
    auto main_idle = std::find(idle_.begin(), idle_.end(), main_.get());
    if (shutting_down_ || main_idle != idle_.end()) {
      if (main_idle != idle_.end()) idle_.erase(main_idle);
      idle_.push_back(f);
      Transfer(f, main_.get());
      continue;
    }
    if (!Step()) EndStuckWaits();
  }
#ifdef LMC_SIM_THREAD_FIBERS
  std::lock_guard lock(baton_mu_);
  holder_ = main_.get();
  main_->cv.notify_one();
#else
  // Never returns: the stack is freed with the world.
  holder_ = main_.get();
  tl_fiber = main_.get();
  (void)setcontext(&main_->uc);
#endif
}

void World::EndStuckWaits() {
  // Nothing is scheduled, and main is parked (else it would be running):
  // every parked wait has no deadline and nothing can notify it.
  Violation("deadlock: " + std::to_string(parked_waits_.size()) + " waits without a deadline can never end");
  for (const std::shared_ptr<WaitState>& s : parked_waits_) {
    if (s->parked == nullptr || s->resume_queued) continue;
    s->resume_queued = true;
    Soon(NewContext(), [this, s] { Resume(s); });
  }
}

}  // namespace lmc::simnet
