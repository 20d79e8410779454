// ClientSession, stateful: requests chosen by the input, written in pieces
// the input chooses, and arbitrary reply bytes read in pieces it chooses,
// with the connection closed where it says; then a drain and a close.
//
// Input: [reply length: u16 LE][reply bytes][operations...]. Each operation
// byte (with the bytes it takes) queues a PUT, GET (into a caller buffer or
// not), EXIST, LIST or HEALTH, writes some or all of the output, reads some
// or all of what is left of the reply bytes, or closes.
//
// The target keeps its own model of the protocol, written from
// docs/PROTOCOL.md §1 and the session's header, not from its code, and
// checks the session against it after every step:
// - the bytes written are exactly the requests asked for, in order, as the
//   server's decoder reads them (wire::DecodeRequest: command, length, the
//   object fields or the dummies, the 150-byte key field), each PUT followed
//   by its payload: the client's encoder against the server's decoder;
// - a key over 150 bytes or not UTF-8 completes at once with kBadRequest and
//   writes nothing; once the session has failed, a new request completes at
//   once with kClosed;
// - replies are matched to requests in order: code 200 is kOk and 400 kMiss;
//   any other code, or a GET/LIST success claiming a negative length or more
//   than the limit, fails the session, and every request not yet done
//   completes with kInvalidReply; after that nothing completes kOk;
// - a GET hit's body is the reply's bytes, received in place when it fits
//   the caller's buffer, and the observer sees exactly those bytes in order;
// - a body not received in place grows with what arrives: the buffer is
//   never larger than max(first allocation, twice the bytes received);
// - nothing is read when no reply is expected;
// - a PUT completes kOk exactly when its last byte is written;
// - OnClose completes everything pending with kClosed; every request ends
//   exactly once.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "input_reader.h"
#include "oracle.h"
#include "protocol/client_session.h"
#include "wire/headers.h"
#include "wire/text.h"

namespace {

namespace protocol = lmc::protocol;
namespace wire = lmc::wire;
using protocol::ClientStatus;

constexpr std::size_t kBodyBytesMax = 4096;
constexpr std::size_t kFirstAlloc = 64;
constexpr std::size_t kKeyFieldBytes = 150;

// A few keys, so that requests share them, and the edges of the key field.
std::string_view Key(lmc::fuzzing::InputReader& in) {
  static const std::array<std::string, 8> kPool = {
      "m@1@0@3039@bfloat16",
      "test_model@3@1@0@bfloat16",
      "m@1@0@ded@uint8@7",
      "@0@0@0@half",
      "",
      std::string(kKeyFieldBytes, 'k'),
      std::string(kKeyFieldBytes + 1, 'k'),
      "k  ",
  };
  const std::uint8_t pick = in.U8();
  if (pick < 0xf0) return kPool[pick % kPool.size()];
  return in.Bytes(in.U8() % (kKeyFieldBytes + 8));  // raw bytes: not UTF-8, multi-byte, too long
}

std::int32_t I32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | std::to_integer<std::uint32_t>(p[i]);
  return static_cast<std::int32_t>(v);
}

// PUT payloads are windows of this, starting where the request's index
// says, so that PUTs of one length still differ.
const std::array<std::byte, 512> kPattern = [] {
  std::array<std::byte, 512> p{};
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>(i * 7 + i / 256);
  return p;
}();

// One request as asked, and what the model expects of it.
struct Asked {
  std::int32_t command = 0;
  std::string_view key;  // into the key pool or the input
  protocol::PutFields fields;
  std::span<const std::byte> payload;  // PUT: a window of kPattern
  std::vector<std::byte> into;         // GET: the caller's buffer (empty: none)
  bool observed = false;               // GET: with a body observer
  std::vector<std::byte> seen;         // what the observer saw
  std::size_t end_offset = 0;          // where its bytes end in the written stream
  std::optional<protocol::Completion> expected;
  bool done = false;
};

