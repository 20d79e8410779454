#include "protocol/server_session.h"

#include <utility>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "base/check.h"
#include "base/plant.h"
#include "wire/cache_key.h"

namespace lmc::protocol {

using wire::Command;
using wire::ReplyHeader;
using wire::RequestView;

std::string_view RejectName(Reject r) {
  switch (r) {
    case Reject::kUnknownCommand: return "unknown_command";
    case Reject::kNegativeLength: return "negative_length";
    case Reject::kBadKey: return "bad_key";
    case Reject::kTooLarge: return "too_large";
    case Reject::kNoSpace: return "no_space";
    case Reject::kListTooLarge: return "list_too_large";
    case Reject::kTruncated: return "truncated";
    case Reject::kPinnedFull: return "pinned_full";
    case Reject::kCount: break;
  }
  return "?";
}

namespace {
// §1.5: the fields of a reply that carries no object.
ReplyHeader DummyReply(wire::ReturnCode code) {
  ReplyHeader r;
  r.code = static_cast<std::int32_t>(code);
  r.length = 0;
  r.fmt = wire::kDummyFmt;
  r.dtype = wire::kDummyDtype;
  r.shape = {0, 0, 0, 0};
  r.location = 0;
  return r;
}
}  // namespace

std::size_t ServerSession::Chunk::Unwritten(std::span<std::span<const std::byte>> out) const {
  if (out.empty()) return 0;
  switch (kind) {
    case Kind::kHeader: out[0] = std::span(header).first(size).subspan(written); return 1;
    case Kind::kBody: out[0] = std::span<const std::byte>(body).subspan(written); return 1;
    case Kind::kObject: {
      const auto spans = object->spans();
      std::size_t n = 0;
      for (std::size_t i = span; i < spans.size() && n < out.size(); ++i)
        out[n++] = spans[i].subspan(i == span ? span_written : 0);
      return n;
    }
  }
  return 0;
}

void ServerSession::Chunk::Advance(std::size_t n) {
  written += n;
  if (kind != Kind::kObject) return;
  const auto spans = object->spans();
  while (n > 0) {
    const std::size_t take = std::min(n, spans[span].size() - span_written);
    span_written += take;
    n -= take;
    if (span_written == spans[span].size()) {
      ++span;
      span_written = 0;
    }
  }
}

ServerSession::ServerSession(store::L1Store& store, ServerCounters& counters, SessionLimits limits, MissSource* misses,
                             store::PinBudget* pins)
    : store_(store),
      counters_(counters),
      misses_(misses),
      pins_(pins),
      limits_(limits),
      in_(limits.input_buffer_bytes) {
  LMC_CHECK(limits_.input_buffer_bytes >= wire::kRequestHeaderBytes, "an input buffer of ", limits_.input_buffer_bytes,
            " bytes cannot hold a header");
  counters_.connections.fetch_add(1, std::memory_order_relaxed);
}

std::span<std::byte> ServerSession::ReadBuffer() {
  if (closing_ || state_ == State::kAwaitMiss) return {};
  if (state_ == State::kPutPayload) return PutTarget();
  if (state_ == State::kHeader && pending_output_bytes_ > limits_.pending_output_bytes_max) return {};
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (in_.size() - end_ < wire::kRequestHeaderBytes) {
    // Move the unconsumed tail to the front so a whole header fits after it.
    std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  return std::span(in_).subspan(end_);
}

std::size_t ServerSession::ReadBuffers(std::span<std::span<std::byte>> out) {
  if (out.empty()) return 0;
  out[0] = ReadBuffer();
  if (out[0].empty()) return 0;
  if (state_ != State::kPutPayload) return 1;
  std::size_t n = 1;
  std::size_t offered = out[0].size();
  for (std::size_t i = put_span_ + 1; n < out.size() && offered < kReadAheadBytes; ++i) {
    if (i == put_.spans().size() &&
        (put_.complete() || store_.Extend(&put_, /*may_evict=*/false) != store::L1Store::ReserveError::kOk))
      break;
    out[n++] = put_.spans()[i];
    offered += put_.spans()[i].size();
  }
  return n;
}

void ServerSession::OnRead(std::size_t n) {
  counters_.bytes_in.fetch_add(n, std::memory_order_relaxed);
  if (n == 0 || closing_) return;
  if (state_ == State::kPutPayload) {
    AdvancePut(n);
  } else {
    end_ += n;
    LMC_DCHECK(end_ <= in_.size(), "read ", n, " bytes past the input buffer");
  }
  Process();
}

bool ServerSession::TakeMissRequest(std::string* key) {
  if (!miss_requested_) return false;
  miss_requested_ = false;
  *key = std::move(miss_key_);
  return true;
}

void ServerSession::OnMissResult(store::L1Store::ObjectRef object) {
  LMC_CHECK(state_ == State::kAwaitMiss, "a miss result with no GET waiting for one (state ", int(state_), ")");
  Enter(State::kHeader);
  const bool exist = std::exchange(miss_for_exist_, false);
  if (closing_) return;
  if (exist) {
    Reply(DummyReply(object ? wire::ReturnCode::kSuccess : wire::ReturnCode::kFail));
  } else if (object) {
    ReplyHit(std::move(object));
  } else {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    Reply(DummyReply(wire::ReturnCode::kFail));
  }
  Process();  // the requests that arrived behind the GET
}

void ServerSession::OnEof() {
  const bool mid_request = (state_ != State::kHeader && state_ != State::kAwaitMiss) || end_ != begin_;
  if (mid_request && !closing_) counters_.Count(Reject::kTruncated);
  Close();
}

void ServerSession::Close() {
  closing_ = true;
  if (state_ == State::kPutPayload && !put_key_.empty() && plant::Active(plant::Bug::kServerPublishesTruncatedPut)) {
    while (!put_.complete() && store_.Extend(&put_) == store::L1Store::ReserveError::kOk) {
    }
    if (put_.complete()) store_.Publish(std::move(put_key_), put_meta_, std::move(put_));
  }
  put_ = {};  // a PUT cut short is dropped unseen
  begin_ = end_ = 0;
}

void ServerSession::Enter(State next) {
  bool allowed = false;
  switch (state_) {
    case State::kHeader: allowed = next != State::kHeader; break;
    case State::kPutPayload: allowed = next == State::kHeader || next == State::kDiscard; break;
    case State::kDiscard:
    case State::kAwaitMiss: allowed = next == State::kHeader; break;
  }
  LMC_CHECK(allowed, "session state ", int(state_), " -> ", int(next), " is not a transition");
  if (next == State::kPutPayload)
    LMC_CHECK(put_.valid() && put_span_ < put_.spans().size(), "a payload with nowhere to go: reservation ",
              put_.valid(), ", piece ", put_span_, " of ", put_.spans().size());
  state_ = next;
}

void ServerSession::Process() {
  while (!closing_) {
    const std::size_t avail = end_ - begin_;
    if (state_ == State::kDiscard) {
      const auto n = static_cast<std::size_t>(std::min<std::int64_t>(discard_left_, static_cast<std::int64_t>(avail)));
      begin_ += n;
      discard_left_ -= static_cast<std::int64_t>(n);
      if (discard_left_ > 0) return;
      Enter(State::kHeader);
      continue;
    }
    if (state_ != State::kHeader) return;
    if (pending_output_bytes_ > limits_.pending_output_bytes_max) return;  // backpressure
    if (avail < wire::kRequestHeaderBytes) return;
    RequestView h;
    const auto bytes = std::span<const std::byte>(in_).subspan(begin_, wire::kRequestHeaderBytes);
    const wire::WireError e = wire::DecodeRequestView(bytes, &h);
    // Only the key can fail to decode; the ints are read regardless, so the
    // stream stays in step. A key that is not UTF-8 is handled as a bad key.
    LMC_DCHECK(e == wire::WireError::kOk || e == wire::WireError::kKeyNotUtf8,
               "a whole header failed to decode: ", wire::WireErrorMessage(e));
    begin_ += wire::kRequestHeaderBytes;
    HandleHeader(h, e == wire::WireError::kOk);
  }
}

bool ServerSession::CanonicalKey(const wire::RequestView& h, bool key_decoded, std::string* key) {
  wire::CacheKey parsed;
  if (!key_decoded || wire::ParseCacheKey(h.key, &parsed) != wire::KeyError::kOk ||
      wire::RenderCacheKey(parsed, key) != wire::KeyError::kOk) {
    counters_.Count(Reject::kBadKey);
    return false;
  }
  return true;
}

void ServerSession::HandleHeader(const RequestView& h, bool key_decoded) {
  if (h.command >= 1 && h.command <= 5) {
    counters_.commands[h.command].fetch_add(1, std::memory_order_relaxed);
  }
  std::string key;
  switch (static_cast<Command>(h.command)) {
    case Command::kPut: HandlePut(h, key_decoded); return;
    case Command::kGet:
      if (CanonicalKey(h, key_decoded, &key)) {
        store::L1Store::ObjectRef o = store_.Get(key);
        if (!o && misses_ != nullptr) {
          // Look below L1; the reply waits, and so does every later request.
          miss_key_ = std::move(key);
          miss_requested_ = true;
          Enter(State::kAwaitMiss);
          return;
        }
        if (o) return ReplyHit(std::move(o));
      }
      counters_.misses.fetch_add(1, std::memory_order_relaxed);
      Reply(DummyReply(wire::ReturnCode::kFail));
      return;
    case Command::kExist: {
      const bool valid = CanonicalKey(h, key_decoded, &key);
      const bool present = valid && (store_.Contains(key) || (misses_ != nullptr && misses_->Contains(key)));
      if (valid && !present && misses_ != nullptr && misses_->SharedBelow()) {
        // Another server may have put it below: look (the reply waits).
        miss_key_ = std::move(key);
        miss_requested_ = true;
        miss_for_exist_ = true;
        Enter(State::kAwaitMiss);
        return;
      }
      Reply(DummyReply(present ? wire::ReturnCode::kSuccess : wire::ReturnCode::kFail));
      return;
    }
    case Command::kList: {
      std::vector<std::byte> body;
      std::size_t total = 0;
      std::vector<std::string> keys = store_.Keys();
      if (misses_ != nullptr) {
        // Keys below L1 that are not in L1 too, after L1's.
        const std::unordered_set<std::string> in_l1(keys.begin(), keys.end());
        for (std::string& k : misses_->Keys())
          if (!in_l1.count(k)) keys.push_back(std::move(k));
      }
      for (const std::string& k : keys) total += k.size() + 1;
      if (total > 0) --total;  // no trailing newline
      if (total > limits_.list_body_bytes_max) {
        counters_.Count(Reject::kListTooLarge);
        Reply(DummyReply(wire::ReturnCode::kFail));
        return;
      }
      body.reserve(total);
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) body.push_back(std::byte{'\n'});
        const auto* p = reinterpret_cast<const std::byte*>(keys[i].data());
        body.insert(body.end(), p, p + keys[i].size());
      }
      ReplyHeader r = DummyReply(wire::ReturnCode::kSuccess);
      r.length = static_cast<std::int32_t>(body.size());
      Reply(r);
      if (!body.empty()) ReplyBody(std::move(body));
      return;
    }
    case Command::kHealth:
      // The probe key is not looked up (spec §3.8); the server is alive.
      Reply(DummyReply(wire::ReturnCode::kSuccess));
      return;
  }
  counters_.Count(Reject::kUnknownCommand);
  Close();
}

