#include "tier/promotion.h"

#include "base/check.h"
#include "base/mutex.h"
#include "base/plant.h"
#include "tier/record.h"
#include "tier/tier.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>

namespace lmc::tier {

using store::L1Store;

struct Promotion::Fetch {
  std::string key;
  std::shared_ptr<const Entry> entry;
  std::uint64_t mask = 0;    // adapters still to try
  L1Store::Reservation res;  // the room the load takes in L1
  // Where the adapter loads into: the reservation's one piece, or (an object
  // of several chunks) a buffer copied into the reservation's pieces after.
  std::unique_ptr<std::byte[]> buffer;
  std::span<std::byte> target;
  Done done;
  std::atomic<bool> finished{false};
  // Set once FetchAsync returned: an answer found before then (a closed
  // adapter, a full temp budget) goes through the Env's loop instead of
  // re-entering the caller.
  std::atomic<bool> returned{false};
  net::Transport* net = nullptr;
  // Shared with the promotion: a deadline that answers after the tier is
  // gone still has its counters.
  std::shared_ptr<Counters> counters;
  bool shared = false;  // found through the shared adapter's pointer, not the index
};

// The fetches waiting, oldest first, and the one timer. The timer's handler
// holds this (not the Promotion), so a handler that runs late touches only
// this and the fetches it can still lock.
struct Promotion::Deadlines {
  runtime::Env& env;
  base::Mutex mu;
  std::deque<std::pair<runtime::Clock::time_point, std::weak_ptr<Fetch>>> waiting;
  std::unique_ptr<net::Timer> timer;
  bool armed = false;
  bool closed = false;

