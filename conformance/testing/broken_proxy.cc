// lmcache-broken-proxy: a misbehaving lm:// server made from a good one.
//
//   lmcache-broken-proxy --listen-port 0 --upstream 127.0.0.1:PORT --bug NAME
//
// It listens on 127.0.0.1, prints "listening on PORT" on stdout, and relays
// every connection to the upstream server (the reference lmcache-server),
// parsing both byte streams as the wire frames them (186-byte request
// headers, then `length` payload bytes after a PUT; 36-byte replies, then a
// body after a SUCCESS with length > 0), so that it can rewrite them. It
// injects exactly one bug, chosen by --bug, the way a reimplementation might
// get the protocol wrong (--list-bugs prints them). The conformance runner
// must fail on each (conformance/testing/broken_servers_test.py holds which
// cases must catch which bug); `--bug none` relays faithfully and must pass.
//
// The bug switches live here, in the misbehaving peer, and not in the server
// under test (after BoringSSL's BoGo). This is a test tool: one thread per
// connection, blocking-free poll() over the two sockets, buffers bounded by
// backpressure (a side is not read while the other's queue is full).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tools/cli.h"
#include "wire/cache_key.h"
#include "wire/text.h"
#include "wire/wire_format.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kReqBytes = lmc::wire::kRequestHeaderBytes;    // 186
constexpr std::size_t kReplyBytes = lmc::wire::kReplyHeaderBytes;    // 36
constexpr std::size_t kKeyOffset = lmc::wire::kRequestIntCount * 4;  // 36
constexpr std::int32_t kPut = 1, kGet = 2, kExist = 3, kList = 4, kHealth = 5;
constexpr std::int32_t kSuccess = 200, kFail = 400;
// A side stops being read while this much waits to go to the other side.
constexpr std::size_t kQueueBytesMax = 4 << 20;
constexpr std::size_t kReadChunkBytes = 64 << 10;
// truncated-put-published pads at most this many bytes (larger: left alone).
constexpr std::int64_t kPadBytesMax = std::int64_t{256} << 20;
// replies-reordered holds a reply at most this long for the next one.
constexpr auto kHoldMax = 500ms;
// Other connections wait at most this long for a padded PUT to land.
constexpr auto kBarrierMax = 2s;

// --- The bugs ---------------------------------------------------------------

enum class Bug {
  kNone,
  kReplyLocationFifth,
  kBytewiseKeys,
  kDropOverwrite,
  kTornBody,
  kReplyToPut,
  kListUnanswered,
  kUnknownCommandHangs,
  kStripSpacesOnly,
  kMetadataNotEchoed,
  kDtypeCanonicalised,
  kTruncatedPutPublished,
  kOneRequestPerConnection,
  kRepliesReordered,
  kPipelinedRequestsLost,
  kBodyCapped1Mib,
  kHangOnGet,
  kHealthFails,
  kBadCode201,
  kExistInverted,
  kNulPaddingAccepted,
  kMissAsEmptyHit,
  kMissDropsConnection,
  kListTrailingNewline,
  kReplyShortHeader,
  kHeader188Bytes,
  kNegativeLengthStored,
  kUnknownCodesDrop,
  kBadKeyDrops,
  kSplitReplies,
  kOneConnectionAtATime,
  kLocationEchoed,
  kZeroLengthPutDropped,
  kAsciiKeysOnly,
  kKey149Max,
  kOverwriteKeepsMetadata,
  kHealthChecksKey,
  kNegativeShapeZeroed,
  kHalfGetBody,
  kSilent,
};

struct BugInfo {
  Bug bug;
  std::string_view name;
  std::string_view what;
};

