// RESP replies (impl/resp/reply.h): what a Redis, or anything listening on
// its port, sends the tier's client; the simulator's RESP node parses
// requests with the same reader.
//
// Input: the first byte picks the size of the pieces the rest is fed in
// (1 to 256 bytes), as reads from a socket would split it.
//
// Oracles:
// - the reader never reads out of bounds or leaks (ASan, LSan) and stops at
//   its limits: no string over max_bulk_bytes, no array over max_elements;
// - the split does not matter: fed whole, the input gives the same replies
//   and the same end (an error, or waiting for more);
// - a reply written back as RESP parses to the same reply;
// - an error reply read as a redirect (ParseRedirect) names a slot under
//   16384 and a port from 1 to 65535; KeySlot of any string is under 16384.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "oracle.h"
#include "resp/reply.h"

namespace {

using lmc::resp::Reply;
using lmc::resp::ReplyReader;

constexpr lmc::resp::ReaderLimits kLimits{4096, 64, 16384};

std::string Encode(const Reply& r) {
  switch (r.type) {
    case Reply::Type::kString: return "$" + std::to_string(r.str.size()) + "\r\n" + r.str + "\r\n";
    case Reply::Type::kStatus: return "+" + r.str + "\r\n";
    case Reply::Type::kError: return "-" + r.str + "\r\n";
    case Reply::Type::kInteger: return ":" + std::to_string(r.integer) + "\r\n";
    case Reply::Type::kNil: return "$-1\r\n";
    case Reply::Type::kArray: {
      std::string out = "*" + std::to_string(r.elements.size()) + "\r\n";
      for (const Reply& e : r.elements) out += Encode(e);
      return out;
    }
  }
  return {};
}

void CheckLimits(const Reply& r, int depth) {
  LMC_ORACLE(depth <= 8, "a reply nested deeper than hiredis allows");
  LMC_ORACLE(r.str.size() <= kLimits.max_bulk_bytes, "a string over the limit: " + std::to_string(r.str.size()));
  LMC_ORACLE(r.elements.size() <= kLimits.max_elements, "an array over the limit");
  for (const Reply& e : r.elements) CheckLimits(e, depth + 1);
  if (r.is_error()) {
    lmc::resp::Redirect rd;
    if (lmc::resp::ParseRedirect(r.str, &rd))
      LMC_ORACLE(rd.slot < lmc::resp::kSlots && rd.port >= 1, "a redirect out of range: " + r.str);
  }
}

// Every reply the reader gives for `in` fed in pieces of `piece` bytes, and
// whether it ended in an error.
std::vector<std::string> Replies(std::string_view in, std::size_t piece, bool* failed) {
  ReplyReader reader(kLimits);
  std::vector<std::string> out;
  *failed = false;
  for (std::size_t at = 0; at < in.size() && !*failed; at += piece) {
    const std::string_view part = in.substr(at, piece);
    if (!reader.Feed(std::as_bytes(std::span(part.data(), part.size())))) {
      *failed = true;
      break;
    }
    for (;;) {
      Reply r;
      const ReplyReader::Status s = reader.Next(&r);
      if (s == ReplyReader::Status::kError) *failed = true;
      if (s != ReplyReader::Status::kReply) break;
      CheckLimits(r, 0);
      out.push_back(Encode(r));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool split_failed = false, whole_failed = false;
  const std::vector<std::string> split = Replies(in, piece, &split_failed);
  const std::vector<std::string> whole = Replies(in, in.size() + 1, &whole_failed);
  // A limit on bytes held without a whole reply can trip at a different
  // reply when fed whole (more is held at once): compare up to the first
  // failure, and the ends only when neither hit the buffer limit.
  const std::size_t common = std::min(split.size(), whole.size());
  for (std::size_t i = 0; i < common; ++i)
    LMC_ORACLE(split[i] == whole[i], "a split changed reply " + std::to_string(i));
  if (in.size() < kLimits.max_buffered_bytes) {
    LMC_ORACLE(split.size() == whole.size() && split_failed == whole_failed,
               "a split changed the replies: " + std::to_string(split.size()) + " vs " + std::to_string(whole.size()));
  }
  for (const std::string& e : whole) {
    bool failed = false;
    const std::vector<std::string> again = Replies(e, e.size() + 1, &failed);
    LMC_ORACLE(!failed && again.size() == 1 && again[0] == e, "a reply written back parses to another: " + e);
  }
  LMC_ORACLE(lmc::resp::KeySlot(in) < lmc::resp::kSlots, "a slot out of range");
  return 0;
}
