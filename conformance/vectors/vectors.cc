// Vectors mode: another implementation's codec, driven through the
// `lmcache-wire` line contract (docs/WIRE-JSON.md), checked against the
// golden manifest and LMCache's reference vectors.
//
// The tool runs once per (op, kind) batch with every line of that batch on
// its stdin, and each line becomes its own case; the batch's process is
// judged by two contract cases (one output line per input line; the exit
// status, reached on its own before the deadline). A batch runs lazily, the
// first time one of its cases needs it, under that case's deadline, and its
// result is shared by the batch's other cases. A tool that hangs is killed
// (its whole process group) when the deadline passes; a tool that floods its
// stdout is killed past kOutputBytesMax. Nothing the tool does can make a
// case pass that did not see its own correct output line.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "conformance/catalogues.h"
#include "wire/text.h"

extern char** environ;

namespace lmc::conformance {
namespace {

using Json = nlohmann::ordered_json;

// Limits. The output bound is far above what a correct tool prints for the
// shipped sources (well under 1 MiB) and keeps a flooding tool from eating
// memory; the stderr bound only limits what a report shows.
constexpr std::size_t kOutputBytesMax = std::size_t{64} << 20;
constexpr std::size_t kStderrBytesMax = std::size_t{16} << 10;
// A manifest or reference-vectors file, and one fixture (lmcache-wire's own
// line limit is 1 MiB, so a larger fixture could not be a line anyway).
constexpr std::size_t kSourceBytesMax = std::size_t{64} << 20;
constexpr std::size_t kFixtureBytesMax = std::size_t{1} << 20;
// How much of a line a failure message shows.
constexpr std::size_t kShownBytesMax = 400;
constexpr std::size_t kShownStderrBytesMax = 600;

constexpr std::array<std::string_view, 4> kKinds = {"client", "server", "metadata", "key"};
constexpr std::array<std::string_view, 2> kOps = {"decode", "encode"};

// wire-json.md's field order for each kind's decode output.
const std::vector<std::string>& FieldOrder(std::string_view kind) {
  static const std::map<std::string_view, std::vector<std::string>> kOrder = {
      {"client", {"command", "length", "fmt", "dtype", "location", "shape", "key"}},
      {"server", {"code", "length", "fmt", "dtype", "shape", "location"}},
      {"metadata", {"length", "fmt", "groups"}},
      {"key", {"model", "world_size", "worker_id", "chunk_hash", "dtype", "layer_id", "tags"}},
  };
  return kOrder.at(kind);
}

bool KnownKind(std::string_view k) {
  for (std::string_view x : kKinds) {
    if (x == k) return true;
  }
  return false;
}

// --- text helpers ---------------------------------------------------------

// A line as a failure message shows it, between quotes that only delimit
// (nothing inside is escaped but control bytes and bytes that are not UTF-8,
// which become \xNN, so that JSON stays readable); long lines are cut.
std::string Show(std::string_view s, std::size_t max_bytes = kShownBytesMax) {
  std::string out = "\"";
  std::size_t i = 0;
  for (; i < s.size() && i < max_bytes;) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 1;
    if (b >= 0xf0) {
      n = 4;
    } else if (b >= 0xe0) {
      n = 3;
    } else if (b >= 0xc0) {
      n = 2;
    }
    if (b >= 0x80 && i + n <= s.size() && wire::IsValidUtf8(s.substr(i, n))) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (b < 0x20 || b == 0x7f || b >= 0x80) {
      static constexpr char kDigits[] = "0123456789abcdef";
      out += "\\x";
      out += kDigits[b >> 4];
      out += kDigits[b & 0xf];
    } else {
      out += static_cast<char>(b);
    }
    ++i;
  }
  out += '"';
  if (i < s.size()) out += " ... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// Hex (either case) to bytes; nullopt when `hex` is not an even run of hex
// digits. Only for evidence: the verdicts compare the lines themselves.
std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string HexOf(std::string_view bytes) { return wire::ToHex(std::as_bytes(std::span(bytes))); }

std::string Sha256Hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &n, EVP_sha256(), nullptr) != 1) return "";
  return HexOf(std::string_view(reinterpret_cast<const char*>(md.data()), n));
}

// A case-id component: lowercase letters, digits and dashes only.
std::string IdPart(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "unnamed" : out;
}