constexpr std::size_t kStepsMax = 128;

std::vector<Asked>& Storage() {
  static std::vector<Asked> v = [] {
    std::vector<Asked> r;
    r.reserve(kStepsMax + 1);
    return r;
  }();
  return v;
}
std::vector<std::byte>& Written() {
  static std::vector<std::byte> v = [] {
    std::vector<std::byte> r;
    r.reserve(kStepsMax * 300);
    return r;
  }();
  return v;
}

class Model {
 public:
  explicit Model(std::span<const std::byte> replies) : replies_(replies) {
    asked_.clear();
    written_.clear();
  }

  // --- requests ---
  std::uint64_t Ask(protocol::ClientSession& s, Asked a) {
    const bool bad = a.key.size() > kKeyFieldBytes || !wire::IsValidUtf8(a.key);
    std::uint64_t id = 0;
    switch (a.command) {
      case 1: id = s.Put(a.key, a.fields, a.payload); break;
      case 2:
        if (a.observed) {
          const std::size_t at = asked_.size();
          id = s.Get(a.key, a.into, [this, at](std::span<const std::byte> b) {
            asked_[at].seen.insert(asked_[at].seen.end(), b.begin(), b.end());
          });
        } else if (a.into.empty()) {
          id = s.Get(a.key);
        } else {
          id = s.Get(a.key, a.into);
        }
        break;
      case 3: id = s.Exist(a.key); break;
      case 4: id = s.List(); break;
      case 5: id = s.Health(a.key); break;
      default: LMC_ORACLE_FAIL("no such command");
    }
    if (id != asked_.size() + 1) LMC_ORACLE_FAIL("ids do not count up from 1");
    asked_.push_back(std::move(a));
    Asked& r = asked_.back();
    if (failed_) {
      Expect(id, ClientStatus::kClosed);
    } else if (bad) {
      Expect(id, ClientStatus::kBadRequest);
    } else {
      r.end_offset = stream_bytes_ += wire::kRequestHeaderBytes + r.payload.size();
      queued_.push_back(id);
      written_log_.push_back(id);
      if (r.command != 1) awaiting_.push_back(id);
    }
    return id;
  }

  // --- output ---
  void Write(protocol::ClientSession& s, std::size_t n) {
    std::array<std::span<const std::byte>, 8> spans{};
    const std::size_t count = s.GatherWrites(spans);
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += spans[i].size();
    if (count > 0 && total == 0) LMC_ORACLE_FAIL("an empty span to write");
    if (count == 0 && s.HasOutput()) LMC_ORACLE_FAIL("output pending but nothing to gather");
    n = std::min(n, total);
    for (std::size_t i = 0, left = n; left > 0; ++i) {
      const std::size_t take = std::min(left, spans[i].size());
      written_.insert(written_.end(), spans[i].begin(), spans[i].begin() + static_cast<std::ptrdiff_t>(take));
      left -= take;
    }
    if (n > 0) s.OnWritten(n);
    CheckWritten();
  }

  // --- input ---
  void Read(protocol::ClientSession& s, std::size_t n) {
    while (n > 0 && read_ < replies_.size()) {
      const std::span<std::byte> buf = s.ReadBuffer();
      if (buf.empty()) {
        if (!failed_ && !awaiting_.empty()) LMC_ORACLE_FAIL("a reply is expected but there is no read buffer");
        return;
      }
      if (failed_ || awaiting_.empty()) LMC_ORACLE_FAIL("a read buffer when no reply is expected");
      CheckBuffer(buf);
      const std::size_t k = std::min({n, buf.size(), replies_.size() - read_});
      std::memcpy(buf.data(), replies_.data() + read_, k);
      s.OnRead(k);
      Receive(replies_.subspan(read_, k));
      read_ += k;
      n -= k;
    }
  }
  bool replies_left() const { return read_ < replies_.size(); }

