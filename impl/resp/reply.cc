#include "resp/reply.h"

#include <hiredis/read.h>

#include <charconv>

#include <new>
#include "net/address.h"

namespace lmc::resp {

std::string_view ReplyTypeName(Reply::Type t) {
  switch (t) {
    case Reply::Type::kString: return "bulk string";
    case Reply::Type::kArray: return "array";
    case Reply::Type::kInteger: return "integer";
    case Reply::Type::kNil: return "nil";
    case Reply::Type::kStatus: return "status";
    case Reply::Type::kError: return "error";
  }
  return "?";
}

namespace {

// hiredis's object functions are plain C functions with no context of
// their own: the reader being parsed is named here for the length of one
// redisReaderGetReply call on this thread.
struct Parsing {
  const ReaderLimits* limits = nullptr;
  std::string* error = nullptr;
};
thread_local Parsing* tl_parsing = nullptr;

void* Refuse(const std::string& why) {
  if (tl_parsing != nullptr && tl_parsing->error->empty()) *tl_parsing->error = why;
  return nullptr;
}

// The root reply is allocated; an element is built in place in its parent's
// vector, which was sized when the array was created and never grows.
void* Place(const redisReadTask* task, Reply&& r) {
  if (task->parent == nullptr) return new (std::nothrow) Reply(std::move(r));
  auto* parent = static_cast<Reply*>(task->parent->obj);
  if (parent == nullptr || task->idx < 0 || static_cast<std::size_t>(task->idx) >= parent->elements.size())
    return Refuse("an array element out of its array");
  Reply& slot = parent->elements[static_cast<std::size_t>(task->idx)];
  slot = std::move(r);
  return &slot;
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  if (tl_parsing == nullptr) return nullptr;
  if (len > tl_parsing->limits->max_bulk_bytes)
    return Refuse("a string of " + std::to_string(len) + " bytes, over the limit of " +
                  std::to_string(tl_parsing->limits->max_bulk_bytes));
  Reply r;
  r.type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::kError
           : task->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                              : Reply::Type::kString;
  try {
    r.str.assign(str, len);
  } catch (const std::bad_alloc&) {
    return Refuse("out of memory for a string of " + std::to_string(len) + " bytes");
  }
  return Place(task, std::move(r));
}

void* CreateArray(const redisReadTask* task, int elements) {
  if (tl_parsing == nullptr) return nullptr;
  if (elements < 0 || static_cast<std::size_t>(elements) > tl_parsing->limits->max_elements)
    return Refuse("an array of " + std::to_string(elements) + " elements (the limit is " +
                  std::to_string(tl_parsing->limits->max_elements) + ")");
  Reply r;
  r.type = Reply::Type::kArray;
  try {
    r.elements.resize(static_cast<std::size_t>(elements));
  } catch (const std::bad_alloc&) {
    return Refuse("out of memory for an array");
  }
  return Place(task, std::move(r));
}

void* CreateInteger(const redisReadTask* task, long long value) {
  Reply r;
  r.type = Reply::Type::kInteger;
  r.integer = value;
  return Place(task, std::move(r));
}

void* CreateNil(const redisReadTask* task) {
  Reply r;
  r.type = Reply::Type::kNil;
  return Place(task, std::move(r));
}

// hiredis frees only the root (on an error, or with a reply not taken).
void FreeObject(void* obj) { delete static_cast<Reply*>(obj); }

redisReplyObjectFunctions kFunctions = {CreateString, CreateArray, CreateInteger, CreateNil, FreeObject};

}  // namespace

struct ReplyReader::Impl {
  ReaderLimits limits;
  redisReader* reader = nullptr;
  bool failed = false;
};

ReplyReader::ReplyReader(ReaderLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->reader = redisReaderCreateWithFunctions(&kFunctions);
  if (impl_->reader == nullptr) {
    impl_->failed = true;
    error_ = "out of memory for a reply reader";
  }
}

ReplyReader::~ReplyReader() {
  if (impl_->reader != nullptr) redisReaderFree(impl_->reader);
}

std::size_t ReplyReader::buffered() const {
  const redisReader* r = impl_->reader;
  return r == nullptr ? 0 : r->len - r->pos;
}

bool ReplyReader::Feed(std::span<const std::byte> bytes) {
  if (impl_->failed) return false;
  if (bytes.empty()) return true;
  if (buffered() + bytes.size() > impl_->limits.max_buffered_bytes) {
    impl_->failed = true;
    error_ = "more than " + std::to_string(impl_->limits.max_buffered_bytes) + " bytes without a whole reply";
    return false;
  }
  if (redisReaderFeed(impl_->reader, reinterpret_cast<const char*>(bytes.data()), bytes.size()) != REDIS_OK) {
    impl_->failed = true;
    error_ = impl_->reader->errstr;
    return false;
  }
  return true;
}

ReplyReader::Status ReplyReader::Next(Reply* out) {
  if (impl_->failed) return Status::kError;
  Parsing parsing{&impl_->limits, &error_};
  tl_parsing = &parsing;
  void* obj = nullptr;
  const int rc = redisReaderGetReply(impl_->reader, &obj);
  tl_parsing = nullptr;
  if (rc != REDIS_OK) {
    impl_->failed = true;
    if (error_.empty()) error_ = impl_->reader->errstr;
    if (obj != nullptr) FreeObject(obj);
    return Status::kError;
  }
  if (obj == nullptr) return Status::kNeedMore;
  std::unique_ptr<Reply> reply(static_cast<Reply*>(obj));
  *out = std::move(*reply);
  return Status::kReply;
}

// ---- commands ----

namespace {
void AppendBulk(std::string* out, std::string_view arg) {
  out->push_back('$');
  out->append(std::to_string(arg.size()));
  out->append("\r\n");
  out->append(arg);
  out->append("\r\n");
}
}  // namespace

Command::Command(std::initializer_list<std::string_view> args, std::span<const std::byte> payload)
    : payload_(payload), has_payload_(payload.data() != nullptr) {
  const std::size_t n = args.size() + (has_payload_ ? 1 : 0);
  head_ = "*" + std::to_string(n) + "\r\n";
  for (std::string_view a : args) AppendBulk(&head_, a);
  if (has_payload_) head_ += "$" + std::to_string(payload.size()) + "\r\n";
}

Command::Command(const std::vector<std::string>& args) {
  head_ = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) AppendBulk(&head_, a);
}

// ---- cluster ----

std::uint16_t KeySlot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  std::uint16_t crc = 0;  // CRC16-CCITT (XMODEM): poly 0x1021, init 0
  for (const char c : key) {
    crc ^= static_cast<std::uint16_t>(static_cast<std::uint8_t>(c) << 8);
    for (int i = 0; i < 8; ++i) crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc % kSlots;
}

bool ParseRedirect(std::string_view error, Redirect* out) {
  Redirect r;
  if (error.substr(0, 6) == "MOVED ") {
    error.remove_prefix(6);
  } else if (error.substr(0, 4) == "ASK ") {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return false;
  }
  const std::size_t space = error.find(' ');
  if (space == std::string_view::npos) return false;
  unsigned slot = 0;
  const std::string_view s = error.substr(0, space);
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), slot);
      ec != std::errc() || p != s.data() + s.size() || slot >= kSlots)
    return false;
  // An empty host ("MOVED 1 :7001") is the node that answered.
  if (!net::ParseHostPort(error.substr(space + 1), &r.host, &r.port)) return false;
  r.slot = static_cast<std::uint16_t>(slot);
  *out = std::move(r);
  return true;
}

}  // namespace lmc::resp