// Reads a whole file of at most `max_bytes`; nullopt with *error otherwise.
std::optional<std::string> ReadFile(const std::filesystem::path& path, std::size_t max_bytes, std::string* error) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    *error = "cannot read " + path.string() + ": " + ec.message();
    return std::nullopt;
  }
  if (size > max_bytes) {
    *error = path.string() + " is larger than " + std::to_string(max_bytes) + " bytes";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string data(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(data.data(), static_cast<std::streamsize>(data.size()))) {
    *error = "cannot read " + path.string();
    return std::nullopt;
  }
  return data;
}

// JSON equality that ignores object key order and, unlike nlohmann's ==,
// does not let 3.0 stand for 3: every integer of the expected object must be
// an integer in the output.
bool SameJson(const Json& want, const Json& got) {
  if (want.is_number_integer()) {
    if (!got.is_number_integer()) return false;
    if (want.is_number_unsigned() != got.is_number_unsigned()) {
      // Both fit int64 unless one is above it: compare through the signed
      // value only when both are non-negative and below 2^63.
      const bool want_neg = !want.is_number_unsigned() && want.get<std::int64_t>() < 0;
      const bool got_neg = !got.is_number_unsigned() && got.get<std::int64_t>() < 0;
      if (want_neg || got_neg) return false;
    }
    if (want.is_number_unsigned() || got.is_number_unsigned()) {
      return want.get<std::uint64_t>() == got.get<std::uint64_t>();
    }
    return want.get<std::int64_t>() == got.get<std::int64_t>();
  }
  if (want.type() != got.type()) return false;
  if (want.is_array()) {
    if (want.size() != got.size()) return false;
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (!SameJson(want[i], got[i])) return false;
    }
    return true;
  }
  if (want.is_object()) {
    if (want.size() != got.size()) return false;
    for (const auto& [k, v] : want.items()) {
      const auto it = got.find(k);
      if (it == got.end() || !SameJson(v, *it)) return false;
    }
    return true;
  }
  return want == got;
}

// Empty when `got`'s fields follow wire-json.md's order for `kind` (and a
// metadata group's are dtype, shape), else what is out of order.
std::string FieldOrderProblem(std::string_view kind, const Json& got) {
  const auto keys = [](const Json& j) {
    std::vector<std::string> out;
    for (const auto& [k, v] : j.items()) out.push_back(k);
    return out;
  };
  const auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  if (keys(got) != FieldOrder(kind)) {
    return "fields in the order " + join(keys(got)) + ", wire-json.md's order is " + join(FieldOrder(kind));
  }
  if (kind == "metadata" && got["groups"].is_array()) {
    for (const Json& g : got["groups"]) {
      if (g.is_object() && keys(g) != std::vector<std::string>{"dtype", "shape"}) {
        return "a group's fields in the order " + join(keys(g)) + ", wire-json.md's order is dtype,shape";
      }
    }
  }
  return "";
}

bool IsErrorLine(std::string_view line) {
  constexpr std::string_view kPrefix = "error: ";
  return line.size() > kPrefix.size() && line.substr(0, kPrefix.size()) == kPrefix;
}

// --- running the tool -----------------------------------------------------

// How one run of the tool ended.
struct ToolRun {
  enum class End : std::uint8_t { kExited, kSignaled, kTimedOut, kOverflow, kNotStarted };
  End end = End::kNotStarted;
  int exit_status = -1;  // kExited
  int signal = 0;        // kSignaled
  std::string error;     // kNotStarted: why
  std::vector<std::string> lines;
  bool last_line_unterminated = false;
  bool input_refused = false;  // the tool closed stdin before reading all of it
  std::size_t stdin_bytes = 0;
  std::string stderr_text;  // its first kStderrBytesMax bytes
  double seconds = 0;

  // One phrase: "exited with status 1", "was killed by signal 11 (...)".
  std::string Describe() const {
    switch (end) {
      case End::kExited: return "exited with status " + std::to_string(exit_status);
      case End::kSignaled: return "was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
      case End::kTimedOut: return "did not finish before the deadline and was killed";
      case End::kOverflow: return "printed more than " + std::to_string(kOutputBytesMax >> 20) + " MiB and was killed";
      case End::kNotStarted: return "could not be started: " + error;
    }
    return "?";
  }
  // The stderr it printed, for a failure message (empty when none).
  std::string StderrNote() const {
    if (stderr_text.empty()) return "";
    return "\n  stderr: " + Show(stderr_text, kShownStderrBytesMax);
  }
};