constexpr BugInfo kBugs[] = {
    {Bug::kNone, "none", "relays faithfully (the control run: must pass)"},
    {Bug::kReplyLocationFifth, "reply-location-fifth",
     "reply ints in request order: location moved to the 5th int, the shape after it"},
    {Bug::kBytewiseKeys, "bytewise-keys",
     "keys compared byte-wise: each spelling of a hash (0x3039, 00003039, 3_039) is its own key"},
    {Bug::kDropOverwrite, "drop-overwrite", "a second PUT of a key already PUT is read and discarded"},
    {Bug::kTornBody, "torn-body", "one byte in the middle of GET bodies over 1 KiB is flipped"},
    {Bug::kReplyToPut, "reply-to-put", "a SUCCESS reply is sent after each PUT"},
    {Bug::kListUnanswered, "list-unanswered", "LIST is swallowed (LMCache's main line; the reference answers)"},
    {Bug::kUnknownCommandHangs, "unknown-command-hangs",
     "an unknown command is swallowed and the connection kept open, instead of closed"},
    {Bug::kStripSpacesOnly, "strip-spaces-only",
     "only 0x20 is stripped from the key: other leading/trailing whitespace stays part of it"},
    {Bug::kMetadataNotEchoed, "metadata-not-echoed", "GET hit replies carry shape 0,0,0,0"},
    {Bug::kDtypeCanonicalised, "dtype-canonicalised",
     "dtype 1 echoed as 2 (what LMCache's Python does; the reference profile wants it as sent)"},
    {Bug::kTruncatedPutPublished, "truncated-put-published",
     "a PUT cut short by a disconnect is padded with zeros and stored"},
    {Bug::kOneRequestPerConnection, "one-request-per-connection", "the connection is closed after the first reply"},
    {Bug::kRepliesReordered, "replies-reordered", "two pipelined replies are sent in swapped order"},
    {Bug::kPipelinedRequestsLost, "pipelined-requests-lost",
     "one request per read: bytes that arrive after a complete request in the same read are discarded"},
    {Bug::kBodyCapped1Mib, "body-capped-1mib", "a PUT over 1 MiB drops the connection"},
    {Bug::kHangOnGet, "hang-on-get", "GETs are never answered (and nothing after them)"},
    {Bug::kHalfGetBody, "half-get-body",
     "GET hits send the first half of the body after a header that claims all of it; the connection stays open"},
    {Bug::kSilent, "silent", "nothing is ever answered: the first request of a connection is read, then nothing"},
    {Bug::kHealthFails, "health-fails", "HEALTH is answered with FAIL (400)"},
    {Bug::kBadCode201, "bad-code-201", "GET hits are answered with code 201"},
    {Bug::kExistInverted, "exist-inverted", "EXIST answers 400 for present keys and 200 for absent ones"},
    {Bug::kNulPaddingAccepted, "nul-padding-accepted", "NUL padding of the key field is taken as spaces"},
    {Bug::kMissAsEmptyHit, "miss-as-empty-hit", "a GET miss is answered SUCCESS with length 0"},
    {Bug::kMissDropsConnection, "miss-drops-connection", "a GET miss closes the connection instead of FAIL"},
    {Bug::kListTrailingNewline, "list-trailing-newline", "the LIST body ends with a newline (counted in length)"},
    {Bug::kReplyShortHeader, "reply-short-header", "replies are 32 bytes: the last int (location) is not sent"},
    {Bug::kHeader188Bytes, "header-188-bytes",
     "request headers read as a naive 188-byte struct: 2 bytes after each header are lost"},
    {Bug::kNegativeLengthStored, "negative-length-stored",
     "a PUT with a negative length stores an empty object (Python) instead of closing"},
    {Bug::kUnknownCodesDrop, "unknown-codes-drop",
     "fmt/dtype/location outside LMCache's tables close the connection (Python) instead of being echoed"},
    {Bug::kBadKeyDrops, "bad-key-drops",
     "a GET/EXIST whose key does not parse closes the connection (Python) instead of FAIL"},
    {Bug::kSplitReplies, "split-replies",
     "legal: every reply header byte is written separately; not a bug, the runner must still pass"},
    {Bug::kOneConnectionAtATime, "one-connection-at-a-time",
     "connections are served one at a time: a second waits until the first closes"},
    {Bug::kLocationEchoed, "location-echoed", "a GET hit echoes the PUT's location instead of 0"},
    {Bug::kZeroLengthPutDropped, "zero-length-put-dropped", "a PUT of 0 bytes is not stored"},
    {Bug::kAsciiKeysOnly, "ascii-keys-only",
     "a key with bytes outside ASCII is refused (GET/EXIST: FAIL; PUT: discarded)"},
    {Bug::kKey149Max, "key-149-max",
     "a key filling all 150 bytes (no padding) is refused, as with a NUL-terminated char[150]"},
    {Bug::kOverwriteKeepsMetadata, "overwrite-keeps-metadata",
     "a repeated PUT replaces the bytes but GET still echoes the first PUT's fmt, dtype and shape"},
    {Bug::kHealthChecksKey, "health-checks-key",
     "HEALTH whose probe key does not parse is answered FAIL (the probe key should not be looked at)"},
    {Bug::kNegativeShapeZeroed, "negative-shape-zeroed",
     "negative shape ints come back as 0 (shape kept as unsigned sizes and clamped)"},
};

Bug g_bug = Bug::kNone;

// drop-overwrite: the key fields (150 bytes) already PUT, by any connection.
// location-echoed, overwrite-keeps-metadata: what the PUTs of a key field
// sent (location; fmt, dtype and shape of the first PUT), bytes 8..36.
std::mutex g_keys_mu;
std::set<std::string> g_put_keys;
std::map<std::string, std::string> g_put_fields;

// one-connection-at-a-time: connections are served in accept order, one at
// a time (a ticket lock: a plain mutex would let a later one go first).
std::mutex g_serve_mu;
std::condition_variable g_serve_cv;
std::uint64_t g_now_serving = 0;

class ServeInTurn {
 public:
  ServeInTurn(bool active, std::uint64_t ticket) : active_(active), ticket_(ticket) {
    if (!active_) return;
    std::unique_lock lock(g_serve_mu);
    g_serve_cv.wait(lock, [this] { return g_now_serving == ticket_; });
  }
  ~ServeInTurn() {
    if (!active_) return;
    {
      std::lock_guard lock(g_serve_mu);
      ++g_now_serving;
    }
    g_serve_cv.notify_all();
  }
  ServeInTurn(const ServeInTurn&) = delete;
  ServeInTurn& operator=(const ServeInTurn&) = delete;