void ServerSession::HandlePut(const RequestView& h, bool key_decoded) {
  if (h.length < 0) {
    counters_.Count(Reject::kNegativeLength);
    Close();
    return;
  }
  if (!CanonicalKey(h, key_decoded, &put_key_)) {
    StartDiscard(h.length);
    return;
  }
  put_length_ = static_cast<std::size_t>(h.length);
  put_received_ = 0;
  put_span_ = 0;
  put_span_off_ = 0;
  // A check first (a PUT that could not fit even by evicting everything
  // unpinned evicts nothing), then the first piece: a free chunk if there
  // is one, so a PUT cut short evicts nothing while the free chunks last.
  store::L1Store::ReserveError reserved = store_.Begin(put_length_, &put_);
  if (reserved == store::L1Store::ReserveError::kOk) reserved = store_.Extend(&put_);
  switch (reserved) {
    case store::L1Store::ReserveError::kOk: break;
    case store::L1Store::ReserveError::kTooLarge:
      counters_.Count(Reject::kTooLarge);
      StartDiscard(h.length);
      return;
    case store::L1Store::ReserveError::kNoSpace:
      put_ = {};
      counters_.Count(Reject::kNoSpace);
      StartDiscard(h.length);
      return;
  }
  put_meta_ = store::ObjectMeta{h.length, h.fmt, h.dtype, h.shape};
  // Payload bytes that came with the header move into the pieces; the rest
  // is read straight into them.
  if (put_length_ == 0) return PublishPut();  // complete already: its one granule is reserved
  Enter(State::kPutPayload);
  while (state_ == State::kPutPayload && begin_ != end_) {
    const std::span<std::byte> to = PutTarget();
    const std::size_t staged = std::min(end_ - begin_, to.size());
    std::memcpy(to.data(), in_.data() + begin_, staged);
    begin_ += staged;
    AdvancePut(staged);
  }
}