// Blocks SIGPIPE in the calling thread for its lifetime, so that writing to
// a tool that has closed its stdin gives EPIPE instead of killing the
// runner; a SIGPIPE raised meanwhile is consumed before the mask is restored.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    if (raised_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  void Raised() { raised_ = true; }

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool raised_ = false;
};

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Runs `argv` with `input` on its stdin, collecting stdout (bounded) and
// stderr (first bytes only), until it ends or `deadline` passes. The tool
// gets a process group of its own, so that a shell script's children die
// with it when it is killed.
ToolRun RunTool(const std::vector<std::string>& argv, const std::string& input, const Deadline& deadline) {
  ToolRun run;
  const auto start = Deadline::Clock::now();
  if (argv.empty()) {
    run.error = "no tool command given";
    return run;
  }
  std::array<int, 2> in{-1, -1};
  std::array<int, 2> out{-1, -1};
  std::array<int, 2> err{-1, -1};
  if (pipe2(in.data(), O_CLOEXEC) != 0 || pipe2(out.data(), O_CLOEXEC) != 0 || pipe2(err.data(), O_CLOEXEC) != 0) {
    run.error = std::string("pipe: ") + std::strerror(errno);
    for (auto* p : {&in, &out, &err}) {
      CloseFd(&(*p)[0]);
      CloseFd(&(*p)[1]);
    }
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  cargs.reserve(args.size() + 1);
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, cargs[0], &actions, &attr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(&in[0]);
  CloseFd(&out[1]);
  CloseFd(&err[1]);
  if (rc != 0) {
    run.error = args[0] + ": " + std::strerror(rc);
    CloseFd(&in[1]);
    CloseFd(&out[0]);
    CloseFd(&err[0]);
    return run;
  }
  for (int fd : {in[1], out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  std::string stdout_text;
  std::size_t written = 0;
  bool timed_out = false;
  bool overflow = false;
  {
    SigpipeBlock block;
    if (input.empty()) CloseFd(&in[1]);
    std::array<char, 65536> buf{};
    while (out[0] >= 0 || err[0] >= 0) {
      if (deadline.expired()) {
        timed_out = true;
        break;
      }
      std::array<pollfd, 3> fds{};
      nfds_t n = 0;
      const auto add = [&](int fd, short events) {
        if (fd >= 0) fds[n++] = pollfd{fd, events, 0};
      };
      add(in[1], POLLOUT);
      add(out[0], POLLIN);
      add(err[0], POLLIN);
      if (poll(fds.data(), n, std::max(1, deadline.RemainingMs())) < 0 && errno != EINTR) {
        timed_out = true;  // cannot wait any more: treat as a hang
        break;
      }
      for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        if (fd == in[1]) {
          const ssize_t w = write(fd, input.data() + written, input.size() - written);
          if (w > 0) {
            written += static_cast<std::size_t>(w);
            if (written == input.size()) CloseFd(&in[1]);
          } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            if (errno == EPIPE) block.Raised();
            run.input_refused = true;
            CloseFd(&in[1]);
          }
          continue;
        }
        const ssize_t r = read(fd, buf.data(), buf.size());
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) {
          CloseFd(fd == out[0] ? &out[0] : &err[0]);
          continue;
        }
        const std::string_view got(buf.data(), static_cast<std::size_t>(r));
        if (fd == out[0]) {
          if (stdout_text.size() + got.size() > kOutputBytesMax) {
            overflow = true;
            break;
          }
          stdout_text.append(got);
        } else if (run.stderr_text.size() < kStderrBytesMax) {
          run.stderr_text.append(got.substr(0, kStderrBytesMax - run.stderr_text.size()));
        }
      }
      if (overflow) break;
    }
    if (in[1] >= 0 && written < input.size() && !timed_out && !overflow) run.input_refused = true;
    CloseFd(&in[1]);
  }
  CloseFd(&out[0]);
  CloseFd(&err[0]);
  run.stdin_bytes = written;

  // The pipes are closed; wait for the exit itself within the deadline.
  int status = 0;
  bool reaped = false;
  while (!timed_out && !overflow) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      reaped = true;
      break;
    }
    if (w < 0 && errno != EINTR) break;
    if (deadline.expired()) {
      timed_out = true;
      break;
    }
    const timespec nap{0, 2'000'000};
    nanosleep(&nap, nullptr);
  }
  if (!reaped) {
    // Not reaped yet, so `pid` still names our child and its group.
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (overflow) {
    run.end = ToolRun::End::kOverflow;
  } else if (timed_out) {
    run.end = ToolRun::End::kTimedOut;
  } else if (WIFSIGNALED(status)) {
    run.end = ToolRun::End::kSignaled;
    run.signal = WTERMSIG(status);
  } else {
    run.end = ToolRun::End::kExited;
    run.exit_status = WEXITSTATUS(status);
  }

  std::size_t pos = 0;
  while (pos < stdout_text.size()) {
    const std::size_t nl = stdout_text.find('\n', pos);
    if (nl == std::string::npos) {
      run.lines.push_back(stdout_text.substr(pos));
      run.last_line_unterminated = true;
      break;
    }
    run.lines.push_back(stdout_text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  run.seconds = std::chrono::duration<double>(Deadline::Clock::now() - start).count();
  return run;
}

// --- batches and vectors --------------------------------------------------

// One line of a batch and what its output line must be.
struct Vector {
  CaseSpec spec;
  std::string not_applicable;
  std::string input;        // the line sent, without its newline
  std::string input_bytes;  // decode: the bytes the line stands for (evidence)
  bool expect_error = false;
  std::string expect_line;   // encode: the exact output line
  std::string expect_bytes;  // encode: the bytes that line stands for (evidence)
  Json expect_object;        // decode: the object
  bool check_field_order = false;
  std::size_t index = 0;  // line number within the batch
};

// The lines of one (op, kind) and, once run, the tool's result. Shared by
// the batch's cases; runs the tool at most once.
class Batch {
 public:
  Batch(std::string op, std::string kind) : op_(std::move(op)), kind_(std::move(kind)) {}

  const std::string& op() const { return op_; }
  const std::string& kind() const { return kind_; }
  std::string Name() const { return op_ + "-" + kind_; }

  // Adds a line; returns its index.
  std::size_t Add(std::string line, bool expect_error) {
    lines_.push_back(std::move(line));
    any_error_ = any_error_ || expect_error;
    return lines_.size() - 1;
  }
  std::size_t size() const { return lines_.size(); }
  bool any_error() const { return any_error_; }

  // The tool's run over every line, run now under `env`'s deadline if no
  // case has needed it yet.
  const ToolRun& Get(const std::vector<std::string>& tool, CaseEnv& env) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool first = !run_;
    if (first) {
      std::vector<std::string> argv = tool;
      argv.push_back(op_);
      argv.push_back(kind_);
      std::string input;
      for (const auto& l : lines_) input += l + "\n";
      std::string cmd;
      for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
      if (env.trace) env.trace->Note("run: " + cmd + " (" + std::to_string(lines_.size()) + " lines)");
      run_ = RunTool(argv, input, env.deadline);
    }
    if (env.trace) {
      env.trace->Note(std::string(first ? "" : "(earlier run) ") + Name() + ": the tool " + run_->Describe() +
                      " after " + std::to_string(run_->seconds) + " s, " + std::to_string(run_->lines.size()) +
                      " output lines for " + std::to_string(lines_.size()) + " inputs");
    }
    return *run_;
  }

 private:
  std::string op_;
  std::string kind_;
  std::vector<std::string> lines_;
  bool any_error_ = false;
  std::mutex mu_;
  std::optional<ToolRun> run_;
};

// "the tool printed 3 lines for 7 inputs and exited with status 0"
std::string RunSummary(const ToolRun& run, std::size_t inputs) {
  return "the tool printed " + std::to_string(run.lines.size()) + " lines for " + std::to_string(inputs) +
         " inputs and " + run.Describe();
}

// The body of one vector's case.
void CheckVector(const Vector& v, Batch& batch, const std::vector<std::string>& tool, CaseEnv& env) {
  const ToolRun& run = batch.Get(tool, env);
  const std::string want = v.expect_error           ? std::string("an \"error: <reason>\" line")
                           : batch.op() == "encode" ? Show(v.expect_line)
                                                    : Show(v.expect_object.dump());
  const std::string input_note = "\n  input:    " + Show(v.input);
  if (v.index >= run.lines.size()) {
    Fail("no output line for this input (" + RunSummary(run, batch.size()) + ")" + input_note +
             "\n  expected: " + want + run.StderrNote(),
         Evidence{v.input_bytes, v.expect_bytes, ""});
  }
  const std::string& line = run.lines[v.index];
  if (env.trace) {
    env.trace->Note("in:  " + Show(v.input));
    env.trace->Note("out: " + Show(line));
  }
  const std::string seen = input_note + "\n  expected: " + want + "\n  actual:   " + Show(line);
  if (v.expect_error) {
    if (!IsErrorLine(line)) {
      Fail(std::string(batch.op() == "decode" ? "decoded" : "encoded") +
               " an input it must reject (the line must start with \"error: \" and give a reason)" + seen,
           Evidence{v.input_bytes, "", ""});
    }
    return;
  }
  if (IsErrorLine(line)) {
    Fail("rejected a valid input" + seen, Evidence{v.input_bytes, v.expect_bytes, ""});
  }
  if (batch.op() == "encode") {
    if (line != v.expect_line) {
      std::string actual_bytes = line;
      if (batch.kind() != "key") actual_bytes = FromHex(line).value_or(line);
      Fail("encoded to other bytes" + seen, Evidence{"", v.expect_bytes, actual_bytes});
    }
    return;
  }
  const Json got = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (got.is_discarded() || !got.is_object()) {
    Fail("the output line is not a JSON object" + seen, Evidence{v.input_bytes, "", ""});
  }
  if (!SameJson(v.expect_object, got)) {
    Fail("decoded to another object" + seen, Evidence{v.input_bytes, "", ""});
  }
  if (v.check_field_order) {
    if (std::string p = FieldOrderProblem(batch.kind(), got); !p.empty()) {
      Fail("decoded to the right object, but " + p + seen, Evidence{v.input_bytes, "", ""});
    }
  }
}

// --- sources --------------------------------------------------------------

// Everything the catalogue is built from, gathered before any case exists.
struct Plan {
  // Batches in a fixed order: decode client..key, then encode client..key.
  std::vector<std::shared_ptr<Batch>> batches;
  std::vector<std::pair<Vector, std::shared_ptr<Batch>>> golden;
  std::vector<std::pair<Vector, std::shared_ptr<Batch>>> reference;
  std::set<std::string> ids;

  Plan() {
    for (std::string_view op : kOps) {
      for (std::string_view kind : kKinds)
        batches.push_back(std::make_shared<Batch>(std::string(op), std::string(kind)));
    }
  }
  std::shared_ptr<Batch> BatchFor(std::string_view op, std::string_view kind) {
    for (auto& b : batches) {
      if (b->op() == op && b->kind() == kind) return b;
    }
    return nullptr;
  }
  // A unique id: `id`, else `id` with "-2", "-3"... appended.
  std::string UniqueId(const std::string& id) {
    std::string out = id;
    for (int n = 2; ids.count(out) != 0; ++n) out = id + "-" + std::to_string(n);
    ids.insert(out);
    return out;
  }
  // Queues `v` in its batch (or leaves it out with not_applicable when its
  // input cannot travel as one line).
  void Add(Vector v, std::string_view op, std::string_view kind, bool is_reference) {
    auto batch = BatchFor(op, kind);
    if (v.input.find('\n') != std::string::npos) {
      v.not_applicable = "the input holds a line break, which the line contract cannot carry";
    } else {
      v.index = batch->Add(v.input, v.expect_error);
    }
    (is_reference ? reference : golden).emplace_back(std::move(v), std::move(batch));
  }
};

// The line that carries `bytes` of `kind` to a decoder: the raw key text, or
// lowercase hex.
std::string DecodeLineFor(std::string_view kind, const std::string& bytes) {
  return kind == "key" ? bytes : HexOf(bytes);
}

// Loads the golden manifest into `plan`; returns the problems found (empty
// when it loaded completely and every fixture matched its sha256).
std::vector<std::string> LoadGolden(const std::string& path, Plan* plan, std::size_t* loaded) {
  std::vector<std::string> problems;
  std::string error;
  const std::optional<std::string> text = ReadFile(path, kSourceBytesMax, &error);
  if (!text) return {error};
  const Json manifest = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object()) return {path + " is not a JSON object"};
  const auto groups = manifest.find("testGroups");
  if (groups == manifest.end() || !groups->is_array()) return {path + " has no testGroups list"};
  const std::filesystem::path root = std::filesystem::path(path).parent_path();
  std::size_t count = 0;
  const auto read_fixture = [&](const Json& t, const char* field, std::string* out) {
    const auto f = t.find(field);
    if (f == t.end() || !f->is_string()) return false;
    const std::filesystem::path rel(f->get<std::string>());
    for (const auto& part : rel) {
      if (part == "..") {
        problems.push_back(f->get<std::string>() + ": a fixture path may not leave the manifest's folder");
        return false;
      }
    }
    if (rel.is_absolute()) {
      problems.push_back(f->get<std::string>() + ": a fixture path must be relative");
      return false;
    }
    std::string e;
    std::optional<std::string> data = ReadFile(root / rel, kFixtureBytesMax, &e);
    if (!data) {
      problems.push_back(e);
      return false;
    }
    const char* sha_field = std::string_view(field) == "file" ? "sha256" : "canonicalSha256";
    const auto sha = t.find(sha_field);
    if (sha == t.end() || !sha->is_string() || sha->get<std::string>() != Sha256Hex(*data)) {
      problems.push_back(f->get<std::string>() + " does not match its " + sha_field);
      return false;
    }
    *out = std::move(*data);
    return true;
  };
  for (const Json& group : *groups) {
    if (!group.is_object() || !group.contains("tests") || !group["tests"].is_array()) {
      problems.push_back("a test group without a tests list");
      continue;
    }
    const std::string group_kind = group.value("kind", std::string("?"));
    for (const Json& t : group["tests"]) {
      ++count;
      if (!t.is_object() || !t.contains("id") || !t["id"].is_string() || !t.contains("kind") ||
          !t["kind"].is_string() || !KnownKind(t["kind"].get<std::string>()) || !t.contains("result")) {
        problems.push_back("test " + std::to_string(count) + " lacks a string id, a known kind or a result");
        continue;
      }
      const std::string id = t["id"].get<std::string>();
      const std::string kind = t["kind"].get<std::string>();
      const std::string result = t["result"].is_string() ? t["result"].get<std::string>() : "";
      // "client-put-kv2ltd-bf16" in group "client" -> "put-kv2ltd-bf16".
      std::string name = id;
      if (name.rfind(group_kind + "-", 0) == 0) name = name.substr(group_kind.size() + 1);
      const std::string base = "vectors/golden/" + IdPart(group_kind) + "/" + IdPart(name) + "/";
      std::string flags;
      if (t.contains("flags") && t["flags"].is_array()) {
        for (const Json& f : t["flags"]) {
          if (f.is_string()) flags += (flags.empty() ? " " : ",") + f.get<std::string>();
        }
      }
      const std::string clause = "golden manifest" + flags;
      const std::string comment = t.value("comment", std::string());
      const auto make = [&](const std::string& dir) {
        Vector v;
        v.spec.id = plan->UniqueId(base + dir);
        v.spec.clause = clause;
        v.spec.level = Level::kMust;
        return v;
      };
      const bool has_object = t.contains("object") && t["object"].is_object();
      if (result == "valid") {
        std::string data;
        std::string canonical;
        if (!has_object || !read_fixture(t, "file", &data)) {
          problems.push_back(id + ": a valid case needs an object and a readable file");
          continue;
        }
        if (t.contains("canonicalFile") && !read_fixture(t, "canonicalFile", &canonical)) {
          problems.push_back(id + ": unreadable canonicalFile");
          continue;
        }
        if (!t.contains("canonicalFile")) canonical = data;
        Vector d = make("decode");
        d.spec.title = "decodes the fixture to its object: " + comment;
        d.input = DecodeLineFor(kind, data);
        d.input_bytes = data;
        d.expect_object = t["object"];
        plan->Add(std::move(d), "decode", kind, false);
        Vector e = make("encode");
        e.spec.title = "encodes the object to the canonical bytes: " + comment;
        e.input = t["object"].dump();
        e.expect_bytes = canonical;
        e.expect_line = DecodeLineFor(kind, canonical);
        plan->Add(std::move(e), "encode", kind, false);
      } else if (result == "invalid") {
        const std::string direction = t.value("direction", std::string());
        const std::string reason = t.value("reason", std::string());
        if (direction == "decode") {
          std::string data;
          if (!read_fixture(t, "file", &data)) {
            problems.push_back(id + ": an invalid decode case needs a readable file");
            continue;
          }
          Vector d = make("decode");
          d.spec.title = "rejects the bytes (" + reason + "): " + comment;
          d.input = DecodeLineFor(kind, data);
          d.input_bytes = data;
          d.expect_error = true;
          plan->Add(std::move(d), "decode", kind, false);
        } else if (direction == "encode" && has_object) {
          Vector e = make("encode");
          e.spec.title = "rejects the object (" + reason + "): " + comment;
          e.input = t["object"].dump();
          e.expect_error = true;
          plan->Add(std::move(e), "encode", kind, false);
        } else {
          problems.push_back(id + ": an invalid case needs direction decode (with a file) or encode (with an object)");
          continue;
        }
      } else {
        problems.push_back(id + ": result is neither valid nor invalid");
        continue;
      }
      ++*loaded;
    }
  }
  if (manifest.contains("numberOfTests") && manifest["numberOfTests"] != Json(count)) {
    problems.push_back("numberOfTests is " + manifest["numberOfTests"].dump() + " but the manifest lists " +
                       std::to_string(count) + " cases");
  }
  if (count == 0) problems.push_back(path + " lists no cases");
  return problems;
}