 private:
  bool active_;
  std::uint64_t ticket_;
};

// truncated-put-published: padded PUTs still on their way upstream. Other
// connections hold their requests back until they have landed, so a check on
// another connection sees the published object.
std::mutex g_barrier_mu;
std::condition_variable g_barrier_cv;
int g_padding = 0;

void WaitForPaddedPuts() {
  std::unique_lock lock(g_barrier_mu);
  g_barrier_cv.wait_for(lock, kBarrierMax, [] { return g_padding == 0; });
}

void AddPadding(int delta) {
  {
    std::lock_guard lock(g_barrier_mu);
    g_padding += delta;
  }
  g_barrier_cv.notify_all();
}

// --- Little helpers -----------------------------------------------------------

std::int32_t GetI32(std::string_view b, std::size_t off) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(b[off + i])} << (8 * i);
  return static_cast<std::int32_t>(v);
}

void PutI32(std::string* b, std::size_t off, std::int32_t value) {
  const auto v = static_cast<std::uint32_t>(value);
  for (std::size_t i = 0; i < 4; ++i) (*b)[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string DummyReply(std::int32_t code) {
  std::string r(kReplyBytes, '\0');
  PutI32(&r, 0, code);
  PutI32(&r, 8, lmc::wire::kDummyFmt);
  PutI32(&r, 12, lmc::wire::kDummyDtype);
  return r;
}

std::string HealthRequest() {
  std::string r(kReqBytes, ' ');
  PutI32(&r, 0, kHealth);
  PutI32(&r, 4, 0);
  PutI32(&r, 8, lmc::wire::kDummyFmt);
  PutI32(&r, 12, lmc::wire::kDummyDtype);
  for (std::size_t off = 16; off < kKeyOffset; off += 4) PutI32(&r, off, 0);
  const std::string_view key = "@0@0@0@half";
  r.replace(kKeyOffset, key.size(), key);
  return r;
}

// The key text of a header: the field without its trailing 0x20 padding.
std::string_view KeyText(std::string_view header) {
  std::string_view f = header.substr(kKeyOffset);
  while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
  return f;
}

void SetKeyText(std::string* header, std::string_view text) {
  std::string field(text.substr(0, lmc::wire::kKeyFieldBytes));
  field.resize(lmc::wire::kKeyFieldBytes, ' ');
  header->replace(kKeyOffset, lmc::wire::kKeyFieldBytes, field);
}

// The length of the UTF-8 sequence at s[i] and its code point; 0 when it is
// not a valid sequence.
std::size_t DecodeUtf8(std::string_view s, std::size_t i, char32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t n = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  char32_t v = n == 1 ? char32_t{b0} : static_cast<char32_t>(b0 & (0x7f >> n));
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b >> 6) != 2) return 0;
    v = (v << 6) | (b & 0x3f);
  }
  *cp = v;
  return n;
}

// strip-spaces-only: leading and trailing whitespace other than 0x20 (as
// Python's str.strip() would remove it) becomes '_', so it stays part of
// the key as in a server that strips only spaces.
void KeepNonSpaceWhitespace(std::string* header) {
  std::string field = header->substr(kKeyOffset);
  // Leading: whitespace code points from the start.
  for (std::size_t i = 0; i < field.size();) {
    char32_t cp = 0;
    const std::size_t n = DecodeUtf8(field, i, &cp);
    if (n == 0 || !lmc::wire::IsPythonWhitespace(cp)) break;
    if (cp != U' ') std::fill_n(field.begin() + static_cast<std::ptrdiff_t>(i), n, '_');
    i += n;
  }
  // Trailing: whitespace code points that end the field (walk back to the
  // start of each sequence).
  std::size_t end = field.size();
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(field[start]) >> 6) == 2 && end - start < 4) --start;
    char32_t cp = 0;
    if (DecodeUtf8(field, start, &cp) != end - start || !lmc::wire::IsPythonWhitespace(cp)) break;
    if (cp != U' ')
      std::fill(field.begin() + static_cast<std::ptrdiff_t>(start), field.begin() + static_cast<std::ptrdiff_t>(end),
                '_');
    end = start;
  }
  header->replace(kKeyOffset, field.size(), field);
}

// bytewise-keys: a hash field spelled other than canonically becomes the hex
// of its spelled bytes, so each spelling is its own key (a store compared
// byte-wise); canonical keys pass unchanged.
void SpellingIsTheKey(std::string* header) {
  const std::string text(lmc::wire::PythonStrip(KeyText(*header)));
  lmc::wire::CacheKey parsed;
  std::string canonical;
  if (!lmc::wire::IsValidUtf8(KeyText(*header)) ||
      lmc::wire::ParseCacheKey(text, &parsed) != lmc::wire::KeyError::kOk ||
      lmc::wire::RenderCacheKey(parsed, &canonical) != lmc::wire::KeyError::kOk) {
    return;
  }
  const auto fields = [](std::string_view s) {
    std::vector<std::string> out(1);
    for (const char c : s) {
      if (c == '@') {
        out.emplace_back();
      } else {
        out.back().push_back(c);
      }
    }
    return out;
  };
  std::vector<std::string> spelled = fields(text);
  const std::vector<std::string> canon = fields(canonical);
  if (spelled.size() < 5 || canon.size() < 5 || spelled[3] == canon[3]) return;
  spelled[3] = lmc::wire::ToHex(std::as_bytes(std::span(spelled[3].data(), spelled[3].size())));
  std::string rewritten;
  for (std::size_t i = 0; i < spelled.size(); ++i) rewritten += (i > 0 ? "@" : "") + spelled[i];
  if (rewritten.size() <= lmc::wire::kKeyFieldBytes) SetKeyText(header, rewritten);
}

