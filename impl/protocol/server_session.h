// The server side of one lm:// connection, without I/O: bytes in, replies
// out, no sockets, threads or clocks inside (after the sans-I/O style), so
// the Asio transport and the simulated network drive the same code.
//
// The transport loop:
//   while (!session.Done()) {
//     read into session.ReadBuffer() (zero bytes wanted: wait for writes),
//       then session.OnRead(n) or, at EOF, session.OnEof();
//     write session.GatherWrites(...), then session.OnWritten(n);
//   }
// ReadBuffer() points straight into the chunk a PUT's payload will be stored
// in while it arrives (the store hands out the next chunk as each fills), so
// payloads are received without a copy; GET payloads are written from the
// pinned stored object's chunks with gather writes, also without a copy.
//
// What the session does with each kind of bad input is the table in
// docs/SERVER.md; in short: a FAIL reply where one is due and the stream is
// still in step, closing (after flushing earlier replies) where it is not.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "protocol/miss_source.h"
#include "store/l1_store.h"
#include "store/pin_budget.h"
#include "wire/headers.h"

namespace lmc::protocol {

// Why a request was refused. Each has a counter.
enum class [[nodiscard]] Reject : std::uint8_t{
    kUnknownCommand,  // closes the connection
    kNegativeLength,  // closes the connection
    kBadKey,          // the key is not UTF-8 or does not parse: FAIL / PUT discarded
    kTooLarge,        // PUT above --max-object-bytes or the budget: payload discarded
    kNoSpace,         // PUT while pinned objects hold the budget: payload discarded
    kListTooLarge,    // LIST body above its limit: FAIL
    kTruncated,       // EOF inside a header or payload: nothing stored
    kPinnedFull,      // GET hit while replies being sent pin the whole pin budget: answered as a miss
    kCount,
};
[[nodiscard]] std::string_view RejectName(Reject r);

// Server-wide counters, shared by every session and readable while running.
struct ServerCounters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> commands[6] = {};  // indexed by command 1..5; [0] unused
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> rejects[static_cast<int>(Reject::kCount)] = {};
  // Set by the server's accept loop: accepts that failed (out of descriptors,
  // most often; retried after a back-off) and connections closed at once
  // because max_connections were open.
  std::atomic<std::uint64_t> accept_errors{0};
  std::atomic<std::uint64_t> connections_refused{0};
  // Connections closed to admit a new one at max_connections (the one idle
  // the longest), and those closed for --idle-timeout-ms.
  std::atomic<std::uint64_t> connections_evicted{0};
  std::atomic<std::uint64_t> idle_timeouts{0};

  void Count(Reject r) { rejects[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed); }
};

struct SessionLimits {
  // Staging for headers (and payload bytes that arrive with them). Small on
  // purpose: every payload byte read here is copied once more into the
  // store. 4 KiB still takes 22 pipelined headers per read; 64 KiB cost
  // 256 KiB PUTs over 4 connections ~15% (docs/BENCHMARKS.md).
  std::size_t input_buffer_bytes = 4 * 1024;
  // Stop taking requests while this many reply bytes wait to be written
  // (a client that never reads cannot make the server buffer without limit).
  std::size_t pending_output_bytes_max = 8 << 20;
  std::size_t list_body_bytes_max = 16 << 20;
};

class ServerSession {
 public:
  // A PUT takes the store's chunks as its bytes arrive (L1Store::Extend):
  // free ones first, so with the store's intake chunks a PUT cut short
  // evicts nothing. With `pins`, a GET hit's object is pinned only within that budget
  // (store/pin_budget.h); past it the GET is answered as a miss.
  ServerSession(store::L1Store& store, ServerCounters& counters, SessionLimits limits = {},
                MissSource* misses = nullptr, store::PinBudget* pins = nullptr);

  // Where the next received bytes go; empty when the session takes no input
  // now (output backlog, or closing).
  std::span<std::byte> ReadBuffer();
  // The same as up to out.size() buffers to fill in order (one scatter
  // read); returns how many (0: no input now). While a PUT payload arrives
  // they are its current piece and the pieces after it: reserved ahead of
  // the bytes, up to kReadAheadBytes, from free chunks only (reading ahead
  // never evicts; a PUT cut short gives them back).
  std::size_t ReadBuffers(std::span<std::span<std::byte>> out);
  static constexpr std::size_t kReadAheadBytes = std::size_t{4} << 20;
  // `n` bytes (n <= ReadBuffer().size()) were written into ReadBuffer().
  void OnRead(std::size_t n);
  // The peer will send nothing more.
  void OnEof();

  // Fills `out` with the next spans to write, in order; returns how many.
  std::size_t GatherWrites(std::span<std::span<const std::byte>> out) const;
  bool HasOutput() const { return !output_.empty(); }
  std::size_t PendingOutputBytes() const { return pending_output_bytes_; }
  // `n` bytes of GatherWrites' spans were written.
  void OnWritten(std::size_t n);

