// Oracles shared by the targets that drive a server with request streams
// (fuzz_server_session, fuzz_server_loop): which PUTs arrived complete, and
// whether a reply stream is well framed. Both read the bytes on their own,
// without the code under test. Also the emptied L1 both start each input
// from.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "oracle.h"
#include "store/l1_store.h"
#include "wire/cache_key.h"
#include "wire/headers.h"

namespace lmc::fuzzing {

// The L1 store in `slot`, kept across inputs and emptied before each: a
// fresh store's map and unmap (its TLB flush above all) would cost most of a
// run. A store still referenced from the last input, or not empty after the
// clear, is replaced, so an input never sees another's objects.
inline std::shared_ptr<store::L1Store> EmptiedStore(std::shared_ptr<store::L1Store>& slot, std::size_t capacity,
                                                    std::size_t intake = 0) {
  if (slot && slot.use_count() == 1) {
    slot->Clear();
    if (slot->Stats().objects != 0 || slot->Stats().used_bytes != 0) slot.reset();
  } else {
    slot.reset();
  }
  if (!slot) slot = std::make_shared<store::L1Store>(store::L1Store::Options{capacity, capacity, 0, intake});
  return slot;
}

// Scans the stream delivered so far for PUT headers (at every offset: the
// session's framing is what is under test, not assumed) and records the
// payloads that arrived complete, by key.
class CompletePuts {
 public:
  explicit CompletePuts(std::span<const std::byte> stream) : stream_(stream) {}
  void Delivered(std::size_t n) {
    delivered_ = n;
    static constexpr char kPut[4] = {1, 0, 0, 0};  // command 1, little-endian
    for (; next_ + wire::kRequestHeaderBytes <= delivered_; ++next_) {
      // The next offset that starts with a PUT command (memmem: a byte loop
      // here would pay libFuzzer's comparison tracing on every byte).
      const void* found = memmem(stream_.data() + next_, delivered_ - wire::kRequestHeaderBytes + 4 - next_, kPut, 4);
      if (found == nullptr) {
        next_ = delivered_ - wire::kRequestHeaderBytes + 1;
        break;
      }
      next_ = static_cast<std::size_t>(static_cast<const std::byte*>(found) - stream_.data());
      wire::RequestView h;
      const auto header = stream_.subspan(next_, wire::kRequestHeaderBytes);
      // The field-by-field reference decoder, not the key-scan kernel the
      // session under test uses.
      if (wire::detail::DecodeRequestFields(header, &h) != wire::WireError::kOk || h.length < 0) continue;
      // Stored under the key's canonical form (wire/cache_key.h: the key
      // grammar, checked against CPython on its own); a key that does not
      // parse stores nothing.
      const std::string* key = Canonical(h.key);
      if (key == nullptr) continue;
      pending_.push_back({next_ + wire::kRequestHeaderBytes, static_cast<std::size_t>(h.length), *key});
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->begin + it->length > delivered_) {
        ++it;
        continue;
      }
      complete_[it->key].push_back(stream_.subspan(it->begin, it->length));
      it = pending_.erase(it);
    }
  }
  // The same for a stored object (its bytes in chunks).
  bool Has(std::string_view key, const store::L1Store::Object& o) const {
    const auto it = complete_.find(key);
    if (it == complete_.end()) return false;
    for (const std::span<const std::byte> payload : it->second)
      if (o.Equals(payload)) return true;
    return false;
  }
  bool Has(std::string_view key, std::span<const std::byte> bytes) const {
    const auto it = complete_.find(key);
    if (it == complete_.end()) return false;
    // memcmp, not std::equal: a byte loop in instrumented code pays
    // libFuzzer's comparison tracing on every byte.
    for (const std::span<const std::byte> payload : it->second) {
      if (payload.size() == bytes.size() &&
          (bytes.empty() || std::memcmp(payload.data(), bytes.data(), bytes.size()) == 0))
        return true;
    }
    return false;
  }

 private:
  // The canonical form of a key, or null if it does not parse; remembered
  // across inputs (the mutator's keys come from a small pool).
  // Hashed with std::hash (libstdc++'s own code, not instrumented), so a
  // look-up costs one hash and one comparison.
  static const std::string* Canonical(std::string_view raw) {
    struct Entry {
      std::string raw;
      std::optional<std::string> canonical;
    };
    static std::unordered_map<std::size_t, Entry> cache;
    const std::size_t h = std::hash<std::string_view>{}(raw);
    auto it = cache.find(h);
    if (it == cache.end() || it->second.raw != raw) {
      if (cache.size() >= 4096) cache.clear();
      wire::CacheKey parsed;
      std::string key;
      Entry e{std::string(raw), std::nullopt};
      if (wire::ParseCacheKey(raw, &parsed) == wire::KeyError::kOk &&
          wire::RenderCacheKey(parsed, &key) == wire::KeyError::kOk)
        e.canonical = std::move(key);
      it = cache.insert_or_assign(h, std::move(e)).first;
    }
    return it->second.canonical ? &*it->second.canonical : nullptr;
  }

  struct Pending {
    std::size_t begin, length;
    std::string key;
  };
  std::span<const std::byte> stream_;
  std::size_t delivered_ = 0, next_ = 0;
  std::vector<Pending> pending_;
  // The payloads of the PUTs that arrived whole, by key: views of the stream.
  std::map<std::string, std::vector<std::span<const std::byte>>, std::less<>> complete_;
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
        LMC_ORACLE_FAIL("a reply header that does not decode");
      if (h.code != 200 && h.code != 400) LMC_ORACLE_FAIL("a reply code other than 200 and 400");
      if (h.length < 0) LMC_ORACLE_FAIL("a reply with a negative length");
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

}  // namespace lmc::fuzzing