  void Close(protocol::ClientSession& s) {
    s.OnClose();
    FailAll(ClientStatus::kClosed);
  }

  // --- completions ---
  void Collect(protocol::ClientSession& s) {
    while (std::optional<protocol::Completion> c = s.PopCompletion()) {
      if (c->id == 0 || c->id > asked_.size()) LMC_ORACLE_FAIL("a completion for no request");
      Asked& a = asked_[c->id - 1];
      if (a.done) LMC_ORACLE_FAIL("a request completed twice");
      if (!a.expected) LMC_ORACLE_FAIL("a request completed before the model expected it to");
      const protocol::Completion& want = *a.expected;
      if (c->command != a.command) LMC_ORACLE_FAIL("a completion with another command");
      if (c->status != want.status) LMC_ORACLE_FAIL("a completion with another status than the model's");
      if (a.command != 1 && want.status != ClientStatus::kClosed && want.status != ClientStatus::kBadRequest &&
          want.status != ClientStatus::kInvalidReply && !(c->reply == want.reply))
        LMC_ORACLE_FAIL("a completion with another reply header than received");
      std::span<const std::byte> body = c->body;
      if (c->in_place) {
        if (a.into.empty() || c->in_place_bytes > a.into.size() || !c->body.empty())
          LMC_ORACLE_FAIL("a bad in-place body");
        body = std::span<const std::byte>(a.into).first(c->in_place_bytes);
      }
      if (!std::equal(body.begin(), body.end(), want.body.begin(), want.body.end()))
        LMC_ORACLE_FAIL("a body other than the reply's bytes");
      const bool fits = !want.body.empty() && want.body.size() <= a.into.size();
      if (c->in_place != fits)
        LMC_ORACLE_FAIL("a body that fits the caller's buffer not received in place, or one that did not");
      if (a.observed && want.status == ClientStatus::kOk &&
          !std::equal(a.seen.begin(), a.seen.end(), want.body.begin(), want.body.end()))
        LMC_ORACLE_FAIL("the body observer saw other bytes than the body");
      a.done = true;
    }
  }

  void CheckAllDone() const {
    for (const Asked& a : asked_) {
      if (!a.done) LMC_ORACLE_FAIL("a request never completed");
    }
  }

 private:
  void Expect(std::uint64_t id, ClientStatus status, wire::ReplyHeader reply = {}, std::vector<std::byte> body = {}) {
    Asked& a = asked_[id - 1];
    if (a.expected) LMC_ORACLE_FAIL("model: expected twice");
    protocol::Completion c;
    c.id = id;
    c.command = a.command;
    c.status = status;
    c.reply = reply;
    c.body = std::move(body);
    a.expected = std::move(c);
  }

  void FailAll(ClientStatus status) {
    if (failed_) return;
    failed_ = true;
    for (const std::uint64_t id : queued_) {
      if (!asked_[id - 1].expected) Expect(id, status);
    }
    queued_.clear();
    awaiting_.clear();
  }

  // The written bytes so far are a prefix of the requests asked for.
  void CheckWritten() {
    if (written_.size() > stream_bytes_) LMC_ORACLE_FAIL("more bytes written than the requests hold");
    for (; checked_ < written_log_.size(); ++checked_) {
      const std::uint64_t id = written_log_[checked_];
      const Asked& a = asked_[id - 1];
      const std::size_t begin = a.end_offset - wire::kRequestHeaderBytes - a.payload.size();
      if (written_.size() < begin + wire::kRequestHeaderBytes) return;
      if (!header_checked_) CheckHeader(a, begin);
      header_checked_ = true;
      if (written_.size() < a.end_offset) return;
      if (!std::equal(a.payload.begin(), a.payload.end(),
                      written_.begin() + static_cast<std::ptrdiff_t>(begin + wire::kRequestHeaderBytes)))
        LMC_ORACLE_FAIL("a PUT's payload written otherwise");
      if (a.command == 1) Expect(id, ClientStatus::kOk);
      header_checked_ = false;
    }
  }

