#include "tier/tier.h"

#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "base/mutex.h"
#include "tier/record.h"
#include "wire/text.h"
#include "wire/wire_format.h"

namespace lmc::tier {
namespace {

constexpr auto kCloseWait = std::chrono::seconds(60);
constexpr auto kAnswerMargin = std::chrono::seconds(1);

}  // namespace

serde::Layout LayoutOf(const store::ObjectMeta& meta) {
  const std::int64_t length = meta.length < 0 ? 0 : meta.length;
  // The wire code's torch name, read as a serde dtype: "None" (a byte
  // buffer) and unknown codes give none.
  if (const std::optional<serde::DType> dtype = serde::ParseDType(wire::DtypeCodeName(meta.dtype))) {
    std::vector<std::int64_t> shape;
    for (std::int32_t d : meta.shape) {
      if (d <= 0) break;
      shape.push_back(d);
    }
    const std::optional<std::uint64_t> n = serde::NumElements(shape);
    if (!shape.empty() && n && *n * serde::DTypeBytes(*dtype) == static_cast<std::uint64_t>(length))
      return serde::Layout{{{std::move(shape), *dtype}}};
  }
  return serde::Layout{{{{length}, serde::DType::kUInt8}}};
}

std::shared_ptr<Tier> Tier::Create(runtime::Env& env, const std::shared_ptr<store::L1Store>& l1,
                                   std::vector<std::shared_ptr<l2::L2Adapter>> adapters, TierOptions options) {
  std::shared_ptr<Tier> tier(new Tier(env, l1, std::move(adapters), std::move(options)));
  std::weak_ptr<WriteBack> weak = tier->write_back_;
  l1->SetEvictionListener([weak](const std::string& key, const store::L1Store::ObjectRef& object) {
    if (auto w = weak.lock()) w->OnEvict(key, object);
  });
  if (tier->options_.recover) tier->StartRecovery();
  return tier;
}

// --- The restart scan ---------------------------------------------------------

namespace {

constexpr std::size_t kRecordBatch = 256;   // records loaded per adapter task
constexpr std::size_t kSkippedNamed = 100;  // skipped records named in the log; the rest counted

std::string Identity(const l2::ObjectKey& k) {
  return k.model_name + "@" + std::to_string(k.kv_rank) + "@" + std::to_string(k.object_group_id) + "@" +
         wire::ToHex(k.chunk_hash) + "@" + k.cache_salt;
}

}  // namespace

// Shared by the scan's completions, which run on the adapters' workers; the
// tier may be gone before the last of them (each then finds the index
// closed).
struct Tier::Recovery {
  std::shared_ptr<Index> index;
  std::vector<std::shared_ptr<l2::L2Adapter>> adapters;
  std::vector<std::string> writers;  // each adapter's ReportStatus().type now
  std::function<void(std::string_view)> log;
  runtime::Env* env = nullptr;
  runtime::Clock::time_point started;
  std::shared_ptr<runtime::Waiter> done;

  base::Mutex mu;
  std::size_t adapters_left = 0;
  std::size_t records = 0;
  std::size_t skipped = 0;
  // Found so far, by the object's identity: one entry per object, its mask
  // the adapters that hold it.
  std::unordered_map<std::string, std::shared_ptr<Entry>> found;