  // A GET missed L1 and the session waits for the MissSource: true once per
  // miss, with the key to fetch. The session takes no input until
  // OnMissResult() (replies stay in request order).
  [[nodiscard]] bool TakeMissRequest(std::string* key);
  // What the MissSource found for the key TakeMissRequest gave (null: miss).
  void OnMissResult(store::L1Store::ObjectRef object);

  // True when the transport should close: the session stopped taking input
  // and every owed reply has been written.
  bool Done() const { return closing_ && output_.empty(); }
  // True while a request is partly received (its deadline is running).
  bool MidRequest() const { return state_ != State::kHeader || end_ != begin_; }
  bool Closing() const { return closing_; }
  // Bytes the peer is certain to send next and ReadBuffer() can take: the
  // rest of the payload piece being received, else 1 (see
  // net::Stream::SetReadLowWater).
  std::size_t CertainInputBytes() const {
    if (state_ == State::kPutPayload) return put_.spans()[put_span_].size() - put_span_off_;
    if (state_ == State::kDiscard && end_ == begin_) return static_cast<std::size_t>(discard_left_);
    return 1;
  }

 private:
  // kHeader -> kPutPayload (a PUT with room) | kDiscard (a PUT refused) |
  //   kAwaitMiss (a GET missing L1, with a MissSource);
  // kPutPayload -> kHeader (complete) | kDiscard (no room for the rest);
  // kDiscard, kAwaitMiss -> kHeader. Enter() checks it.
  enum class State : std::uint8_t { kHeader, kPutPayload, kDiscard, kAwaitMiss };
  void Enter(State next);

  struct Chunk {
    std::array<std::byte, wire::kReplyHeaderBytes> header{};
    std::vector<std::byte> body;       // LIST
    store::L1Store::ObjectRef object;  // GET hit payload (pinned)
    store::PinBudget::Ticket pin;      // its share of the pin budget, back when written
    std::size_t size = 0;              // header (36) or body or object bytes
    std::size_t written = 0;
    std::size_t span = 0, span_written = 0;  // an object's: the span being written, and its bytes written
    enum class Kind : std::uint8_t { kHeader, kBody, kObject } kind = Kind::kHeader;
    // Its unwritten spans into `out` (as many as fit); returns how many.
    std::size_t Unwritten(std::span<std::span<const std::byte>> out) const;
    void Advance(std::size_t n);
  };

  void Process();
  // `key_decoded` is false when the key field was not UTF-8 (a bad key).
  void HandleHeader(const wire::RequestView& h, bool key_decoded);
  void HandlePut(const wire::RequestView& h, bool key_decoded);
  void StartDiscard(std::int64_t bytes);
  // Where the PUT's next payload bytes go: the rest of its last piece
  // (never empty while bytes remain).
  std::span<std::byte> PutTarget();
  // `n` payload bytes were written into PutTarget() and the pieces after it
  // (a scatter read). A full piece moves on to the next, taking it when it
  // was not read ahead; with no room for it, the PUT is dropped (counted as
  // no_space) and the rest of its payload discarded.
  void AdvancePut(std::size_t n);
  void FinishPut();
  // Publishes the complete PUT under its key and forgets it.
  void PublishPut();
  void Close();
  // The store key of h's key (its canonical rendering); false, counted as a
  // bad key, when it did not decode or does not parse.
  [[nodiscard]] bool CanonicalKey(const wire::RequestView& h, bool key_decoded, std::string* key);
  void Reply(const wire::ReplyHeader& h);
  // A GET hit: the object and its header, or a miss (counted) when the pin
  // budget has no room for it.
  void ReplyHit(store::L1Store::ObjectRef object);
  void ReplyObject(store::L1Store::ObjectRef object, store::PinBudget::Ticket pin);
  void ReplyBody(std::vector<std::byte> body);
  void Push(Chunk c);

  store::L1Store& store_;
  ServerCounters& counters_;
  MissSource* misses_;
  store::PinBudget* pins_;
  std::string miss_key_;
  bool miss_requested_ = false;
  bool miss_for_exist_ = false;  // the look-up below answers an EXIST, not a GET
  SessionLimits limits_;

  State state_ = State::kHeader;
  bool closing_ = false;
  // Input staging: bytes [begin_, end_) are received and not yet consumed.
  std::vector<std::byte> in_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  // The PUT being received, straight into its store chunks.
  store::L1Store::Reservation put_;
  std::size_t put_length_ = 0;
  std::size_t put_received_ = 0;
  std::size_t put_span_ = 0;      // the piece being filled
  std::size_t put_span_off_ = 0;  // its bytes filled
  std::string put_key_;
  store::ObjectMeta put_meta_;
  std::int64_t discard_left_ = 0;

  std::deque<Chunk> output_;
  std::size_t pending_output_bytes_ = 0;
};

}  // namespace lmc::protocol