  void CheckHeader(const Asked& a, std::size_t begin) const {
    wire::RequestHeader h;
    const auto bytes = std::span<const std::byte>(written_).subspan(begin, wire::kRequestHeaderBytes);
    // The field-by-field reference decoder (the server's kernel is checked
    // against it in fuzz_request).
    if (wire::detail::DecodeRequestFields(bytes, &h) != wire::WireError::kOk)
      LMC_ORACLE_FAIL("a written header the reference decoder refuses");
    const bool put = a.command == 1;
    const wire::Shape zero{};
    if (h.command != a.command || h.length != static_cast<std::int32_t>(a.payload.size()) ||
        h.fmt != (put ? a.fields.fmt : 1) || h.dtype != (put ? a.fields.dtype : 2) ||
        h.shape != (put ? a.fields.shape : zero) || h.location != 0)
      LMC_ORACLE_FAIL("a written header with other fields than asked");
    const std::string_view key = a.command == 4 ? std::string_view() : a.key;
    const auto* field = reinterpret_cast<const char*>(bytes.data()) + 36;
    if (std::string_view(field, key.size()) != key ||
        std::any_of(field + key.size(), field + kKeyFieldBytes, [](char c) { return c != ' '; }))
      LMC_ORACLE_FAIL("a written key field that is not the key padded with spaces");
  }

  // The buffer the session offers for the reply bytes in flight.
  void CheckBuffer(std::span<std::byte> buf) const {
    if (!in_body_) {
      if (buf.size() != wire::kReplyHeaderBytes - header_have_)
        LMC_ORACLE_FAIL("a header read buffer of the wrong size");
      return;
    }
    const Asked& a = asked_[awaiting_.front() - 1];
    if (body_.size() + buf.size() > body_total_) LMC_ORACLE_FAIL("a body buffer past the reply's length");
    if (body_total_ <= a.into.size()) {
      if (buf.data() != a.into.data() + body_.size())
        LMC_ORACLE_FAIL("a body that fits not read into the caller's buffer");
    } else if (body_.size() + buf.size() > std::max(kFirstAlloc, 2 * body_.size())) {
      LMC_ORACLE_FAIL("a body buffer grown ahead of the bytes received");
    }
  }

  // The reply bytes just read, parsed as docs/PROTOCOL.md §1.3 says.
  void Receive(std::span<const std::byte> bytes) {
    for (const std::byte b : bytes) {
      if (failed_) LMC_ORACLE_FAIL("model: bytes after failure");
      if (in_body_) {
        body_.push_back(b);
        if (body_.size() == body_total_) Reply(std::move(body_));
        continue;
      }
      header_[header_have_++] = b;
      if (header_have_ < header_.size()) continue;
      header_have_ = 0;
      wire::ReplyHeader h;
      h.code = I32(&header_[0]);
      h.length = I32(&header_[4]);
      h.fmt = I32(&header_[8]);
      h.dtype = I32(&header_[12]);
      for (std::size_t i = 0; i < 4; ++i) h.shape[i] = I32(&header_[16 + 4 * i]);
      h.location = I32(&header_[32]);
      reply_ = h;
      if (h.code != 200 && h.code != 400) {
        FailAll(ClientStatus::kInvalidReply);
        continue;
      }
      const std::int32_t command = asked_[awaiting_.front() - 1].command;
      if (h.code == 200 && (command == 2 || command == 4)) {
        if (h.length < 0 || static_cast<std::size_t>(h.length) > kBodyBytesMax) {
          FailAll(ClientStatus::kInvalidReply);
          continue;
        }
        if (h.length > 0) {
          in_body_ = true;
          body_total_ = static_cast<std::size_t>(h.length);
          body_.clear();
          continue;
        }
      }
      Reply({});
    }
  }

