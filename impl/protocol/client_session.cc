#include "protocol/client_session.h"

#include <algorithm>
#include <string>

#include "base/check.h"
#include "wire/wire_format.h"

namespace lmc::protocol {

std::string_view ClientStatusName(ClientStatus s) {
  switch (s) {
    case ClientStatus::kOk: return "ok";
    case ClientStatus::kMiss: return "miss";
    case ClientStatus::kInvalidReply: return "invalid reply";
    case ClientStatus::kClosed: return "connection closed";
    case ClientStatus::kBadRequest: return "bad request";
  }
  return "?";
}

ClientSession::ClientSession(ClientLimits limits) : limits_(limits) {}

std::uint64_t ClientSession::Queue(std::int32_t command, std::string_view key, const PutFields& fields,
                                   std::span<const std::byte> payload, std::int32_t length) {
  const std::uint64_t id = next_id_++;
  if (failed_) {
    Complete({id, command, ClientStatus::kClosed, {}, {}});
    return id;
  }
  wire::RequestView v;
  v.command = command;
  v.length = length;
  v.fmt = fields.fmt;
  v.dtype = fields.dtype;
  v.shape = fields.shape;
  v.key = key;
  Out o;
  if (wire::EncodeRequest(v, o.header) != wire::WireError::kOk) {
    Complete({id, command, ClientStatus::kBadRequest, {}, {}});
    return id;
  }
  o.payload = payload;
  if (command == static_cast<std::int32_t>(wire::Command::kPut)) {
    o.put_id = id;
    ++unsent_puts_;
  } else {
    awaiting_.push_back({id, command, {}, {}});
  }
  out_.push_back(o);
  CheckOutstanding();
  return id;
}

std::uint64_t ClientSession::Put(std::string_view key, const PutFields& fields, std::span<const std::byte> payload) {
  if (payload.size() > static_cast<std::size_t>(INT32_MAX)) {
    const std::uint64_t id = next_id_++;
    Complete({id, static_cast<std::int32_t>(wire::Command::kPut), ClientStatus::kBadRequest, {}, {}});
    return id;
  }
  return Queue(static_cast<std::int32_t>(wire::Command::kPut), key, fields, payload,
               static_cast<std::int32_t>(payload.size()));
}

// §1.5: requests without an object carry the dummy fields.
std::uint64_t ClientSession::Get(std::string_view key) { return Get(key, {}); }
std::uint64_t ClientSession::Get(std::string_view key, std::span<std::byte> into, BodyObserver on_body) {
  const std::uint64_t id = Queue(static_cast<std::int32_t>(wire::Command::kGet), key, {1, 2, {}}, {}, 0);
  if (!awaiting_.empty() && awaiting_.back().id == id) {
    awaiting_.back().into = into;
    awaiting_.back().on_body = std::move(on_body);
  }
  return id;
}
std::uint64_t ClientSession::Exist(std::string_view key) {
  return Queue(static_cast<std::int32_t>(wire::Command::kExist), key, {1, 2, {}}, {}, 0);
}
std::uint64_t ClientSession::List() {
  return Queue(static_cast<std::int32_t>(wire::Command::kList), "", {1, 2, {}}, {}, 0);
}
std::uint64_t ClientSession::Health(std::string_view probe_key) {
  return Queue(static_cast<std::int32_t>(wire::Command::kHealth), probe_key, {1, 2, {}}, {}, 0);
}

std::size_t ClientSession::GatherWrites(std::span<std::span<const std::byte>> out) const {
  std::size_t n = 0;
  for (const Out& o : out_) {
    if (n == out.size()) break;
    if (o.written < o.header.size()) {
      out[n++] = std::span<const std::byte>(o.header).subspan(o.written);
      if (n < out.size() && !o.payload.empty()) out[n++] = o.payload;
    } else {
      out[n++] = o.payload.subspan(o.written - o.header.size());
    }
  }
  return n;
}

void ClientSession::OnWritten(std::size_t n) {
  // A write that completes after the session failed: its requests were
  // already completed (and out_ cleared) by Fail; nothing is left to count.
  if (failed_) return;
  while (n > 0) {
    LMC_CHECK(!out_.empty(), "OnWritten(", n, ") with nothing left to write: more bytes than GatherWrites gave");
    Out& o = out_.front();
    const std::size_t take = std::min(n, o.size() - o.written);
    o.written += take;
    n -= take;
    if (o.written == o.size()) {
      if (o.put_id != 0) {
        --unsent_puts_;
        Complete({o.put_id, static_cast<std::int32_t>(wire::Command::kPut), ClientStatus::kOk, {}, {}});
      }
      out_.pop_front();
    }
  }
  CheckOutstanding();
}

std::span<std::byte> ClientSession::ReadBuffer() {
  if (failed_ || awaiting_.empty()) return {};
  if (body_for_) {
    if (body_have_ == body_target_.size() && !body_for_->in_place) {
      // The owned buffer is full but more is declared: grow it (doubling
      // keeps the copies linear in the bytes received).
      std::vector<std::byte>& body = body_for_->body;
      body.resize(std::min(body_total_, std::max({body.size() * 2, limits_.body_first_alloc_bytes, std::size_t{1}})));
      body_target_ = body;
    }
    return body_target_.subspan(body_have_);
  }
  return std::span(header_).subspan(header_have_);
}

void ClientSession::OnRead(std::size_t n) {
  if (failed_ || n == 0) return;
  if (body_for_) {
    LMC_CHECK(body_have_ + n <= body_target_.size(), "read ", n, " body bytes with ", body_target_.size() - body_have_,
              " of room");
    if (const BodyObserver& observe = awaiting_.front().on_body) observe(body_target_.subspan(body_have_, n));
    body_have_ += n;
    if (body_have_ == body_total_) {
      Complete(std::move(*body_for_));
      body_for_.reset();
      body_have_ = 0;
      awaiting_.pop_front();
      CheckOutstanding();
    }
    return;
  }
  LMC_CHECK(header_have_ + n <= header_.size(), "read ", n, " header bytes with ", header_.size() - header_have_,
            " of room");
  header_have_ += n;
  if (header_have_ < header_.size()) return;
  header_have_ = 0;
  LMC_CHECK(!awaiting_.empty(), "a reply header read with no request awaiting one");
  Completion c{awaiting_.front().id, awaiting_.front().command, ClientStatus::kOk, {}, {}};
  if (wire::DecodeReply(header_, &c.reply) != wire::WireError::kOk || !wire::IsKnownReturnCode(c.reply.code)) {
    failure_detail_ = "reply code " + std::to_string(c.reply.code) + " to " +
                      std::string(wire::CommandName(c.command)) + " (200 and 400 are the codes)";
    Fail(ClientStatus::kInvalidReply);
    return;
  }
  const bool success = c.reply.code == static_cast<std::int32_t>(wire::ReturnCode::kSuccess);
  c.status = success ? ClientStatus::kOk : ClientStatus::kMiss;
  // Only a GET hit and a LIST success carry a body.
  const bool has_body = success && (c.command == static_cast<std::int32_t>(wire::Command::kGet) ||
                                    c.command == static_cast<std::int32_t>(wire::Command::kList));
  if (has_body) {
    if (c.reply.length < 0 || static_cast<std::size_t>(c.reply.length) > limits_.body_bytes_max) {
      failure_detail_ = std::string(wire::CommandName(c.command)) + " reply length " + std::to_string(c.reply.length) +
                        " (0 to " + std::to_string(limits_.body_bytes_max) + " taken)";
      Fail(ClientStatus::kInvalidReply);
      return;
    }
    if (c.reply.length > 0) {
      const auto len = static_cast<std::size_t>(c.reply.length);
      const std::span<std::byte> into = awaiting_.front().into;
      body_for_ = std::move(c);
      body_total_ = len;
      if (len <= into.size()) {
        body_for_->in_place = true;
        body_for_->in_place_bytes = len;
        body_target_ = into.first(len);
      } else {
        body_for_->body.resize(std::min(len, limits_.body_first_alloc_bytes));
        body_target_ = body_for_->body;
      }
      body_have_ = 0;
      return;
    }
  }
  Complete(std::move(c));
  awaiting_.pop_front();
  CheckOutstanding();
}

void ClientSession::Fail(ClientStatus status) {
  failed_ = true;
  body_for_.reset();
  for (const Awaiting& a : awaiting_) Complete({a.id, a.command, status, {}, {}});
  awaiting_.clear();
  for (const Out& o : out_) {
    if (o.put_id != 0) Complete({o.put_id, static_cast<std::int32_t>(wire::Command::kPut), status, {}, {}});
  }
  out_.clear();
  unsent_puts_ = 0;
  CheckOutstanding();
}

void ClientSession::OnClose() {
  if (!failed_) Fail(ClientStatus::kClosed);
}

void ClientSession::Complete(Completion c) {
  ++completed_;
  LMC_CHECK(c.id < next_id_ && completed_ < next_id_, "completion ", completed_, " (id ", c.id, ") of ", next_id_ - 1,
            " requests issued");
  done_.push_back(std::move(c));
}

void ClientSession::CheckOutstanding() const {
  LMC_CHECK(next_id_ - 1 - completed_ == awaiting_.size() + unsent_puts_, next_id_ - 1, " requests issued, ",
            completed_, " completed, but ", awaiting_.size(), " await a reply and ", unsent_puts_, " PUTs are unsent");
}

std::optional<Completion> ClientSession::PopCompletion() {
  if (done_.empty()) return std::nullopt;
  Completion c = std::move(done_.front());
  done_.pop_front();
  return c;
}

}  // namespace lmc::protocol
