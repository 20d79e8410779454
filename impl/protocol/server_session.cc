#include "protocol/server_session.h"

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

std::span<const std::byte> ServerSession::Chunk::Bytes() const {
  switch (kind) {
    case Kind::kHeader: return std::span(header).first(size);
    case Kind::kBody: return body;
    case Kind::kObject: return object->data();
  }
  return {};
}

ServerSession::ServerSession(store::L1Store& store, ServerCounters& counters, SessionLimits limits, MissSource* misses,
                             store::IntakePool* intake, store::PinBudget* pins)
    : store_(store),
      counters_(counters),
      misses_(misses),
      pins_(pins),
      limits_(limits),
      in_(limits.input_buffer_bytes),
      intake_pool_(intake) {
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
  if (closing_) return;
  if (object) {
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
  if (state_ == State::kPutPayload && intake_.empty() && !put_key_.empty() &&
      plant::Active(plant::Bug::kServerPublishesTruncatedPut))
    store_.Publish(std::move(put_key_), put_meta_, std::move(put_));
  put_ = {};  // a PUT cut short is dropped unseen
  intake_.clear();
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
    LMC_CHECK(put_.valid() != !intake_.empty(), "a payload must go to one place: L1 ", put_.valid(), ", intake chunks ",
              intake_.size());
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
      const bool present = CanonicalKey(h, key_decoded, &key) &&
                           (store_.Contains(key) || (misses_ != nullptr && misses_->Contains(key)));
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
  // Free room in L1 first; else, while the payload arrives, the intake pool
  // (nothing stored is evicted for a PUT that may never complete); else, no
  // pool or the pool is full, L1 evicting now.
  store::L1Store::ReserveError reserved = store_.TryReserve(put_length_, &put_);
  if (reserved == store::L1Store::ReserveError::kNoSpace && intake_pool_ != nullptr && TakeIntakeChunk()) {
    reserved = store::L1Store::ReserveError::kOk;
    counters_.puts_via_intake.fetch_add(1, std::memory_order_relaxed);
  }
  if (reserved == store::L1Store::ReserveError::kNoSpace) reserved = store_.Reserve(put_length_, &put_);
  switch (reserved) {
    case store::L1Store::ReserveError::kOk: break;
    case store::L1Store::ReserveError::kTooLarge:
      counters_.Count(Reject::kTooLarge);
      StartDiscard(h.length);
      return;
    case store::L1Store::ReserveError::kNoSpace:
      counters_.Count(Reject::kNoSpace);
      StartDiscard(h.length);
      return;
  }
  put_meta_ = store::ObjectMeta{h.length, h.fmt, h.dtype, h.shape};
  // Payload bytes that came with the header move into the reservation (or
  // the first chunk); the rest is read straight into it.
  Enter(State::kPutPayload);
  const std::size_t staged = std::min(end_ - begin_, PutTarget().size());
  if (staged > 0) std::memcpy(PutTarget().data(), in_.data() + begin_, staged);
  begin_ += staged;
  AdvancePut(staged);
}

std::span<std::byte> ServerSession::PutTarget() {
  if (intake_.empty()) return put_.data().subspan(put_received_);
  const std::size_t in_last = put_received_ - (intake_.size() - 1) * store::IntakePool::kChunkBytes;
  return intake_.back().data().subspan(in_last,
                                       std::min(store::IntakePool::kChunkBytes - in_last, put_length_ - put_received_));
}

void ServerSession::AdvancePut(std::size_t n) {
  put_received_ += n;
  LMC_CHECK(put_received_ <= put_length_, "received ", put_received_, " of a ", put_length_, "-byte payload");
  if (put_received_ == put_length_) {
    FinishPut();
    return;
  }
  if (intake_.empty() || put_received_ < intake_.size() * store::IntakePool::kChunkBytes) return;
  // The last chunk is full: another, else (the pool is full) into L1 now,
  // evicting; with no room even so, the rest is read and dropped, as on a
  // header that found no room.
  if (TakeIntakeChunk() || MoveIntakeIntoL1()) return;
  StartDiscard(static_cast<std::int64_t>(put_length_ - put_received_));
}

bool ServerSession::TakeIntakeChunk() {
  std::optional<store::IntakePool::Chunk> c = intake_pool_->Acquire();
  if (!c) {
    counters_.intake_full.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  intake_.push_back(std::move(*c));
  return true;
}

bool ServerSession::MoveIntakeIntoL1() {
  const bool room = store_.Reserve(put_length_, &put_) == store::L1Store::ReserveError::kOk;
  if (room) {
    std::size_t done = 0;
    for (const store::IntakePool::Chunk& c : intake_) {
      const std::size_t n = std::min(store::IntakePool::kChunkBytes, put_received_ - done);
      std::memcpy(put_.data().data() + done, c.data().data(), n);
      done += n;
    }
  } else {
    counters_.Count(Reject::kNoSpace);  // pinned objects hold the room
    put_key_.clear();
  }
  intake_.clear();
  return room;
}

void ServerSession::StartDiscard(std::int64_t bytes) {
  discard_left_ = bytes;
  Enter(State::kDiscard);
}

void ServerSession::FinishPut() {
  Enter(State::kHeader);
  // Complete: only now may a PUT that waited in the intake push out what is
  // stored.
  const bool stored = intake_.empty() || MoveIntakeIntoL1();
  if (stored) store_.Publish(std::move(put_key_), put_meta_, std::move(put_));
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
  if (pins_ != nullptr && !object->data().empty()) {
    std::optional<store::PinBudget::Ticket> taken = pins_->TryTake(object->data().size());
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
  if (!object->data().empty()) {
    Chunk c;
    c.kind = Chunk::Kind::kObject;
    c.size = object->data().size();
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
    out[n++] = c.Bytes().subspan(c.written);
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
    c.written += take;
    n -= take;
    if (c.written == c.size) output_.pop_front();
  }
  Process();  // resume if the backlog was holding requests back
}

}  // namespace lmc::protocol
