// The conformance runner's core, shared by its three modes (server, client,
// vectors): case ids and patterns, outcomes, expected-failure lists, and the
// reports (human summary, JUnit XML, JSON).
//
// A case is a spec clause made executable. It has a stable hierarchical id
// ("server/get/hit-echoes-stored-metadata"), the clause it checks, a level
// (MUST or SHOULD) and a body. A body fails by throwing CaseFailure (through
// Fail() or the Expect helpers), and declares itself not applicable by
// throwing CaseSkipped. The runner is a test tool, not the data path: it
// uses exceptions for that control flow on purpose, and nothing thrown ever
// leaves RunCases.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/version.h"

namespace lmc::conformance {

// The runner's version (the kit's) and the protocol revision its catalogue
// targets, from base/version.h; reports carry both.
inline constexpr std::string_view kRunnerVersion = base::kKitVersion;
inline constexpr std::string_view kProtocolRevision = base::kProtocolRevision;

enum class Level : std::uint8_t { kMust, kShould };
std::string_view LevelName(Level l);  // "MUST" / "SHOULD"

// What a failing case shows: the bytes it sent, the bytes it expected and
// the bytes it got. Any may be empty. Binary strings, not hex.
struct Evidence {
  std::string sent;
  std::string expected;
  std::string actual;
  bool has_bytes() const { return !sent.empty() || !expected.empty() || !actual.empty(); }
};

struct CaseFailure {
  std::string message;
  Evidence evidence;
};

struct CaseSkipped {
  std::string reason;
};

[[noreturn]] void Fail(std::string message, Evidence evidence = {});
[[noreturn]] void Skip(std::string reason);

// Fails with both byte strings when they differ.
void ExpectBytes(std::string_view what, std::string_view expected, std::string_view actual, std::string_view sent = {});
void Expect(bool ok, std::string_view message);

// The time a case may still take. Every wait in a case body goes through one
// (see conn.h); nothing waits past it.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(Clock::time_point at) : at_(at) {}
  static Deadline After(std::chrono::milliseconds d) { return Deadline(Clock::now() + d); }
  Clock::time_point at() const { return at_; }
  bool expired() const { return Clock::now() >= at_; }
  // Milliseconds left, clamped to [0, cap].
  int RemainingMs(std::chrono::milliseconds cap = std::chrono::hours(1)) const;
  // The earlier of this deadline and now + d.
  Deadline Within(std::chrono::milliseconds d) const;

 private:
  Clock::time_point at_;
};

// What went over one of a case's connections, as events in the order they
// happened, for --pcap and --html. Times are the runner's wall clock.
struct WireEvent {
  enum class Kind : std::uint8_t {
    kData,   // bytes
    kFin,    // this side closed its sending direction (shutdown or close)
    kReset,  // this side reset the connection (or the runner saw a reset)
  };
  Kind kind = Kind::kData;
  bool from_runner = true;
  std::int64_t t_us = 0;  // microseconds since the Unix epoch
  std::string bytes;      // kData
};

struct WireConn {
  std::string label;           // the case's name for it ("c", "s0", ...)
  bool runner_opened = true;   // the runner connected (server mode), or accepted (client mode)
  std::int64_t opened_us = 0;  // when the connection was established
  std::vector<WireEvent> events;
};

// A case's connections, recorded as they happen. Thread-safe: client mode's
// server threads record into it. Conn records into it when the case's
// TraceSink carries one (the runner gives one to every case when a report
// needs the bytes).
class WireLog {
 public:
  static std::int64_t NowUs();
  // A new connection; returns its number for the calls below.
  int Open(std::string label, bool runner_opened);
  void Add(int conn, WireEvent::Kind kind, bool from_runner, std::string_view bytes = {});
  std::vector<WireConn> Take();

 private:
  std::mutex mu_;
  std::vector<WireConn> conns_;
};

// One line of a case's trace (--trace DIR): what went over the wire.
struct TraceSink {
  std::vector<std::string> lines;
  WireLog* wire = nullptr;  // the bytes themselves, when a report needs them
  void Note(std::string line) { lines.push_back(std::move(line)); }
};

struct CaseSpec {
  std::string id;      // stable: never renamed once released
  std::string clause;  // e.g. "protocol.md §5.4 PUT"
  Level level = Level::kMust;
  std::string title;  // one line: what a passing implementation does
  // The case needs the target to itself (LIST sees every key, a capacity
  // case evicts, a many-connection case fills the accept queue): it runs
  // alone, after the other cases have ended.
  bool exclusive = false;
};

// What a case body gets from the runner.
struct CaseEnv {
  Deadline deadline;
  TraceSink* trace;
};

struct Case {
  CaseSpec spec;
  // Empty when the case applies to the profile, else why it does not (the
  // case is then skipped without running).
  std::string not_applicable;
  std::function<void(CaseEnv&)> body;
};

