// ServerSession, stateful: a request stream fed in reads split at points the
// input chooses, with write completions (whole or partial) and L2 miss
// answers interleaved by the input, then EOF and a drain.
//
// Input: [stream length: u16 LE][stream bytes][control bytes...]. Each
// control byte picks the next step (read n bytes, write k bytes, answer a
// miss as found or not); when the controls run out, the rest of the stream
// is read and every reply written.
//
// Oracles, checked after every step:
// - every object in L1 is, byte for byte, the payload of a PUT of that key
//   that arrived complete (nothing is published from a PUT cut short or
//   early, nothing is corrupted);
// - L1 never holds more than its capacity;
// - the reply stream is well framed: each reply header decodes, its code is
//   200 or 400, and a body follows only as its length says;
// - no more replies than non-PUT requests could have asked for;
// - the pending reply bytes stay under the limit plus one reply;
// - once the input ends and the replies are written, the session is done;
//   a session gone gives back the chunks it reserved for a PUT; every
//   reject it counted has a name.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "oracle.h"
#include "protocol/server_session.h"
#include "session_oracles.h"
#include "store/l1_store.h"
#include "stream_mutator.h"
#include "wire/cache_key.h"
#include "wire/headers.h"

namespace {

using lmc::store::L1Store;
namespace wire = lmc::wire;

constexpr std::size_t kCapacity = 64 << 10;
constexpr std::size_t kPendingOutputMax = 8 << 10;

// The "L2" below L1: a miss answered as found gets a value made from the key.
class FakeL2 final : public lmc::protocol::MissSource {
 public:
  explicit FakeL2(L1Store& store) : store_(store) {}
  void FetchAsync(std::string, std::function<void(L1Store::ObjectRef)> done) override { done(nullptr); }
  bool Contains(const std::string& key) override { return keys_.count(key) != 0; }
  std::vector<std::string> Keys() override { return {keys_.begin(), keys_.end()}; }
  L1Store::ObjectRef Found(const std::string& key) {
    keys_.insert(key);
    L1Store::Reservation r;
    const std::size_t n = 16 + key.size();
    if (store_.Reserve(n, &r) != L1Store::ReserveError::kOk) return nullptr;
    std::vector<std::byte> bytes(n);
    for (std::size_t i = 0; i < n; ++i)
      bytes[i] = key.empty() ? static_cast<std::byte>(i) : static_cast<std::byte>(key[i % key.size()]);
    r.CopyFrom(bytes);
    lmc::store::ObjectMeta meta;
    meta.length = static_cast<std::int32_t>(n);
    store_.Publish(key, meta, std::move(r));
    return store_.Get(key);
  }

 private:
  L1Store& store_;
  std::set<std::string> keys_;
};

}  // namespace