  explicit Deadlines(runtime::Env& e) : env(e), timer(e.Net().MakeTimer()) {}
  // Drops the answered or gone fetches at the front, and those past their
  // deadline at `now`, which go into `expired`; mu held.
  void PopFrontLocked(runtime::Clock::time_point now, std::vector<std::shared_ptr<Fetch>>* expired) {
    while (!waiting.empty()) {
      auto& [deadline, weak] = waiting.front();
      std::shared_ptr<Fetch> f = weak.lock();
      if (f && !f->finished.load()) {
        if (deadline > now) break;
        expired->push_back(std::move(f));
      }
      waiting.pop_front();
    }
  }
  // Arms the timer for the oldest waiting fetch; mu held, !armed.
  void ArmLocked(const std::shared_ptr<Deadlines>& self) {
    armed = true;
    const auto delay = std::max(waiting.front().first - env.Now(), runtime::Clock::duration::zero());
    timer->AsyncWait(delay, [self](net::NetError e) {
      if (e == net::NetError::kOk) OnTimer(self);
    });
  }
};

Promotion::Promotion(runtime::Env& env, Index& index, std::shared_ptr<L1Store> l1,
                     std::vector<std::shared_ptr<l2::L2Adapter>> adapters, std::chrono::milliseconds load_timeout,
                     unsigned copy_workers, bool shared)
    : env_(env),
      index_(index),
      l1_(std::move(l1)),
      adapters_(std::move(adapters)),
      load_timeout_(load_timeout),
      shared_(shared && !adapters_.empty()),
      counters_(std::make_shared<Counters>()),
      deadlines_(std::make_shared<Deadlines>(env)),
      copies_(env, copy_workers) {}

Promotion::~Promotion() {
  // The handler of an armed timer holds the deadlines: cancel it, so it
  // lets go (on the Env's loop) and re-arms nothing.
  std::lock_guard lock(deadlines_->mu);
  deadlines_->closed = true;
  deadlines_->waiting.clear();
  deadlines_->timer->Cancel();
}

void Promotion::OnTimer(const std::shared_ptr<Deadlines>& d) {
  std::vector<std::shared_ptr<Fetch>> expired;
  {
    std::lock_guard lock(d->mu);
    d->armed = false;
    if (d->closed) return;
    d->PopFrontLocked(d->env.Now(), &expired);
    if (!d->waiting.empty()) d->ArmLocked(d);
  }
  for (const std::shared_ptr<Fetch>& f : expired) Finish(f, nullptr, f->counters->load_failures);
}

void Promotion::AddStats(TierStats* s) const {
  s->l2_hits = counters_->hits.load();
  s->l2_load_failures = counters_->load_failures.load();
  s->l2_loads_superseded = counters_->superseded.load();
  s->shared_lookups = counters_->shared_lookups.load();
  s->shared_hits = counters_->shared_hits.load();
}

void Promotion::MissLater(Done done) {
  env_.Net().Post([done = std::move(done)] { done(nullptr); });
}

namespace {
// A fetch's answer, checked to come once: a second would hand a waiter that
// may be gone a second object.
Promotion::Done AnswerOnce(Promotion::Done done) {
  LMC_CHECK(done != nullptr, "a fetch with no one to answer");
  return [done = std::move(done), answered = std::make_shared<std::atomic<bool>>(false)](L1Store::ObjectRef o) {
    LMC_CHECK(!answered->exchange(true), "a fetch answered twice");
    done(std::move(o));
  };
}
}  // namespace

void Promotion::FetchAsync(std::string key, Done done) {
  FetchBy(std::move(key), AnswerOnce(std::move(done)), env_.Now() + load_timeout_);
}

void Promotion::FetchBy(std::string key, Done done, runtime::Clock::time_point deadline) {
  std::optional<Index::Found> found = index_.Find(key);
  if (!found && index_.recovering()) {
    // The restart scan may not have reached the key: wait for it on a
    // worker, within the GET's deadline, then look again (once).
    copies_.Run(
        [this, key = std::move(key), done = std::move(done), deadline](bool closing) mutable {
          if (closing) return MissLater(std::move(done));
          index_.WaitRecovered(env_, deadline);
          if (index_.recovering() || env_.Now() >= deadline || !index_.Contains(key)) {
            return MissLater(std::move(done));
          }
          FetchBy(std::move(key), std::move(done), deadline);
        },
        runtime::Env::Priority::kUrgent);
    return;
  }
  if (!found && shared_ && !index_.EvictedHere(key)) return FetchShared(std::move(key), std::move(done), deadline);
  if (!found) return MissLater(std::move(done));
  if (found->staged) {
    // Still being written: copy it back from staging, on a worker (a large
    // object would hold the I/O loop).
    copies_.Run(
        [this, key = std::move(key), found = std::move(*found), done = std::move(done)](bool closing) mutable {
          if (closing) return MissLater(std::move(done));  // at once, inside FetchAsync
          L1Store::ObjectRef object;
          L1Store::Reservation res;
          const std::span<const std::byte> bytes = found.staged->data();
          if (l1_->Reserve(bytes.size(), &res) == L1Store::ReserveError::kOk) {
            res.CopyFrom(bytes);
            object = PublishIfCurrent(key, found.entry, std::move(res));
          }
          ++(object ? counters_->hits : counters_->load_failures);
          done(std::move(object));
        },
        runtime::Env::Priority::kUrgent);
    return;
  }
  // Not make_shared: the deadline queue's weak references then keep only
  // the control block, not the fetch.
  std::shared_ptr<Fetch> f(new Fetch);
  f->entry = std::move(found->entry);
  if (!Prepare(*f)) {
    ++counters_->load_failures;
    return MissLater(std::move(done));
  }
  f->key = std::move(key);
  f->mask = found->stored_mask;
  f->done = std::move(done);
  f->net = &env_.Net();
  f->counters = counters_;
  Track(f, deadline);
  LoadFromNext(f);
  f->returned = true;
}

bool Promotion::Prepare(Fetch& f) {
  if (l1_->Reserve(static_cast<std::size_t>(f.entry->meta.length), &f.res) != L1Store::ReserveError::kOk) return false;
  if (f.res.spans().size() == 1) {
    f.target = f.res.spans()[0];
  } else if (f.res.size() != 0) {
    f.buffer = std::make_unique_for_overwrite<std::byte[]>(f.res.size());
    f.target = {f.buffer.get(), f.res.size()};
  }
  return true;
}

void Promotion::Track(const std::shared_ptr<Fetch>& f, runtime::Clock::time_point deadline) {
  std::lock_guard lock(deadlines_->mu);
  // Answered fetches at the front go now, so the queue holds about the
  // fetches in flight.
  // (No deadline is before the earliest time point: none expires here.)
  std::vector<std::shared_ptr<Fetch>> none;
  deadlines_->PopFrontLocked(runtime::Clock::time_point::min(), &none);
  deadlines_->waiting.emplace_back(deadline, f);
  if (!deadlines_->armed && !deadlines_->closed) deadlines_->ArmLocked(deadlines_);
}

void Promotion::FetchShared(std::string key, Done done, runtime::Clock::time_point deadline) {
  ++counters_->shared_lookups;
  std::shared_ptr<Fetch> f(new Fetch);
  f->key = std::move(key);
  f->done = std::move(done);
  f->net = &env_.Net();
  f->counters = counters_;
  f->shared = true;
  Track(f, deadline);
  const std::shared_ptr<l2::L2Adapter>& adapter = adapters_[0];
  auto pointer = std::make_shared<std::array<std::byte, kPointerMaxBytes>>();
  // Each callback runs on the adapter's worker (or at once, if it is closed).
  adapter->LoadThen({{PointerKeyOf(f->key), *pointer, nullptr, false}}, [this, f, pointer](l2::LoadResult r) {
    if (f->finished.load()) return;
    if (r.loaded.empty() || !r.loaded[0]) return Finish(f, nullptr, counters_->shared_misses);
    const std::string salt(reinterpret_cast<const char*>(pointer->data()), r.sizes[0]);
    if (!ValidPointer(salt)) return Finish(f, nullptr, counters_->shared_misses);
    auto e = std::make_shared<Entry>();
    e->key = f->key;
    e->okey = ObjectKeyFor(f->key, salt);
    auto record = std::make_shared<std::array<std::byte, kRecordMaxBytes>>();
    adapters_[0]->LoadThen({{RecordKeyOf(e->okey), *record, nullptr, false}}, [this, f, e, record](l2::LoadResult rr) {
      if (f->finished.load()) return;
      Record rec;
      if (rr.loaded.empty() || !rr.loaded[0] ||
          DecodeRecord({reinterpret_cast<const char*>(record->data()), rr.sizes[0]}, &rec) != RecordError::kOk ||
          rec.key != f->key)
        return Finish(f, nullptr, counters_->shared_misses);
      e->meta = rec.meta;
      e->layout = LayoutOf(rec.meta);
      f->entry = e;
      if (!Prepare(*f)) return Finish(f, nullptr, counters_->load_failures);
      f->mask = 1;
      LoadFromNext(f);
    });
  });
  f->returned = true;
}

void Promotion::LoadFromNext(const std::shared_ptr<Fetch>& f) {
  std::size_t i = 0;
  while (i < adapters_.size() && !(f->mask >> i & 1)) ++i;
  if (i == adapters_.size()) {
    Finish(f, nullptr, counters_->load_failures);
    return;
  }
  f->mask &= ~(std::uint64_t{1} << i);
  const Entry& e = *f->entry;
  // The callback runs on the adapter's worker (or at once, if it is closed).
  adapters_[i]->LoadThen({{e.okey, f->target, &e.layout, true}}, [this, f](l2::LoadResult r) {
    if (f->finished.load()) return;  // given up on: the reservation goes back with `f`
    if (r.loaded.empty() || !r.loaded[0]) return LoadFromNext(f);
    if (f->buffer) f->res.CopyFrom(f->target);
    bool ours = true;
    L1Store::ObjectRef object;
    if (plant::Active(plant::Bug::kPromotionOverwritesNewerPut)) {
      l1_->Publish(f->key, f->entry->meta, std::move(f->res));  // planted: over whatever a PUT put there
      object = l1_->Get(f->key);
    } else if (f->shared) {
      // Another writer's value: not over one this server holds (in L1, or
      // evicted into its own index meanwhile, which is newer here).
      object = l1_->PublishIfAbsent(
          f->key, f->entry->meta, std::move(f->res), [this, &f] { return !index_.Contains(f->key); }, &ours);
    } else {
      // Not over a newer value: one a PUT put in L1 meanwhile is returned
      // instead, and one that already left L1 (evicted, so it superseded
      // this entry) makes this a miss.
      object = PublishIfCurrent(f->key, f->entry, std::move(f->res), &ours);
    }
    if (!object) return Finish(f, nullptr, counters_->load_failures);
    if (f->shared) return Finish(f, std::move(object), counters_->shared_hits);
    if (ours) {
      index_.SetPromoted(f->entry, object);  // ours won (no PUT got there first)
    } else {
      ++counters_->superseded;
    }
    Finish(f, std::move(object), counters_->hits);
  });
}

L1Store::ObjectRef Promotion::PublishIfCurrent(std::string key, const std::shared_ptr<const Entry>& entry,
                                               L1Store::Reservation res, bool* ours) {
  // The check runs under L1's lock (see PublishIfAbsent).
  return l1_->PublishIfAbsent(
      std::move(key), entry->meta, std::move(res), [this, &entry] { return index_.IsCurrent(entry); }, ours);
}

void Promotion::Finish(const std::shared_ptr<Fetch>& f, L1Store::ObjectRef object, std::atomic<std::uint64_t>& count) {
  if (f->finished.exchange(true)) return;
  ++count;
  Done done = std::move(f->done);
  if (!f->returned.load()) {
    f->net->Post([done = std::move(done), object = std::move(object)]() mutable { done(std::move(object)); });
  } else {
    done(std::move(object));
  }
}

}  // namespace lmc::tier