  void Skip(std::size_t adapter, const l2::ObjectKey& record, std::string_view why) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mu);
      n = ++skipped;
    }
    index->Count(&TierStats::recovery_skipped);
    if (log && n <= kSkippedNamed) {
      log("tier: restart scan skipped adapter " + std::to_string(adapter) + " record " + Identity(record) + ": " +
          std::string(why) + " (not served, left in place)");
    }
  }

  // One batch of adapter `i`'s records, from `from`; the next batch when it
  // is done, and the adapter's end after the last.
  static void LoadBatch(const std::shared_ptr<Recovery>& self, std::size_t i,
                        const std::shared_ptr<std::vector<l2::ObjectKey>>& records,
                        const std::shared_ptr<std::unordered_set<std::string>>& objects, std::size_t from) {
    if (from >= records->size() || self->index->closed()) return self->AdapterDone();
    const std::size_t n = std::min(kRecordBatch, records->size() - from);
    auto buffers = std::make_shared<std::vector<std::byte>>(n * kRecordMaxBytes);
    std::vector<l2::LoadItem> items;
    items.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      items.push_back(
          {(*records)[from + k], std::span(*buffers).subspan(k * kRecordMaxBytes, kRecordMaxBytes), nullptr, false});
    }
    self->adapters[i]->LoadThen(std::move(items), [self, i, records, objects, from, n, buffers](l2::LoadResult r) {
      for (std::size_t k = 0; k < n; ++k) {
        const l2::ObjectKey& rk = (*records)[from + k];
        if (k >= r.loaded.size() || !r.loaded[k]) {
          self->Skip(i, rk, "cannot be read");
          continue;
        }
        const auto bytes = std::string_view(reinterpret_cast<const char*>(buffers->data()) + k * kRecordMaxBytes,
                                            std::min(r.sizes[k], kRecordMaxBytes));
        Record rec;
        if (const RecordError e = DecodeRecord(bytes, &rec); e != RecordError::kOk) {
          self->Skip(i, rk, RecordErrorName(e));
          continue;
        }
        if (rec.writer != self->writers[i]) {
          self->Skip(i, rk, "written by another adapter stack ('" + rec.writer + "', now '" + self->writers[i] + "')");
          continue;
        }
        const std::optional<l2::ObjectKey> okey = ObjectKeyOfRecord(rk);
        if (!okey || objects->count(Identity(*okey)) == 0) {
          self->Skip(i, rk, "its object is gone");
          continue;
        }
        std::lock_guard lock(self->mu);
        std::shared_ptr<Entry>& e = self->found[Identity(*okey)];
        if (!e) {
          e = std::make_shared<Entry>();
          e->key = rec.key;
          e->okey = *okey;
          e->meta = rec.meta;
          e->layout = LayoutOf(rec.meta);
          e->written_ns = rec.written_ns;
          e->recovered = true;
        }
        e->stored_mask |= std::uint64_t{1} << i;
      }
      LoadBatch(self, i, records, objects, from + n);
    });
  }

  void AdapterDone() {
    {
      std::lock_guard lock(mu);
      if (--adapters_left != 0) return;
    }
    std::unordered_map<std::string, std::shared_ptr<Entry>> all;
    std::size_t record_count = 0, skipped_count = 0;
    {
      std::lock_guard lock(mu);
      all = std::move(found);
      record_count = records;
      skipped_count = skipped;
    }
    std::size_t indexed = 0;
    for (const auto& [unused, e] : all) {
      if (index->Recover(e)) ++indexed;
    }
    index->SetRecovering(false);
    if (log) {
      const double seconds = std::chrono::duration<double>(env->Now() - started).count();
      log("tier: restart scan indexed " + std::to_string(indexed) + " keys from " + std::to_string(record_count) +
          " records (" + std::to_string(all.size()) + " objects, " + std::to_string(skipped_count) + " skipped) in " +
          std::to_string(seconds) + " s");
    }
    done->Notify();
  }
};

void Tier::StartRecovery() {
  auto r = std::make_shared<Recovery>();
  r->index = index_;
  r->adapters = adapters_;
  r->writers = write_back_->writers();
  r->log = options_.log;
  r->env = &env_;
  r->started = env_.Now();
  r->done = env_.MakeWaiter();
  r->adapters_left = adapters_.size();
  recovery_done_ = r->done;
  index_->SetRecovering(true);
  for (std::size_t i = 0; i < adapters_.size(); ++i) {
    adapters_[i]->ListThen([r, i](std::optional<std::vector<l2::ObjectKey>> keys) {
      if (!keys) return r->AdapterDone();  // cannot list: nothing to recover there
      auto records = std::make_shared<std::vector<l2::ObjectKey>>();
      auto objects = std::make_shared<std::unordered_set<std::string>>();
      for (l2::ObjectKey& k : *keys) {
        if (k.model_name != kObjectModel) continue;
        if (ObjectKeyOfRecord(k)) {
          records->push_back(std::move(k));
        } else {
          objects->insert(Identity(k));
        }
      }
      {
        std::lock_guard lock(r->mu);
        r->records += records->size();
      }
      Recovery::LoadBatch(r, i, records, objects, 0);
    });
  }
}