enum class Outcome : std::uint8_t {
  kPassed,
  kFailed,            // unexpectedly
  kSkipped,           // not applicable to the profile, or excluded by --skip
  kFailedAsExpected,  // listed in --known-failing (with a matching message) or --known-flaky
};
std::string_view OutcomeName(Outcome o);

struct CaseResult {
  CaseSpec spec;
  Outcome outcome = Outcome::kPassed;
  std::string message;  // failure message or skip reason
  Evidence evidence;
  double seconds = 0;
  std::vector<std::string> trace;
  std::vector<WireConn> wire;  // with RunOptions::keep_wire
};

// --- Patterns -----------------------------------------------------------
// Case-id patterns: '*' matches within one level (no '/'), '**' any number
// of characters across levels, everything else literally. "server/**"
// matches every server case; "server/*/hit-*" the hits of every command.
bool MatchPattern(std::string_view pattern, std::string_view id);

// --- Expected failures --------------------------------------------------
// One entry per line: a pattern, then optionally whitespace and an expected
// message prefix. '#' starts a comment; blank lines are ignored.
struct KnownFailure {
  std::string pattern;
  std::string message_prefix;  // empty: any message
  int line = 0;
};
// False (with *error set) on an unreadable file.
bool LoadKnownFailures(const std::string& path, std::vector<KnownFailure>* out, std::string* error);

struct RunOptions {
  std::vector<std::string> run;   // patterns; empty means every case
  std::vector<std::string> skip;  // patterns excluded from the run
  std::chrono::milliseconds case_timeout{5000};
  std::chrono::milliseconds run_timeout{std::chrono::minutes(10)};
  std::vector<KnownFailure> known_failing;
  std::vector<KnownFailure> known_flaky;
  bool keep_trace = false;  // keep every case's trace, not only failures'
  bool keep_wire = false;   // record every case's connections (--pcap, --html)
  bool verbose = false;     // print a line per case as it ends
  // Cases run at once (exclusive ones always alone). 1: one after another.
  int jobs = 1;
  // Stop after this many unexpected failures (0: never). The report is cut
  // at the case that made the count, in catalogue order, so it does not
  // depend on which cases happened to be running then: every later case is
  // reported skipped, "not run: --max-failures N reached".
  int max_failures = 0;
};

// The default for --jobs: a small multiple of the cores, since cases mostly
// wait on the target: 8 a core (at least 8, at most 64), or 2 a core (at
// least 4) for cases that each start a process (client mode's testees),
// whose timing checks must not starve.
int DefaultJobs(bool cases_start_processes = false);

struct RunReport {
  std::string mode;     // "server", "client", "vectors"
  std::string target;   // what was tested
  std::string profile;  // profile name
  std::vector<CaseResult> results;
  double seconds = 0;
  bool partial = false;  // --run/--skip narrowed the catalogue
  // Known-failing entries that matched no case in the run (stale).
  std::vector<KnownFailure> unmatched_known;

  int Count(Outcome o) const;
  // Nothing unexpected: no kFailed and no stale known-failing entries.
  bool Clean() const;
};

// Runs the selected cases, up to options.jobs at once and each with its own
// deadline, and classifies every result against the expected-failure lists.
// Cases start in catalogue order (the exclusive ones last) and results are
// reported in catalogue order whatever order they end in. A case that passes while listed as known-failing, or
// fails with another message, is reported kFailed with a message that says
// so. Never throws.
RunReport RunCases(const std::vector<Case>& catalogue, const RunOptions& options);

// The human report: failures with clause, message and hex evidence (first
// differing byte marked), then the closing line
//   "N passed, M failed, K skipped, X failed as expected".
std::string FormatHuman(const RunReport& report);
std::string FormatJunit(const RunReport& report);
std::string FormatJson(const RunReport& report);
// "N passed, M failed, K skipped, X failed as expected"
std::string SummaryLine(const RunReport& report);
// Text for a report that must be valid UTF-8 (JSON, HTML): messages may
// quote peer bytes, so invalid sequences become U+FFFD.
std::string ValidUtf8(std::string_view s);
// Text for XML or HTML: & < > " ' as entities, and the control characters
// XML 1.0 has no form for as '?'.
std::string XmlEscape(std::string_view s);

// Hex with a marker: "0a0b[0c]0d" marks the byte at `mark`.
std::string HexWithMark(std::string_view bytes, std::optional<std::size_t> mark, std::size_t max_bytes = 256);
// Index of the first differing byte, or nullopt when equal.
std::optional<std::size_t> FirstDifference(std::string_view a, std::string_view b);

// The new known-failing file for --fix: one line per case that failed in
// this run, with its message as the prefix.
std::string FormatKnownFailing(const RunReport& report);

// Writes one file per case into `dir` ("server__get__hit.trace").
bool WriteTraces(const RunReport& report, const std::string& dir, std::string* error);

}  // namespace lmc::conformance
