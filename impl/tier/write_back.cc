#include "tier/write_back.h"

#include <cstring>

#include <xxhash.h>

#include "base/check.h"
#include "tier/record.h"
#include "tier/tier.h"
#include "wire/text.h"

namespace lmc::tier {

WriteBack::WriteBack(runtime::Env& env, std::shared_ptr<Index> index,
                     std::vector<std::shared_ptr<l2::L2Adapter>> adapters, std::string run_salt,
                     std::size_t max_pending_bytes, bool shared)
    : env_(env),
      index_(std::move(index)),
      adapters_(std::move(adapters)),
      run_salt_(std::move(run_salt)),
      staging_(l2::TempPool::Create(max_pending_bytes)),
      shared_(shared) {
  for (const auto& a : adapters_) writers_.push_back(a->ReportStatus().type.substr(0, kRecordWriterMax));
}

l2::ObjectKey WriteBack::NameFor(const std::string& key) {
  l2::ObjectKey okey = ObjectKeyFor(key, run_salt_ + "-" + wire::ToHex(next_seq_.fetch_add(1)));
  LMC_DCHECK(okey.chunk_hash.size() == 16, "an XXH3-128 digest of ", okey.chunk_hash.size(), " bytes");
  return okey;
}

void WriteBack::OnEvict(const std::string& key, const store::L1Store::ObjectRef& object) {
  LMC_CHECK(object != nullptr, "an eviction of '", key, "' with no object");
  if (!index_->OnEviction(key, object)) return;  // its L2 copy stands
  if (adapters_.empty() || adapters_.size() > 64 || index_->closed()) {
    index_->Count(&TierStats::evictions_dropped);
    return;
  }
  // The copy runs without the index lock (L1 gets the room back when we
  // return), so EXIST and LIST on other I/O threads never wait for it.
  std::optional<std::vector<l2::TempPool::Buffer>> staged = staging_->ReserveBatch({object->size()});
  if (!staged) {
    index_->Count(&TierStats::evictions_dropped);
    return;
  }
  auto e = std::make_shared<Entry>();
  e->staged = std::make_shared<l2::TempPool::Buffer>(std::move((*staged)[0]));
  object->CopyTo(e->staged->data());
  e->key = key;
  e->okey = NameFor(key);
  e->meta = object->meta();
  e->layout = LayoutOf(e->meta);
  e->writes_left = adapters_.size();
  const std::span<const std::byte> bytes = e->staged->data();
  if (!index_->Insert(e)) {
    index_->Count(&TierStats::evictions_dropped);
    return;
  }
  // Outside the lock: a closed adapter completes at once, into OnWriteDone.
  // The entry (with its staged copy and layout) lives until the last write
  // completed.
  const auto written_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(env_.Now().time_since_epoch()).count());
  for (std::size_t i = 0; i < adapters_.size(); ++i) {
    // The record goes in once the object is there (and raw: a null layout
    // passes a serde wrapper unserialised). A record that fails to store
    // costs only the restart: this run still serves the object.
    auto record = std::make_shared<const std::string>(EncodeRecord(Record{key, e->meta, written_ns, writers_[i]}));
    std::shared_ptr<l2::L2Adapter> adapter = adapters_[i];
    adapter->StoreThen(
        {{e->okey, bytes, &e->layout}}, [index = index_, e, i, adapter, record, shared = shared_ && i == 0](bool ok) {
          if (!ok || record->empty()) {
            if (record->empty()) index->Count(&TierStats::records_failed);
            return index->OnWriteDone(e, i, ok);
          }
          adapter->StoreThen({{RecordKeyOf(e->okey), std::as_bytes(std::span(*record)), nullptr}},
                             [index, e, i, record, adapter, shared](bool record_ok) {
                               if (!record_ok) index->Count(&TierStats::records_failed);
                               if (!record_ok || !shared) return index->OnWriteDone(e, i, true);
                               // Shared: the key's pointer names this object now (the record is there).
                               auto salt = std::make_shared<const std::string>(e->okey.cache_salt);
                               adapter->StoreThen({{PointerKeyOf(e->key), std::as_bytes(std::span(*salt)), nullptr}},
                                                  [index, e, i, salt](bool pointer_ok) {
                                                    if (!pointer_ok) index->Count(&TierStats::records_failed);
                                                    index->OnWriteDone(e, i, true);
                                                  });
                             });
        });
  }
}

}  // namespace lmc::tier