// Loads a reference-vectors file (a JSON list of {id, kind, op, input,
// expect}) into `plan`; returns the problems found.
std::vector<std::string> LoadReference(const std::string& path, Plan* plan, std::size_t* loaded) {
  std::string error;
  const std::optional<std::string> text = ReadFile(path, kSourceBytesMax, &error);
  if (!text) return {error};
  const Json list = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded() || !list.is_array()) return {path + " is not a JSON list"};
  std::vector<std::string> problems;
  std::size_t n = 0;
  for (const Json& c : list) {
    ++n;
    const bool shaped = c.is_object() && c.contains("id") && c["id"].is_string() && c.contains("kind") &&
                        c["kind"].is_string() && KnownKind(c["kind"].get<std::string>()) && c.contains("op") &&
                        (c["op"] == "encode" || c["op"] == "decode") && c.contains("input") && c.contains("expect");
    if (!shaped) {
      problems.push_back("vector " + std::to_string(n) +
                         " is not {id, kind, op, input, expect} with a known kind and op");
      continue;
    }
    const std::string id = c["id"].get<std::string>();
    const std::string kind = c["kind"].get<std::string>();
    const std::string op = c["op"].get<std::string>();
    const Json& input = c["input"];
    const Json& expect = c["expect"];
    Vector v;
    v.spec.id = plan->UniqueId("vectors/reference/" + IdPart(id));
    v.spec.clause = "LMCache reference vectors; wire-json.md " + kind;
    v.spec.level = Level::kMust;
    v.expect_error = expect == "error";
    if (op == "encode") {
      if (!input.is_object() || !(v.expect_error || expect.is_string())) {
        problems.push_back(id + ": an encode vector needs an object input and a string (or \"error\") expect");
        continue;
      }
      v.input = input.dump();
      if (!v.expect_error) {
        v.expect_line = expect.get<std::string>();
        v.expect_bytes = kind == "key" ? v.expect_line : FromHex(v.expect_line).value_or(v.expect_line);
      }
      v.spec.title = v.expect_error ? "rejects the object" : "encodes the object to LMCache's bytes";
    } else {
      if (!input.is_string() || !(v.expect_error || expect.is_object())) {
        problems.push_back(id + ": a decode vector needs a string input and an object (or \"error\") expect");
        continue;
      }
      v.input = input.get<std::string>();
      v.input_bytes = kind == "key" ? v.input : FromHex(v.input).value_or(v.input);
      if (!v.expect_error) {
        v.expect_object = expect;
        v.check_field_order = true;
      }
      v.spec.title =
          v.expect_error ? "rejects the input" : "decodes to LMCache's object, fields in wire-json.md's order";
    }
    plan->Add(std::move(v), op, kind, true);
    ++*loaded;
  }
  if (n == 0) problems.push_back(path + " holds no vectors");
  return problems;
}