bool KeyParses(std::string_view header) {
  const std::string_view field = header.substr(kKeyOffset);
  if (!lmc::wire::IsValidUtf8(field)) return false;
  lmc::wire::CacheKey parsed;
  return lmc::wire::ParseCacheKey(lmc::wire::PythonStrip(field), &parsed) == lmc::wire::KeyError::kOk;
}

bool KnownCodes(std::string_view header) {
  const std::int32_t fmt = GetI32(header, 8), dtype = GetI32(header, 12), location = GetI32(header, 16);
  return fmt >= 0 && fmt <= 8 && dtype >= 0 && dtype <= 8 && location >= 0 && location <= 2;
}

// --- One relayed connection -------------------------------------------------

class Relay {
 public:
  Relay(int client, int upstream) : client_(client), upstream_(upstream) {}
  ~Relay() {
    if (padding_) AddPadding(-1);
    if (client_ >= 0) ::close(client_);
    if (upstream_ >= 0) ::close(upstream_);
  }

  void Run();

 private:
  // What is owed to the client, in request order.
  struct Owed {
    std::int32_t command = 0;
    // kUpstream: the server's reply; kSynthetic: made here (a dummy with
    // `code`); kInternal: the server's, to a request made here (not relayed).
    enum class Kind : std::uint8_t { kUpstream, kSynthetic, kInternal } kind = Kind::kUpstream;
    std::int32_t code = kSuccess;
    std::string key;  // GET: the request's key field
  };

  // Requests (client to upstream).
  void FeedClient(std::string_view bytes);
  void OnRequestHeader();
  void OnPutDone();
  void OnClientEnd();
  // Replies (upstream to client).
  void FeedUpstream(std::string_view bytes);
  void OnReplyHeader();
  void OnReplyDone();
  void FlushSynthetic();
  void Emit(std::string_view bytes);  // bytes of the current reply, to the client
  void EmitHeader(std::string_view header);
  void ReplyComplete();
  // Stop taking requests; close once the owed replies are sent (or at once).
  void CloseAfterReplies();
  void CloseAfterFlush();

  bool FlushTo(int fd, std::string* queue, std::size_t* off, bool* dead);

  int client_;
  int upstream_;
  bool client_eof_ = false;     // no more client input
  bool client_dead_ = false;    // writes to the client fail
  bool upstream_eof_ = false;   // no more replies
  bool upstream_dead_ = false;  // writes upstream fail
  bool upstream_shut_ = false;  // SHUT_WR sent upstream
  bool close_when_flushed_ = false;
  bool padding_ = false;  // counted in g_padding

  // Request parser.
  enum class In : std::uint8_t { kHeader, kPayload, kHalted } in_ = In::kHeader;
  std::string header_;
  std::int64_t payload_left_ = 0;
  bool payload_forward_ = true;
  bool put_owes_reply_ = false;  // reply-to-put: after this payload
  std::string to_up_;
  std::size_t to_up_off_ = 0;

  // Reply parser.
  std::deque<Owed> owed_;
  std::string reply_;  // header being staged
  std::int64_t body_left_ = 0;
  std::int64_t body_length_ = 0;
  bool body_newline_ = false;  // list-trailing-newline
  Owed current_;
  bool swallow_current_ = false;
  std::string cur_;   // replies-reordered: the current reply, whole
  std::string held_;  // replies-reordered: a complete reply held back
  Clock::time_point held_since_;
  std::string to_client_;
  std::size_t to_client_off_ = 0;
  // split-replies: [begin, end) of each reply header not yet sent, counted
  // in bytes sent to the client since the start.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> header_ranges_;
  std::uint64_t client_sent_ = 0;
};

void Relay::FeedClient(std::string_view bytes) {
  while (!bytes.empty()) {
    if (in_ == In::kHalted || close_when_flushed_) return;  // read and ignored
    if (in_ == In::kPayload) {
      const auto n =
          static_cast<std::size_t>(std::min<std::int64_t>(payload_left_, static_cast<std::int64_t>(bytes.size())));
      if (payload_forward_) to_up_.append(bytes.substr(0, n));
      payload_left_ -= static_cast<std::int64_t>(n);
      bytes.remove_prefix(n);
      if (payload_left_ == 0) OnPutDone();
      if (g_bug == Bug::kPipelinedRequestsLost && in_ == In::kHeader) return;  // the rest of this read is lost
      continue;
    }
    // header-188-bytes: a naive struct of nine ints and 150 chars is 188
    // bytes; the 2 extra bytes are read and lost.
    const std::size_t need = g_bug == Bug::kHeader188Bytes ? kReqBytes + 2 : kReqBytes;
    const std::size_t n = std::min(need - header_.size(), bytes.size());
    header_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (header_.size() == need) {
      OnRequestHeader();
      header_.clear();
      if (g_bug == Bug::kPipelinedRequestsLost && in_ == In::kHeader) return;
    }
  }
}

