// RESP replies (Redis's serialization protocol, version 2) from untrusted
// bytes. The parsing is hiredis's reply reader, which works on bytes and
// does no I/O; the kit gives it its own object functions, so every reply
// is built into a Reply tree here and every length is checked against the
// limits before anything is allocated for it:
// - a bulk string over max_bulk_bytes, an array over max_elements (or a
//   negative count other than -1), or more than max_buffered_bytes held
//   without a whole reply, is an error, never an allocation;
// - nesting deeper than hiredis's seven levels is hiredis's own error.
// Feed and Next never throw; after an error the reader stays failed (the
// caller drops the connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::resp {

struct Reply {
  enum class Type : std::uint8_t { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_ok_status() const { return type == Type::kStatus && str == "OK"; }
};
std::string_view ReplyTypeName(Reply::Type t);

struct ReaderLimits {
  std::size_t max_bulk_bytes = std::size_t{1} << 30;
  std::size_t max_elements = 1 << 16;
  std::size_t max_buffered_bytes = (std::size_t{1} << 30) + 4096;
};

class ReplyReader {
 public:
  explicit ReplyReader(ReaderLimits limits = {});
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // Appends bytes read from the peer; false once the reader has failed.
  [[nodiscard]] bool Feed(std::span<const std::byte> bytes);
  enum class Status : std::uint8_t { kNeedMore, kReply, kError };
  // The next whole reply, if the bytes fed hold one.
  [[nodiscard]] Status Next(Reply* out);
  // Why it failed (empty while it has not).
  const std::string& error() const { return error_; }
  // Bytes fed and not yet consumed by a reply.
  std::size_t buffered() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
};

// A command as RESP: an array of bulk strings, the last of which may be a
// payload sent from the caller's memory. Head() is everything before the
// payload; Tail() is what follows it ("\r\n", or nothing).
class Command {
 public:
  Command(std::initializer_list<std::string_view> args, std::span<const std::byte> payload = {});
  explicit Command(const std::vector<std::string>& args);
  const std::string& head() const { return head_; }
  std::span<const std::byte> payload() const { return payload_; }
  std::string_view tail() const { return has_payload_ ? std::string_view("\r\n") : std::string_view(); }
  std::size_t size() const { return head_.size() + payload_.size() + tail().size(); }

 private:
  std::string head_;
  std::span<const std::byte> payload_;
  bool has_payload_ = false;
};

// Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key, or of the
// part between the first '{' and the next '}' when that part is not empty,
// modulo 16384.
[[nodiscard]] std::uint16_t KeySlot(std::string_view key);
inline constexpr std::uint16_t kSlots = 16384;

// "MOVED 3999 127.0.0.1:6381" / "ASK ...": the redirect an error reply
// carries; false if it is not one.
struct Redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;
  std::uint16_t port = 0;
};
[[nodiscard]] bool ParseRedirect(std::string_view error, Redirect* out);

}  // namespace lmc::resp