LMC_FUZZ_STREAM_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lmc::fuzzing::CheckSplitInReplays({data, size});
  if (size < 2) return 0;
  const std::size_t stream_len = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
  const auto stream = std::as_bytes(std::span(data + 2, stream_len));
  const auto control = std::span(data + 2 + stream_len, size - 2 - stream_len);

  // Two L1s: without intake chunks (a PUT into a full store evicts as its
  // bytes arrive) and with them (it evicts once complete).
  static std::shared_ptr<L1Store> slots[3];
  const bool with_intake = !control.empty() && (control[0] & 1) != 0;
  const std::shared_ptr<L1Store> l1 = with_intake ? lmc::fuzzing::EmptiedStore(slots[2], kCapacity, kCapacity / 4)
                                                  : lmc::fuzzing::EmptiedStore(slots[0], kCapacity);
  L1Store& store = *l1;
  lmc::protocol::ServerCounters counters;
  lmc::protocol::SessionLimits limits;
  limits.pending_output_bytes_max = kPendingOutputMax;
  limits.list_body_bytes_max = 256;  // a dozen keys: LIST's "too large" within max_len
  const std::shared_ptr<L1Store> l2_store = lmc::fuzzing::EmptiedStore(slots[1], kCapacity);
  FakeL2 l2(*l2_store);
  // A pin budget of one small object, so GET hits past it (answered as
  // misses) come up; every pin goes back by the session's end.
  lmc::store::PinBudget pins(64);
  const bool with_pins = !control.empty() && (control[0] & 2) != 0;
  {
    lmc::protocol::ServerSession session(store, counters, limits, &l2, with_pins ? &pins : nullptr);

    lmc::fuzzing::CompletePuts puts(stream);
    lmc::fuzzing::ReplyStream replies;
    std::size_t read = 0;
    std::size_t non_put_headers_max = 0;  // every header-sized step of the stream could be a request
    bool eof = false;
    std::string miss_key;
    bool miss_pending = false;

    // L1's objects are walked whenever the store published or evicted since
    // the last walk, and at the end: an object's bytes written over by a later
    // PUT's reservation show up when that PUT publishes.
    std::uint64_t walked_at = ~std::uint64_t{0};
    auto check = [&](bool walk) {
      const lmc::store::StoreStats stats = store.Stats();
      if (walk || stats.publishes + stats.evictions != walked_at) {
        walked_at = stats.publishes + stats.evictions;
        for (const std::string& key : store.Keys()) {
          const L1Store::ObjectRef o = store.Get(key);
          if (o && !puts.Has(key, *o)) LMC_ORACLE_FAIL("an object in L1 that no complete PUT of its key sent");
        }
      }
      if (stats.used_bytes > stats.capacity_bytes) LMC_ORACLE_FAIL("L1 holds more than its capacity");
      if (session.PendingOutputBytes() >
          kPendingOutputMax + kCapacity + wire::kReplyHeaderBytes + limits.list_body_bytes_max)
        LMC_ORACLE_FAIL("pending reply bytes past the limit plus one reply");
      non_put_headers_max = read / wire::kRequestHeaderBytes;
      if (replies.replies() > non_put_headers_max) LMC_ORACLE_FAIL("more replies than requests");
    };
    auto do_read = [&](std::size_t want) {
      // A scatter read, as the server's transport makes one (a PUT's
      // pieces read ahead).
      std::array<std::span<std::byte>, 4> bufs;
      const std::size_t k = session.ReadBuffers(bufs);
      if (k == 0 || eof) return;
      std::size_t room = 0;
      for (std::size_t i = 0; i < k; ++i) room += bufs[i].size();
      const std::size_t n = std::min({want, room, stream.size() - read});
      if (n == 0) {
        session.OnEof();
        eof = true;
        return;
      }
      for (std::size_t i = 0, done = 0; done < n; ++i) {
        const std::size_t part = std::min(n - done, bufs[i].size());
        std::memcpy(bufs[i].data(), stream.data() + read + done, part);
        done += part;
      }
      read += n;
      puts.Delivered(read);  // before the session sees them: what it publishes must be complete by now
      session.OnRead(n);
    };
    auto do_write = [&](std::size_t want) {
      std::array<std::span<const std::byte>, 16> iov;
      const std::size_t k = session.GatherWrites(iov);
      std::size_t total = 0;
      for (std::size_t i = 0; i < k && total < want; ++i) {
        const std::size_t n = std::min(iov[i].size(), want - total);
        replies.Add(iov[i].first(n));
        total += n;
      }
      if (total > 0) session.OnWritten(total);
    };
    auto do_miss = [&](bool found) {
      if (!miss_pending && session.TakeMissRequest(&miss_key)) miss_pending = true;
      if (!miss_pending) return;
      miss_pending = false;
      session.OnMissResult(found ? l2.Found(miss_key) : nullptr);
    };

    for (std::size_t i = 1; i < control.size(); ++i) {
      const std::uint8_t c = control[i];
      switch (c & 3) {
        case 0: do_read(1 + std::size_t{c} / 4); break;                   // 1..64 bytes
        case 1: do_read(std::size_t{1} << (std::size_t{c} / 16)); break;  // 1..32 KiB
        case 2: do_write(1 + std::size_t{c} / 4 * 97); break;             // partial writes
        case 3: do_miss((c & 4) != 0); break;
      }
      check(false);
    }
    // Drain: the rest of the stream, every miss answered, every reply written.
    for (int guard = 0; guard < 100000 && !session.Done(); ++guard) {
      do_miss(false);
      do_read(SIZE_MAX);
      do_write(SIZE_MAX);
      check(false);
    }
    check(true);
    if (!session.Done()) LMC_ORACLE_FAIL("the session never finished after EOF");
    for (std::size_t r = 0; r < std::size(counters.rejects); ++r) {
      if (counters.rejects[r] != 0 && lmc::protocol::RejectName(static_cast<lmc::protocol::Reject>(r)) == "?")
        LMC_ORACLE_FAIL("a reject counted under no name (the server's --stats could not report it)");
    }
    if (replies.mid_reply()) LMC_ORACLE_FAIL("the reply stream ended mid-reply");
  }  // the session is gone: every reply it held is dropped
  if (pins.in_use_bytes() != 0) LMC_ORACLE_FAIL("a pin outlived the session that took it");
  if (store.Stats().reserved_bytes != 0) LMC_ORACLE_FAIL("a reservation outlived the session that took it");
  store.CheckInvariants();
  return 0;
}