void Relay::OnRequestHeader() {
  if (g_bug == Bug::kTruncatedPutPublished) WaitForPaddedPuts();
  std::string h = header_.substr(0, kReqBytes);
  const std::int32_t cmd = GetI32(h, 0);
  std::int32_t length = GetI32(h, 4);
  const bool known = cmd >= kPut && cmd <= kHealth;
  enum class Act { kForward, kSwallow, kDiscard, kClose, kHalt } act = Act::kForward;
  switch (g_bug) {
    case Bug::kBytewiseKeys:
      if (cmd == kPut || cmd == kGet || cmd == kExist) SpellingIsTheKey(&h);
      break;
    case Bug::kStripSpacesOnly: KeepNonSpaceWhitespace(&h); break;
    case Bug::kNulPaddingAccepted: {
      for (std::size_t i = h.size(); i > kKeyOffset && (h[i - 1] == '\0' || h[i - 1] == ' '); --i) h[i - 1] = ' ';
      break;
    }
    case Bug::kDropOverwrite:
      if (cmd == kPut) {
        std::lock_guard lock(g_keys_mu);
        if (!g_put_keys.insert(h.substr(kKeyOffset)).second) act = Act::kDiscard;
      }
      break;
    case Bug::kListUnanswered:
      if (cmd == kList) act = Act::kSwallow;
      break;
    case Bug::kUnknownCommandHangs:
      if (!known) act = Act::kSwallow;
      break;
    case Bug::kBodyCapped1Mib:
      if (cmd == kPut && length > (1 << 20)) act = Act::kClose;
      break;
    case Bug::kHangOnGet:
      if (cmd == kGet) act = Act::kHalt;
      break;
    case Bug::kSilent: act = Act::kHalt; break;
    case Bug::kNegativeLengthStored:
      if (cmd == kPut && length < 0) {
        length = 0;
        PutI32(&h, 4, 0);
      }
      break;
    case Bug::kUnknownCodesDrop:
      if (known && !KnownCodes(h)) act = Act::kClose;
      break;
    case Bug::kBadKeyDrops:
      if ((cmd == kGet || cmd == kExist) && !KeyParses(h)) act = Act::kClose;
      break;
    case Bug::kHealthChecksKey:
      if (cmd == kHealth && !KeyParses(h)) {
        owed_.push_back({cmd, Owed::Kind::kSynthetic, kFail, {}});
        FlushSynthetic();
        return;
      }
      break;
    case Bug::kZeroLengthPutDropped:
      if (cmd == kPut && length == 0) act = Act::kSwallow;
      break;
    case Bug::kAsciiKeysOnly:
    case Bug::kKey149Max: {
      const std::string_view field = std::string_view(h).substr(kKeyOffset);
      const bool refused =
          g_bug == Bug::kAsciiKeysOnly
              ? std::any_of(field.begin(), field.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })
              : field.back() != ' ';
      if (refused && (cmd == kGet || cmd == kExist)) {
        owed_.push_back({cmd, Owed::Kind::kSynthetic, kFail, {}});
        FlushSynthetic();
        return;
      }
      if (refused && cmd == kPut) act = Act::kDiscard;
      break;
    }
    case Bug::kLocationEchoed:
    case Bug::kOverwriteKeepsMetadata:
      if (cmd == kPut && length >= 0) {
        std::lock_guard lock(g_keys_mu);
        const std::string field = h.substr(kKeyOffset);
        auto it = g_put_fields.find(field);
        if (it == g_put_fields.end() || g_bug == Bug::kLocationEchoed) g_put_fields[field] = h.substr(8, 28);
      }
      break;
    default: break;
  }
  switch (act) {
    case Act::kForward:
      to_up_.append(h);
      if (cmd == kGet || cmd == kExist || cmd == kList || cmd == kHealth) {
        owed_.push_back({cmd, Owed::Kind::kUpstream, kSuccess, cmd == kGet ? h.substr(kKeyOffset) : std::string()});
      }
      if (cmd == kPut && length > 0) {
        in_ = In::kPayload;
        payload_left_ = length;
        payload_forward_ = true;
        put_owes_reply_ = g_bug == Bug::kReplyToPut;
      } else if (cmd == kPut && length == 0 && g_bug == Bug::kReplyToPut) {
        owed_.push_back({kPut, Owed::Kind::kSynthetic, kSuccess, {}});
        FlushSynthetic();
      }
      return;
    case Act::kSwallow: return;
    case Act::kDiscard:
      if (length > 0) {
        in_ = In::kPayload;
        payload_left_ = length;
        payload_forward_ = false;
        put_owes_reply_ = false;
      }
      return;
    case Act::kClose: CloseAfterReplies(); return;
    case Act::kHalt: in_ = In::kHalted; return;
  }
}

