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
// - once the input ends and the replies are written, the session is done.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "protocol/server_session.h"
#include "store/intake_pool.h"
#include "store/l1_store.h"
#include "wire/cache_key.h"
#include "wire/headers.h"

namespace {

using lmc::store::L1Store;
namespace wire = lmc::wire;

constexpr std::size_t kCapacity = 64 << 10;
constexpr std::size_t kPendingOutputMax = 8 << 10;

[[noreturn]] void Fail(const char* why) {
  std::fprintf(stderr, "fuzz_server_session: %s\n", why);
  std::abort();
}

// An L1 store of kCapacity kept across inputs and emptied before each: a
// fresh one maps and unmaps its arena, which cost most of each run (the
// unmap's TLB flush above all). Emptied, the arena's free space is one block
// again, so an input runs the same whatever ran before it.
L1Store& EmptyStore(int which) {
  static std::optional<L1Store> stores[2];
  std::optional<L1Store>& s = stores[which];
  if (s) {
    L1Store::Reservation all;  // evicts every entry that takes room, then goes unpublished
    if (s->Reserve(kCapacity, &all) != L1Store::ReserveError::kOk) s.reset();
  }
  // Anything left (no eviction made room, or an entry survived it): a
  // fresh store, so an input never sees another's objects.
  if (s && (s->Stats().objects != 0 || s->Stats().used_bytes != 0)) s.reset();
  if (!s) s.emplace(L1Store::Options{kCapacity, kCapacity, 0});
  return *s;
}

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
    for (std::size_t i = 0; i < n; ++i)
      r.data()[i] = key.empty() ? static_cast<std::byte>(i) : static_cast<std::byte>(key[i % key.size()]);
    lmc::store::ObjectMeta meta;
    meta.length = static_cast<std::int32_t>(n);
    store_.Publish(key, meta, std::move(r));
    return store_.Get(key);
  }

 private:
  L1Store& store_;
  std::set<std::string> keys_;
};

// Scans the stream delivered so far for PUT headers (at every offset: the
// session's framing is what is under test, not assumed) and records the
// payloads that arrived complete, by key.
class CompletePuts {
 public:
  explicit CompletePuts(std::span<const std::byte> stream) : stream_(stream) {}
  void Delivered(std::size_t n) {
    delivered_ = n;
    for (; next_ + wire::kRequestHeaderBytes <= delivered_; ++next_) {
      wire::RequestView h;
      const auto header = stream_.subspan(next_, wire::kRequestHeaderBytes);
      if (header[0] != std::byte{1} || header[1] != std::byte{0} || header[2] != std::byte{0} ||
          header[3] != std::byte{0})
        continue;  // not a PUT (command 1, little-endian)
      if (wire::DecodeRequestView(header, &h) != wire::WireError::kOk || h.length < 0) continue;
      // Stored under the key's canonical form (wire/cache_key.h: the key
      // grammar, checked against CPython on its own); a key that does not
      // parse stores nothing.
      wire::CacheKey parsed;
      std::string key;
      if (wire::ParseCacheKey(h.key, &parsed) != wire::KeyError::kOk ||
          wire::RenderCacheKey(parsed, &key) != wire::KeyError::kOk)
        continue;
      pending_.push_back({next_ + wire::kRequestHeaderBytes, static_cast<std::size_t>(h.length), std::move(key)});
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->begin + it->length > delivered_) {
        ++it;
        continue;
      }
      const auto payload = stream_.subspan(it->begin, it->length);
      complete_[it->key].insert(std::string(reinterpret_cast<const char*>(payload.data()), payload.size()));
      it = pending_.erase(it);
    }
  }
  bool Has(const std::string& key, std::span<const std::byte> bytes) const {
    const auto it = complete_.find(key);
    return it != complete_.end() &&
           it->second.count(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())) != 0;
  }

 private:
  struct Pending {
    std::size_t begin, length;
    std::string key;
  };
  std::span<const std::byte> stream_;
  std::size_t delivered_ = 0, next_ = 0;
  std::vector<Pending> pending_;
  std::map<std::string, std::set<std::string>> complete_;
};