  void Reply(std::vector<std::byte> body) {
    in_body_ = false;
    const std::uint64_t id = awaiting_.front();
    awaiting_.pop_front();
    queued_.erase(std::find(queued_.begin(), queued_.end(), id));
    Expect(id, reply_.code == 200 ? ClientStatus::kOk : ClientStatus::kMiss, reply_, std::move(body));
    body_.clear();
  }

  std::span<const std::byte> replies_;
  std::size_t read_ = 0;
  std::vector<Asked>& asked_ = Storage();  // reserved once: no allocation per input
  bool failed_ = false;
  std::deque<std::uint64_t> queued_;        // not failed, not bad, not yet completed by the model
  std::deque<std::uint64_t> awaiting_;      // of those, the non-PUTs: replies go to the front
  std::vector<std::uint64_t> written_log_;  // every request queued, in the order its bytes go out
  std::size_t checked_ = 0;                 // written_log_[..checked_] written whole and checked
  bool header_checked_ = false;             // written_log_[checked_]'s header checked
  std::size_t stream_bytes_ = 0;
  std::vector<std::byte>& written_ = Written();
  std::array<std::byte, wire::kReplyHeaderBytes> header_{};
  std::size_t header_have_ = 0;
  wire::ReplyHeader reply_;
  bool in_body_ = false;
  std::size_t body_total_ = 0;
  std::vector<std::byte> body_;
};

Asked MakeRequest(std::int32_t command, lmc::fuzzing::InputReader& in, std::size_t index) {
  Asked a;
  a.command = command;
  if (command != 4) a.key = Key(in);
  if (command == 1) {
    a.fields.fmt = in.U8() % 4;
    a.fields.dtype = in.U8();
    a.fields.shape[0] = static_cast<std::int32_t>(in.U8()) - 1;
    a.payload = std::span<const std::byte>(kPattern).subspan(index % 128, in.U8() % 80);
  }
  if (command == 2) {
    const std::uint8_t b = in.U8();
    if (b & 1) a.into.resize(std::size_t{b} * 8);
    a.observed = (b & 2) != 0;
  }
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t reply_len = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
  Model model(std::as_bytes(std::span(data + 2, reply_len)));
  lmc::fuzzing::InputReader in(std::span(data + 2 + reply_len, size - 2 - reply_len));

  protocol::ClientLimits limits;
  limits.body_bytes_max = kBodyBytesMax;
  limits.body_first_alloc_bytes = kFirstAlloc;
  protocol::ClientSession session(limits);

  // At most 128 steps: longer inputs add time, not paths.
  std::size_t steps = 0;
  while (!in.empty() && ++steps <= kStepsMax) {
    const std::uint8_t op = in.U8();
    switch (op % 10) {
      case 0: model.Ask(session, MakeRequest(1, in, steps)); break;
      case 1:
      case 2: model.Ask(session, MakeRequest(2, in, steps)); break;
      case 3: model.Ask(session, MakeRequest(3, in, steps)); break;
      case 4: model.Ask(session, MakeRequest(op & 0x10 ? 4 : 5, in, steps)); break;
      case 5: model.Write(session, std::size_t{in.U8()} + 1); break;
      case 6: model.Write(session, SIZE_MAX); break;
      case 7:
      case 8: model.Read(session, std::size_t{in.U8()} + 1); break;
      case 9:
        if (op >= 0xf0) {
          model.Close(session);
        } else {
          model.Read(session, SIZE_MAX);
        }
        break;
      default: break;
    }
    model.Collect(session);
  }
  // The drain: everything written, every reply byte offered, then the close.
  model.Write(session, SIZE_MAX);
  model.Collect(session);
  model.Read(session, SIZE_MAX);
  model.Collect(session);
  model.Close(session);
  model.Collect(session);
  model.CheckAllDone();
  if (session.pending() != 0) LMC_ORACLE_FAIL("requests pending after the close");
  return 0;
}