void Relay::OnPutDone() {
  in_ = In::kHeader;
  if (put_owes_reply_) {
    owed_.push_back({kPut, Owed::Kind::kSynthetic, kSuccess, {}});
    FlushSynthetic();
  }
  put_owes_reply_ = false;
}

void Relay::OnClientEnd() {
  client_eof_ = true;
  if (close_when_flushed_) return;
  if (in_ == In::kHeader && !header_.empty()) {
    to_up_.append(header_.substr(0, kReqBytes));  // the server sees the same truncated header
    header_.clear();
  }
  if (in_ == In::kPayload && payload_forward_ && g_bug == Bug::kTruncatedPutPublished &&
      payload_left_ <= kPadBytesMax) {
    to_up_.append(static_cast<std::size_t>(payload_left_), '\0');
    payload_left_ = 0;
    // A HEALTH behind the PUT says when it has landed.
    to_up_.append(HealthRequest());
    owed_.push_back({kHealth, Owed::Kind::kInternal, kSuccess, {}});
    padding_ = true;
    AddPadding(1);
  }
}

void Relay::CloseAfterReplies() {
  // Nothing more goes upstream; the server answers what it has, sees EOF
  // and closes, and then the client is closed.
  in_ = In::kHalted;
  client_eof_ = true;
}

void Relay::CloseAfterFlush() {
  close_when_flushed_ = true;
  in_ = In::kHalted;
  client_eof_ = true;
}

void Relay::FeedUpstream(std::string_view bytes) {
  while (!bytes.empty()) {
    if (close_when_flushed_) return;
    if (body_left_ > 0) {
      const auto n =
          static_cast<std::size_t>(std::min<std::int64_t>(body_left_, static_cast<std::int64_t>(bytes.size())));
      std::string piece(bytes.substr(0, n));
      if (g_bug == Bug::kTornBody && current_.command == kGet && body_length_ > 1024) {
        const std::int64_t at = body_length_ / 2 - (body_length_ - body_left_);  // index in this piece
        if (at >= 0 && at < static_cast<std::int64_t>(n)) piece[static_cast<std::size_t>(at)] ^= 0x01;
      }
      if (g_bug == Bug::kHalfGetBody && current_.command == kGet) {
        // Keep the part of this piece that lies in the body's first half.
        const std::int64_t done = body_length_ - body_left_;
        const std::int64_t keep = std::clamp<std::int64_t>(body_length_ / 2 - done, 0, static_cast<std::int64_t>(n));
        piece.resize(static_cast<std::size_t>(keep));
      }
      body_left_ -= static_cast<std::int64_t>(n);
      bytes.remove_prefix(n);
      if (!swallow_current_) Emit(piece);
      if (body_left_ == 0) OnReplyDone();
      continue;
    }
    const std::size_t n = std::min(kReplyBytes - reply_.size(), bytes.size());
    reply_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (reply_.size() == kReplyBytes) {
      OnReplyHeader();
      reply_.clear();
    }
  }
}

void Relay::OnReplyHeader() {
  current_ = owed_.empty() ? Owed{} : owed_.front();
  swallow_current_ = current_.kind == Owed::Kind::kInternal;
  std::string h = reply_;
  const std::int32_t code = GetI32(h, 0), length = GetI32(h, 4);
  const bool has_body = code == kSuccess && length > 0;
  const std::int32_t cmd = current_.command;
  body_newline_ = false;
  switch (g_bug) {
    case Bug::kReplyLocationFifth: {
      const std::string shape = h.substr(16, 16), location = h.substr(32, 4);
      h.replace(16, 4, location);
      h.replace(20, 16, shape);
      break;
    }
    case Bug::kMetadataNotEchoed:
      if (cmd == kGet && code == kSuccess) std::fill(h.begin() + 16, h.begin() + 32, '\0');
      break;
    case Bug::kDtypeCanonicalised:
      if (cmd == kGet && code == kSuccess && GetI32(h, 12) == 1) PutI32(&h, 12, 2);
      break;
    case Bug::kHealthFails:
      if (cmd == kHealth) PutI32(&h, 0, kFail);
      break;
    case Bug::kBadCode201:
      if (cmd == kGet && code == kSuccess) PutI32(&h, 0, 201);
      break;
    case Bug::kExistInverted:
      if (cmd == kExist) PutI32(&h, 0, code == kSuccess ? kFail : kSuccess);
      break;
    case Bug::kMissAsEmptyHit:
      if (cmd == kGet && code != kSuccess) PutI32(&h, 0, kSuccess);
      break;
    case Bug::kMissDropsConnection:
      if (cmd == kGet && code != kSuccess) {
        CloseAfterFlush();
        return;
      }
      break;
    case Bug::kListTrailingNewline:
      if (cmd == kList && code == kSuccess && length > 0) {
        PutI32(&h, 4, length + 1);
        body_newline_ = true;
      }
      break;
    case Bug::kReplyShortHeader: h.resize(32); break;
    case Bug::kNegativeShapeZeroed:
      if (cmd == kGet && code == kSuccess) {
        for (std::size_t off = 16; off < 32; off += 4) {
          if (GetI32(h, off) < 0) PutI32(&h, off, 0);
        }
      }
      break;
    case Bug::kLocationEchoed:
    case Bug::kOverwriteKeepsMetadata:
      if (cmd == kGet && code == kSuccess) {
        std::lock_guard lock(g_keys_mu);
        const auto it = g_put_fields.find(current_.key);
        if (it != g_put_fields.end()) {
          // Put fields from byte 8: fmt, dtype, location, shape[4].
          const std::string& f = it->second;
          if (g_bug == Bug::kLocationEchoed) {
            h.replace(32, 4, f.substr(8, 4));
          } else {
            h.replace(8, 8, f.substr(0, 8));
            h.replace(16, 16, f.substr(12, 16));
          }
        }
      }
      break;
    default: break;
  }
  if (!swallow_current_) EmitHeader(h);
  if (has_body) {
    body_left_ = body_length_ = length;
  } else {
    OnReplyDone();
  }
}