// Parses the replies written so far: well framed, or a failure.
class ReplyStream {
 public:
  void Add(std::span<const std::byte> bytes) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    for (;;) {
      if (body_left_ > 0) {
        const std::size_t n = std::min(body_left_, buf_.size() - pos_);
        pos_ += n;
        body_left_ -= n;
        if (body_left_ > 0) return;
      }
      if (buf_.size() - pos_ < wire::kReplyHeaderBytes) return;
      wire::ReplyHeader h;
      if (wire::DecodeReply(std::span(buf_).subspan(pos_, wire::kReplyHeaderBytes), &h) != wire::WireError::kOk)
        Fail("a reply header that does not decode");
      if (h.code != 200 && h.code != 400) Fail("a reply code other than 200 and 400");
      if (h.length < 0) Fail("a reply with a negative length");
      pos_ += wire::kReplyHeaderBytes;
      ++replies_;
      // A success with a length carries a body (GET hit, LIST); a FAIL none.
      body_left_ = h.code == 200 ? static_cast<std::size_t>(h.length) : 0;
    }
  }
  std::size_t replies() const { return replies_; }
  bool mid_reply() const { return body_left_ > 0 || pos_ != buf_.size(); }

 private:
  std::vector<std::byte> buf_;
  std::size_t pos_ = 0, body_left_ = 0, replies_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t stream_len = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
  const auto stream = std::as_bytes(std::span(data + 2, stream_len));
  const auto control = std::span(data + 2 + stream_len, size - 2 - stream_len);

  L1Store& store = EmptyStore(0);
  lmc::protocol::ServerCounters counters;
  lmc::protocol::SessionLimits limits;
  limits.pending_output_bytes_max = kPendingOutputMax;
  limits.list_body_bytes_max = 4096;
  FakeL2 l2(EmptyStore(1));
  const bool with_intake = !control.empty() && (control[0] & 1) != 0;
  lmc::store::IntakePool intake(with_intake ? lmc::store::IntakePool::kChunkBytes : 0);
  lmc::protocol::ServerSession session(store, counters, limits, &l2, with_intake ? &intake : nullptr);

  CompletePuts puts(stream);
  ReplyStream replies;
  std::size_t read = 0;
  std::size_t non_put_headers_max = 0;  // every header-sized step of the stream could be a request
  bool eof = false;
  std::string miss_key;
  bool miss_pending = false;

  auto check = [&] {
    for (const std::string& key : store.Keys()) {
      const L1Store::ObjectRef o = store.Get(key);
      if (o && !puts.Has(key, o->data())) Fail("an object in L1 that no complete PUT of its key sent");
    }
    if (store.Stats().used_bytes > kCapacity) Fail("L1 holds more than its capacity");
    if (session.PendingOutputBytes() >
        kPendingOutputMax + kCapacity + wire::kReplyHeaderBytes + limits.list_body_bytes_max)
      Fail("pending reply bytes past the limit plus one reply");
    non_put_headers_max = read / wire::kRequestHeaderBytes;
    if (replies.replies() > non_put_headers_max) Fail("more replies than requests");
  };
  auto do_read = [&](std::size_t want) {
    const std::span<std::byte> buf = session.ReadBuffer();
    if (buf.empty() || eof) return;
    const std::size_t n = std::min({want, buf.size(), stream.size() - read});
    if (n == 0) {
      session.OnEof();
      eof = true;
      return;
    }
    std::memcpy(buf.data(), stream.data() + read, n);
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
    check();
  }
  // Drain: the rest of the stream, every miss answered, every reply written.
  for (int guard = 0; guard < 100000 && !session.Done(); ++guard) {
    do_miss(false);
    do_read(SIZE_MAX);
    do_write(SIZE_MAX);
    check();
  }
  if (!session.Done()) Fail("the session never finished after EOF");
  if (replies.mid_reply()) Fail("the reply stream ended mid-reply");
  return 0;
}
