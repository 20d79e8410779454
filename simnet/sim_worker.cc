#include "simnet/sim.h"

namespace lmc::simnet::internal {

std::unique_ptr<WorkerProc> Sim::StartWorker() {
  auto p = std::make_unique<WorkerProc>();
  p->view = std::make_unique<DiskView>(worker_disk_);
  p->env = std::make_unique<SimEnv>(world_, net_.TransportOf(kWorker), p->view.get(), s_.seed * 137 + 7);
  nlohmann::json cfg = {{"type", "fs"},
                        {"base_path", "/w/l2"},
                        {"num_workers", 2},
                        {"serde", {{"type", s_.batch_serde}, {"temp_budget_bytes", 1 << 20}}}};
  if (s_.batch_serde == "aesgcm") cfg["serde"]["master_key_path"] = "/keys/master";
  std::string error;
  p->adapter = l2::MakeAdapter(cfg, *p->env, &error);
  if (!p->adapter) {
    Fail("the worker's adapter did not start: " + error);
    return p;
  }
  p->wrapper = dynamic_cast<l2::SerdeL2Wrapper*>(p->adapter.get());
  return p;
}

void Sim::WorkerActor() {
  worker_ = StartWorker();
  const bool honest_disk = s_.disk.fsync_lie_chance == 0 && !s_.bit_flips;
  bool crashed_since_load = false;
  bool verify_next = false;  // after a restart: load what was stored (LMCache looks its keys up again)
  for (Op op : s_.worker_ops) {
    SimEnv& env = *worker_->env;
    env.SleepUntil(env.Now() + std::chrono::microseconds(op.pause_us));
    if (worker_crashed_) {
      // Restart on the same disk.
      if (worker_->adapter) worker_->adapter->Close();
      dead_workers_.push_back(std::move(worker_));
      worker_ = StartWorker();
      worker_crashed_ = false;
      crashed_since_load = true;
      verify_next = true;
    }
    if (!worker_->adapter) break;
    if (verify_next) {
      op.kind = Op::Kind::kLoad;
      verify_next = false;
    }
    WorkerProc& w = *worker_;
    auto done = std::shared_ptr<runtime::Waiter>(w.env->MakeWaiter());
    struct Result {
      bool ok = false;
      l2::LoadResult load;
      bool finished = false;
    };
    auto result = std::make_shared<Result>();
    std::vector<std::uint64_t> keys;
    std::vector<std::vector<std::byte>> buffers;
    std::vector<serde::Layout> layouts;
    if (op.kind == Op::Kind::kStore) {
      for (int i = 0; i < op.count; ++i) keys.push_back(next_worker_key_++);
    } else {
      for (int i = 0; i < op.count; ++i) {
        // Mostly keys stored before (any of them), sometimes a key never stored.
        if (worker_keys_.empty() || (!crashed_since_load && world_.sched_rng().Chance(0.15))) {
          keys.push_back(1'000'000 + world_.sched_rng().Below(1000));
        } else {
          auto it = worker_keys_.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(world_.sched_rng().Below(worker_keys_.size())));
          if (std::find(keys.begin(), keys.end(), it->first) == keys.end()) keys.push_back(it->first);
        }
      }
    }
    std::vector<serde::ObjectKey> okeys;
    for (std::uint64_t k : keys) {
      serde::ObjectKey ok;
      ok.model_name = "sim";
      ok.chunk_hash.resize(16);
      std::memcpy(ok.chunk_hash.data(), &k, sizeof k);
      okeys.push_back(std::move(ok));
    }
    layouts.reserve(keys.size());
    buffers.reserve(keys.size());
    if (op.kind == Op::Kind::kStore) {
      std::vector<l2::StoreItem> items;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::uint64_t id = next_id_++;
        worker_keys_[keys[i]] = {id, op.elements, false};
        buffers.push_back(ValueOf(id, op.elements));
        layouts.push_back(Bf16Layout(op.elements));
      }
      for (std::size_t i = 0; i < keys.size(); ++i) items.push_back({okeys[i], buffers[i], &layouts[i]});
      w.adapter->StoreThen(std::move(items), [done, result](bool ok) {
        result->ok = ok;
        result->finished = true;
        done->Notify();
      });
    } else {
      std::vector<l2::LoadItem> items;
      for (std::uint64_t k : keys) {
        const auto it = worker_keys_.find(k);
        const std::uint32_t elements = it != worker_keys_.end() ? it->second.elements : op.elements;
        buffers.emplace_back(std::size_t{elements} * 2);
        layouts.push_back(Bf16Layout(elements));
      }
      for (std::size_t i = 0; i < keys.size(); ++i) items.push_back({okeys[i], buffers[i], &layouts[i], true});
      w.adapter->LoadThen(std::move(items), [done, result](l2::LoadResult r) {
        result->load = std::move(r);
        result->finished = true;
        done->Notify();
      });
    }
    if (!done->WaitUntil(env.Now() + std::chrono::seconds(30))) {
      Fail("worker: a " + std::string(OpName(op.kind)) + " of " + std::to_string(keys.size()) +
           " keys did not complete in 30 s");
      break;
    }
    world_.trace().Add(9, result->ok ? 1 : 0, result->load.loaded.size());
    if (op.kind == Op::Kind::kStore) {
      if (result->ok) {
        for (std::uint64_t k : keys) worker_keys_[k].ok = true;
      } else {
        Probe("path: a wrapped store failed");
      }
    } else {
      const l2::LoadResult& r = result->load;
      if (r.loaded.size() != keys.size()) {
        Fail("worker: a load of " + std::to_string(keys.size()) + " keys answered " + std::to_string(r.loaded.size()) +
             " bits");
      } else {
        bool all_stored_ok = true, any = false;
        for (std::size_t i = 0; i < keys.size(); ++i) {
          const auto it = worker_keys_.find(keys[i]);
          const bool stored_ok = it != worker_keys_.end() && it->second.ok;
          all_stored_ok = all_stored_ok && stored_ok;
          if (!r.loaded[i]) continue;
          any = true;
          if (it == worker_keys_.end()) {
            Fail("worker: a key never stored loaded");
            continue;
          }
          std::vector<std::byte> want = ValueOf(it->second.id, it->second.elements);
          if (s_.batch_serde == "fp8") {  // the fp8 round trip of the stored value
            if (std::optional<std::vector<std::byte>> back = Fp8RoundTrip(want, it->second.elements))
              want = std::move(*back);
          }
          if (buffers[i] != want)
            Fail("worker: a wrapped load reported key " + std::to_string(keys[i]) +
                 " loaded with bytes its store did not write");
        }
        if (any && crashed_since_load) Probe("recovery: the worker restarted and loaded a stored object");
        if (!any) Probe("path: a wrapped load loaded nothing");
        if (honest_disk && all_stored_ok && !any)
          Fail("worker: a load of " + std::to_string(keys.size()) +
               " keys whose stores all succeeded loaded none (a stored object was lost)");
        else if (honest_disk && all_stored_ok && std::find(r.loaded.begin(), r.loaded.end(), false) != r.loaded.end())
          Fail("worker: a load of keys whose stores all succeeded loaded only some");
        if (any) crashed_since_load = false;
      }
    }
    // Nothing left over after the batch (the completion's job ends first).
    env.SleepUntil(env.Now() + milliseconds(1));
    if (worker_crashed_) continue;
    if (w.wrapper && w.wrapper->temps().outstanding() != 0)
      Fail("worker: " + std::to_string(w.wrapper->temps().outstanding()) + " temp buffers left after a " +
           std::string(OpName(op.kind)));
    if (!w.view->created().empty())
      Fail("worker: temp file " + *w.view->created().begin() + " left after a " + std::string(OpName(op.kind)));
    if (w.env->jobs_in_flight() != 0) Fail("worker: jobs left running after a batch");
  }
  if (worker_ && worker_->adapter) worker_->adapter->Close();
  --actors_left_;
}

}  // namespace lmc::simnet::internal