// A case that passes when its source loaded cleanly and lists the problems
// otherwise.
Case SourceCase(std::string id, std::string title, std::string path, std::vector<std::string> problems,
                std::size_t loaded) {
  Case c;
  c.spec.id = std::move(id);
  c.spec.clause = "golden/README.md; wire-json.md";
  c.spec.level = Level::kMust;
  c.spec.title = std::move(title);
  c.body = [path = std::move(path), problems = std::move(problems), loaded](CaseEnv& env) {
    if (env.trace) env.trace->Note(path + ": " + std::to_string(loaded) + " cases loaded");
    if (problems.empty()) return;
    std::string msg =
        path + ": " + std::to_string(problems.size()) + " problem(s), " + std::to_string(loaded) + " cases usable";
    constexpr std::size_t kShownProblemsMax = 20;
    for (std::size_t i = 0; i < problems.size() && i < kShownProblemsMax; ++i) msg += "\n  " + problems[i];
    if (problems.size() > kShownProblemsMax) msg += "\n  ...";
    Fail(msg);
  };
  return c;
}

}  // namespace

std::vector<Case> VectorCatalogue(const TesteeCommand& tool, const VectorSources& sources) {
  Plan plan;
  std::size_t golden_loaded = 0;
  std::size_t reference_loaded = 0;
  std::vector<std::string> golden_problems = LoadGolden(sources.golden_manifest, &plan, &golden_loaded);
  std::vector<std::string> reference_problems = LoadReference(sources.reference_vectors, &plan, &reference_loaded);

  std::vector<Case> out;
  out.push_back(SourceCase("vectors/sources/golden-manifest",
                           "the golden manifest loads and every fixture matches its sha256", sources.golden_manifest,
                           std::move(golden_problems), golden_loaded));
  out.push_back(SourceCase("vectors/sources/reference-vectors", "the reference-vectors file loads",
                           sources.reference_vectors, std::move(reference_problems), reference_loaded));

  auto argv = std::make_shared<const std::vector<std::string>>(tool.argv);
  for (const auto& batch : plan.batches) {
    if (batch->size() == 0) continue;
    const std::string base = "vectors/contract/" + batch->Name() + "/";
    Case lines;
    lines.spec = {base + "one-line-per-input", "wire-json.md lmcache-wire", Level::kMust,
                  "`" + batch->op() + " " + batch->kind() + "` prints exactly one output line per input line"};
    lines.body = [batch, argv](CaseEnv& env) {
      const ToolRun& run = batch->Get(*argv, env);
      if (run.end == ToolRun::End::kNotStarted) Fail("the tool " + run.Describe());
      if (run.lines.size() != batch->size()) {
        std::string why = RunSummary(run, batch->size());
        if (run.input_refused) {
          why += "; it stopped reading stdin after " + std::to_string(run.stdin_bytes) + " bytes";
        }
        Fail(why + run.StderrNote());
      }
    };
    out.push_back(std::move(lines));
    Case status;
    const int want = batch->any_error() ? 1 : 0;
    status.spec = {base + "exit-status", "wire-json.md lmcache-wire", Level::kMust,
                   "`" + batch->op() + " " + batch->kind() + "` ends on its own and exits with " +
                       std::to_string(want) + (want ? " (some line must fail)" : " (every line must succeed)")};
    status.body = [batch, argv, want](CaseEnv& env) {
      const ToolRun& run = batch->Get(*argv, env);
      if (run.end != ToolRun::End::kExited) Fail("the tool " + run.Describe() + run.StderrNote());
      if (run.exit_status != want) {
        Fail("exit status " + std::to_string(run.exit_status) + ", expected " + std::to_string(want) +
             (want ? ": some line of this batch must fail" : ": every line of this batch must succeed") +
             run.StderrNote());
      }
    };
    out.push_back(std::move(status));
  }
  for (auto* list : {&plan.golden, &plan.reference}) {
    for (auto& [vector, batch] : *list) {
      Case c;
      c.spec = vector.spec;
      c.not_applicable = vector.not_applicable;
      c.body = [v = std::make_shared<const Vector>(std::move(vector)), b = batch, argv](CaseEnv& env) {
        CheckVector(*v, *b, *argv, env);
      };
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace lmc::conformance