std::span<std::byte> ServerSession::PutTarget() { return put_.spans()[put_span_].subspan(put_span_off_); }

void ServerSession::AdvancePut(std::size_t n) {
  LMC_CHECK(put_received_ + n <= put_length_, "received ", put_received_ + n, " of a ", put_length_, "-byte payload");
  for (;;) {
    const std::size_t take = std::min(n, put_.spans()[put_span_].size() - put_span_off_);
    put_received_ += take;
    put_span_off_ += take;
    n -= take;
    if (put_received_ == put_length_) {
      FinishPut();
      return;
    }
    if (put_span_off_ < put_.spans()[put_span_].size()) break;
    // The piece is full: on to the next (read ahead, or taken below).
    ++put_span_;
    put_span_off_ = 0;
    if (put_span_ == put_.spans().size()) break;
  }
  LMC_CHECK(n == 0, n, " bytes read past the pieces offered");
  if (put_span_ < put_.spans().size()) return;
  // The next piece (evicting when no chunk is free); with no room even so,
  // the rest is read and dropped, as on a header that found no room.
  if (store_.Extend(&put_) == store::L1Store::ReserveError::kOk) return;
  counters_.Count(Reject::kNoSpace);  // pinned objects hold the room
  put_ = {};
  put_key_.clear();
  StartDiscard(static_cast<std::int64_t>(put_length_ - put_received_));
}