void Relay::OnReplyDone() {
  if (body_newline_ && !swallow_current_) Emit("\n");
  body_newline_ = false;
  if (!owed_.empty()) owed_.pop_front();
  if (current_.kind == Owed::Kind::kInternal && padding_) {
    padding_ = false;
    AddPadding(-1);
  }
  if (!swallow_current_) ReplyComplete();
  swallow_current_ = false;
  if (g_bug == Bug::kOneRequestPerConnection && current_.kind != Owed::Kind::kInternal) {
    CloseAfterFlush();
    return;
  }
  FlushSynthetic();
}

void Relay::FlushSynthetic() {
  while (!owed_.empty() && owed_.front().kind == Owed::Kind::kSynthetic && reply_.empty() && body_left_ == 0) {
    const std::int32_t code = owed_.front().code;
    owed_.pop_front();
    EmitHeader(DummyReply(code));
    ReplyComplete();
  }
}

void Relay::Emit(std::string_view bytes) {
  if (g_bug == Bug::kRepliesReordered) {
    cur_.append(bytes);
  } else {
    to_client_.append(bytes);
  }
}

void Relay::EmitHeader(std::string_view header) {
  if (g_bug == Bug::kSplitReplies) {
    const std::uint64_t begin = client_sent_ + (to_client_.size() - to_client_off_);
    header_ranges_.emplace_back(begin, begin + header.size());
  }
  Emit(header);
}

void Relay::ReplyComplete() {
  if (g_bug != Bug::kRepliesReordered) return;
  // Hold a reply back while the client waits for another one; send both,
  // swapped, when the next is complete.
  if (!held_.empty()) {
    to_client_.append(cur_);
    to_client_.append(held_);
    held_.clear();
  } else if (!owed_.empty() && cur_.size() <= (1 << 20)) {
    held_ = std::move(cur_);
    held_since_ = Clock::now();
  } else {
    to_client_.append(cur_);
  }
  cur_.clear();
}

bool Relay::FlushTo(int fd, std::string* queue, std::size_t* off, bool* dead) {
  if (*dead) {
    queue->clear();
    *off = 0;
    return false;
  }
  while (*off < queue->size()) {
    std::size_t want = queue->size() - *off;
    bool split = false;
    if (fd == client_ && g_bug == Bug::kSplitReplies) {
      // Header bytes one send each; bodies in as few sends as they take.
      while (!header_ranges_.empty() && header_ranges_.front().second <= client_sent_) header_ranges_.pop_front();
      if (!header_ranges_.empty()) {
        const auto [begin, end] = header_ranges_.front();
        split = begin <= client_sent_;
        want = split ? 1 : std::min<std::size_t>(want, static_cast<std::size_t>(begin - client_sent_));
      }
    }
    const ssize_t n = ::send(fd, queue->data() + *off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      *dead = true;
      queue->clear();
      *off = 0;
      return false;
    }
    *off += static_cast<std::size_t>(n);
    if (fd == client_) client_sent_ += static_cast<std::uint64_t>(n);
    // A short pause after the first byte and in the middle of each header,
    // so the reader sees the header arrive in pieces (more pauses would
    // make 200 pipelined replies slower than a case's deadline).
    if (split && !header_ranges_.empty()) {
      const std::uint64_t at = client_sent_ - header_ranges_.front().first;
      if (at == 1 || at == 18) std::this_thread::sleep_for(200us);
    }
  }
  if (*off == queue->size()) {
    queue->clear();
    *off = 0;
  } else if (*off > (1 << 20)) {
    queue->erase(0, *off);
    *off = 0;
  }
  return true;
}