bool Tier::WaitRecovered(runtime::Clock::time_point deadline) {
  if (!recovery_done_) return true;
  return recovery_done_->WaitUntil(deadline);
}

Tier::Tier(runtime::Env& env, std::shared_ptr<store::L1Store> l1, std::vector<std::shared_ptr<l2::L2Adapter>> adapters,
           TierOptions options)
    : env_(env),
      l1_(std::move(l1)),
      adapters_(std::move(adapters)),
      options_(std::move(options)),
      index_(std::make_shared<Index>(adapters_)),
      write_back_(std::make_shared<WriteBack>(env, index_, adapters_, "r" + wire::ToHex(options_.run_id),
                                              options_.max_pending_bytes, options_.shared)),
      promotion_(env, *index_, l1_, adapters_, options_.load_timeout, options_.copy_workers, options_.shared) {
  if (options_.shared) index_->KeepEvictedKeys(options_.shared_evicted_slots);
}

TierStats Tier::Stats() const {
  TierStats s = index_->Stats();
  promotion_.AddStats(&s);
  return s;
}

Tier::~Tier() { Close(); }

store::L1Store::ObjectRef Tier::Fetch(const std::string& key) {
  struct Slot {
    base::Mutex mu;
    store::L1Store::ObjectRef object;
  };
  auto slot = std::make_shared<Slot>();
  std::shared_ptr<runtime::Waiter> answered = env_.MakeWaiter();
  FetchAsync(key, [slot, answered](store::L1Store::ObjectRef object) {
    {
      std::lock_guard lock(slot->mu);
      slot->object = std::move(object);
    }
    answered->Notify();
  });
  // The promotion answers within load_timeout; the margin covers its timer.
  if (!answered->WaitUntil(env_.Now() + options_.load_timeout + kAnswerMargin)) return nullptr;
  std::lock_guard lock(slot->mu);
  return std::move(slot->object);
}

void Tier::Close() {
  std::call_once(closed_, [this] {
    index_->Close();     // fetches from here on miss; evictions are dropped
    promotion_.Close();  // the copies back from staging finish
    // The writes in flight complete on the adapters' workers; each adapter
    // bounds its own.
    (void)index_->WaitForWrites(env_, env_.Now() + kCloseWait);
    for (const auto& a : adapters_) a->Close();  // answers every load in flight
  });
}

std::string FormatStats(const TierStats& s) {
  return "l2 evictions_seen " + std::to_string(s.evictions_seen) + " evictions_dropped " +
         std::to_string(s.evictions_dropped) + " stores_ok " + std::to_string(s.stores_ok) + " stores_failed " +
         std::to_string(s.stores_failed) + " hits " + std::to_string(s.l2_hits) + " load_failures " +
         std::to_string(s.l2_load_failures) + " loads_superseded " + std::to_string(s.l2_loads_superseded) +
         " indexed " + std::to_string(s.indexed) + " pending_bytes " + std::to_string(s.pending_bytes) +
         " records_failed " + std::to_string(s.records_failed) + " recovered " + std::to_string(s.recovered) +
         " recovery_skipped " + std::to_string(s.recovery_skipped) + " recovering " + (s.recovering ? "1" : "0") +
         " shared_lookups " + std::to_string(s.shared_lookups) + " shared_hits " + std::to_string(s.shared_hits) + "\n";
}

}  // namespace lmc::tier