void ServerSession::StartDiscard(std::int64_t bytes) {
  discard_left_ = bytes;
  Enter(State::kDiscard);
}

void ServerSession::FinishPut() {
  Enter(State::kHeader);
  PublishPut();
}

void ServerSession::PublishPut() {
  LMC_CHECK(put_.complete(), "a PUT's last byte arrived with its reservation incomplete");
  store_.Publish(std::move(put_key_), put_meta_, std::move(put_));
  put_ = {};
  put_key_.clear();
  put_received_ = 0;
}

void ServerSession::Push(Chunk c) {
  pending_output_bytes_ += c.size;
  output_.push_back(std::move(c));
}

void ServerSession::Reply(const ReplyHeader& h) {
  Chunk c;
  wire::EncodeReply(h, c.header);
  c.size = wire::kReplyHeaderBytes;
  Push(std::move(c));
}

void ServerSession::ReplyHit(store::L1Store::ObjectRef object) {
  store::PinBudget::Ticket pin;
  if (pins_ != nullptr && object->size() != 0) {
    std::optional<store::PinBudget::Ticket> taken = pins_->TryTake(object->pinned_bytes());
    if (!taken) {
      counters_.Count(Reject::kPinnedFull);
      counters_.misses.fetch_add(1, std::memory_order_relaxed);
      Reply(DummyReply(wire::ReturnCode::kFail));
      return;
    }
    pin = std::move(*taken);
  }
  counters_.hits.fetch_add(1, std::memory_order_relaxed);
  ReplyObject(std::move(object), std::move(pin));
}

void ServerSession::ReplyObject(store::L1Store::ObjectRef object, store::PinBudget::Ticket pin) {
  const store::ObjectMeta& m = object->meta();
  ReplyHeader r;
  r.code = static_cast<std::int32_t>(wire::ReturnCode::kSuccess);
  r.length = m.length;
  r.fmt = m.fmt;
  r.dtype = m.dtype;
  r.shape = m.shape;
  r.location = 0;
  Reply(r);
  if (object->size() != 0) {
    Chunk c;
    c.kind = Chunk::Kind::kObject;
    c.size = object->size();
    c.object = std::move(object);
    c.pin = std::move(pin);
    Push(std::move(c));
  }
}

void ServerSession::ReplyBody(std::vector<std::byte> body) {
  Chunk c;
  c.kind = Chunk::Kind::kBody;
  c.size = body.size();
  c.body = std::move(body);
  Push(std::move(c));
}

std::size_t ServerSession::GatherWrites(std::span<std::span<const std::byte>> out) const {
  std::size_t n = 0;
  for (const Chunk& c : output_) {
    if (n == out.size()) break;
    n += c.Unwritten(out.subspan(n));
  }
  return n;
}

void ServerSession::OnWritten(std::size_t n) {
  counters_.bytes_out.fetch_add(n, std::memory_order_relaxed);
  LMC_CHECK(n <= pending_output_bytes_, "wrote ", n, " bytes with ", pending_output_bytes_, " pending");
  pending_output_bytes_ -= n;
  while (n > 0) {
    LMC_DCHECK(!output_.empty(), "written bytes left over with no output queued");
    Chunk& c = output_.front();
    const std::size_t take = std::min(n, c.size - c.written);
    c.Advance(take);
    n -= take;
    if (c.written == c.size) output_.pop_front();
  }
  Process();  // resume if the backlog was holding requests back
}

}  // namespace lmc::protocol