void Relay::Run() {
  std::vector<char> buf(kReadChunkBytes);
  for (;;) {
    FlushTo(upstream_, &to_up_, &to_up_off_, &upstream_dead_);
    FlushTo(client_, &to_client_, &to_client_off_, &client_dead_);
    if (!held_.empty() && (Clock::now() - held_since_ >= kHoldMax || upstream_eof_)) {
      to_client_.append(held_);
      held_.clear();
      continue;
    }
    // Half-close upstream once the client is done and its bytes are out.
    if (client_eof_ && to_up_.empty() && !upstream_shut_ && !upstream_dead_) {
      ::shutdown(upstream_, SHUT_WR);
      upstream_shut_ = true;
    }
    const bool replies_done = upstream_eof_ || upstream_dead_;
    if (close_when_flushed_ && to_client_.empty()) return;
    if (replies_done && to_client_.empty() && held_.empty()) return;

    pollfd fds[2] = {{client_, 0, 0}, {upstream_, 0, 0}};
    if (!client_eof_ && to_up_.size() < kQueueBytesMax) fds[0].events |= POLLIN;
    if (!client_dead_ && !to_client_.empty()) fds[0].events |= POLLOUT;
    if (!upstream_eof_ && !upstream_dead_ && to_client_.size() < kQueueBytesMax) fds[1].events |= POLLIN;
    if (!upstream_dead_ && !to_up_.empty()) fds[1].events |= POLLOUT;
    // A side with nothing to wait for is left out: a closed peer would
    // report POLLHUP on every call.
    for (pollfd& p : fds) {
      if (p.events == 0) p.fd = -1;
    }
    const int timeout_ms = held_.empty() ? -1 : 20;
    const int r = ::poll(fds, 2, timeout_ms);
    if (r < 0 && errno != EINTR) return;
    if (r <= 0) continue;

    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!client_eof_) {
        const ssize_t n = ::recv(client_, buf.data(), buf.size(), 0);
        if (n > 0) {
          FeedClient(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          if (n < 0) client_dead_ = true;  // reset: nothing more can be sent to it either
          OnClientEnd();
        }
      } else if (fds[0].revents & POLLERR) {
        client_dead_ = true;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!upstream_eof_) {
        const ssize_t n = ::recv(upstream_, buf.data(), buf.size(), 0);
        if (n > 0) {
          FeedUpstream(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          upstream_eof_ = true;
          // The server closed: the client gets what was answered, then EOF.
          in_ = In::kHalted;
          client_eof_ = true;
          if (!reply_.empty() || body_left_ > 0) {
            // A reply cut short upstream is cut short here too.
            if (!swallow_current_) Emit(reply_);
            reply_.clear();
            body_left_ = 0;
            if (g_bug == Bug::kRepliesReordered) to_client_.append(cur_);
            cur_.clear();
          }
        }
      }
    }
  }
}

int Connect(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void NoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t listen_port = 0;
  std::string upstream;
  std::string bug_name = "none";
  bool list_bugs = false;
  CLI::App app{"lmcache-broken-proxy: relays lm:// to a good server, injecting one bug"};
  app.add_option("--listen-port", listen_port, "port on 127.0.0.1 to listen on (0: any, printed)");
  app.add_option("--upstream", upstream, "the good server, HOST:PORT");
  app.add_option("--bug", bug_name, "the bug to inject (--list-bugs)")->capture_default_str();
  app.add_flag("--list-bugs", list_bugs, "print the bugs, one per line (name, then what it does), and exit");
  lmc::tools::SetConventions(
      app, "lmcache-broken-proxy",
      "1 cannot listen, 2 usage error (an unknown --bug, a malformed --upstream); otherwise it runs until killed");
  if (const auto status = lmc::tools::Parse(app, argc, argv)) return *status;

  if (list_bugs) {
    for (const BugInfo& b : kBugs) std::cout << b.name << "\t" << b.what << "\n";
    return 0;
  }
  bool found = false;
  for (const BugInfo& b : kBugs) {
    if (b.name == bug_name) {
      g_bug = b.bug;
      found = true;
    }
  }
  if (!found) {
    std::cerr << "lmcache-broken-proxy: unknown --bug '" << bug_name << "' (see --list-bugs)\n";
    return 2;
  }
  const auto colon = upstream.rfind(':');
  int up_port = 0;
  if (colon == std::string::npos || (up_port = std::atoi(upstream.c_str() + colon + 1)) <= 0 || up_port > 65535) {
    std::cerr << "lmcache-broken-proxy: --upstream wants HOST:PORT, not '" << upstream << "'\n";
    return 2;
  }
  const std::string up_host = upstream.substr(0, colon);

  std::signal(SIGPIPE, SIG_IGN);
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(listen_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 128) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::cerr << "lmcache-broken-proxy: cannot listen on port " << listen_port << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout << "listening on " << ntohs(a.sin_port) << std::endl;

  std::uint64_t next_ticket = 0;
  for (;;) {
    const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(10ms);
        continue;
      }
      std::cerr << "lmcache-broken-proxy: accept: " << std::strerror(errno) << "\n";
      return 1;
    }
    std::thread([cfd, up_host, up_port, ticket = next_ticket++] {
      const ServeInTurn turn(g_bug == Bug::kOneConnectionAtATime, ticket);
      const int ufd = Connect(up_host, static_cast<std::uint16_t>(up_port));
      if (ufd < 0) {
        ::close(cfd);
        return;
      }
      NoDelay(cfd);
      NoDelay(ufd);
      Relay(cfd, ufd).Run();
    }).detach();
  }
}
