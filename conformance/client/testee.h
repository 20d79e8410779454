// The client under test, as a child process that speaks client mode's line
// protocol (docs/CONFORMANCE.md, client mode): one JSON request per line on its
// stdin, one JSON result per line on its stdout. Internal to client mode.
//
// Every wait is bounded by a Deadline; a testee that prints a line that is
// not JSON, answers with another id, says nothing in time or exits fails the
// case with a message that says which, and the tail of its stderr.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "conformance/runner.h"

namespace lmc::conformance::client_mode {

// The verdict on one result line (docs/CONFORMANCE.md, client mode, "How the
// runner judges"), in the order the runner checks.
enum class [[nodiscard]] ResultLineError : std::uint8_t{
    kOk,         // a JSON object with the request's integer "id" and a boolean "ok"
    kNotObject,  // not JSON, or JSON that is not an object
    kWrongId,    // no "id", an "id" that is not an integer, or another request's
    kNoOk,       // no "ok", or an "ok" that is not a boolean
};

// Parses `line` (one result line, without its '\n') with line_json::Parse into
// *out and judges it as the result of request `id`. *out holds the parsed
// value whatever the verdict (discarded when the line is not JSON), for
// messages. Never throws. Testee::Result is this plus the I/O.
ResultLineError ParseResultLine(std::string line, std::int64_t id, nlohmann::json* out);

class Testee {
 public:
  // Starts argv[0] (looked up in PATH) with LMCACHE_URL=lm://127.0.0.1:PORT
  // added to the environment, stdin and stdout on pipes and stderr captured
  // (its last 4 KiB are kept). The child gets its own process group and no
  // descriptor of the runner beyond 0, 1 and 2. Fails the case when it
  // cannot be started; a command that does not exist shows up as an exit
  // with status 127 at the first result.
  Testee(const std::vector<std::string>& argv, std::uint16_t port, TraceSink* trace);
  // Kills the testee's process group (SIGKILL) unless it has exited, and
  // reaps it.
  ~Testee();
  Testee(const Testee&) = delete;
  Testee& operator=(const Testee&) = delete;

  pid_t pid() const { return pid_; }

  // Writes `request` as one line, with a fresh "id" added; returns the id.
  std::int64_t Send(nlohmann::json request, const Deadline& d);
  // Reads the result line of request `id`. Fails the case on a line that is
  // not a JSON object, another id, an exit, or (unless `silence_ok`) no line
  // by `d`; nullopt for silence when `silence_ok`. `what` names the request
  // in messages.
  std::optional<nlohmann::json> Result(std::int64_t id, std::string_view what, const Deadline& d,
                                       bool silence_ok = false);
  // When the last result line arrived.
  Deadline::Clock::time_point last_result_at() const { return last_result_at_; }

  // Closes the testee's stdin (it should then exit 0).
  void CloseStdin();
  // The exit status (128 + signal for a signal) once it has exited by `d`.
  std::optional<int> WaitExit(const Deadline& d);
  // VmHWM of /proc/PID/status: the peak resident set so far, in bytes.
  std::optional<std::uint64_t> PeakRssBytes() const;
  // The last bytes the testee wrote to stderr, for messages.
  std::string StderrTail(std::size_t max_bytes = 600) const;

 private:
  // One round of I/O: writes pending stdin bytes, reads stdout and stderr,
  // waiting at most until `d`.
  void Pump(const Deadline& d);
  std::optional<std::string> ReadLine(const Deadline& d);
  void Reap(bool block);
  [[noreturn]] void FailWithStderr(std::string message);

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string pending_in_;
  std::size_t pending_at_ = 0;
  std::string out_buf_;
  std::size_t scanned_ = 0;  // out_buf_[0, scanned_) has no '\n'
  std::string err_buf_;
  std::optional<int> status_;
  std::int64_t next_id_ = 1;
  Deadline::Clock::time_point last_result_at_{};
  TraceSink* trace_;
};

}  // namespace lmc::conformance::client_mode
