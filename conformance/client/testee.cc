#include "conformance/client/testee.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "conformance/client/line_json.h"

extern char** environ;

namespace lmc::conformance::client_mode {

namespace {

// A result line longer than this is refused: a 64 MiB body is 87 MiB of
// base64, so this leaves room for any body a profile sensibly asks for.
constexpr std::size_t kLineBytesMax = std::size_t{512} << 20;
constexpr std::size_t kStderrKeepBytes = 4096;
constexpr std::size_t kTraceLineBytes = 300;
constexpr int kPipeBytes = 1 << 20;
constexpr std::size_t kReadChunkBytes = kPipeBytes;

std::string Shorten(std::string_view s, std::size_t max = kTraceLineBytes) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "... (" + std::to_string(s.size()) + " bytes)";
}

// write() without SIGPIPE and without touching the process's signal
// disposition: SIGPIPE is blocked for this thread around the call, and one
// that the call itself raised is consumed before it is unblocked.
ssize_t WriteNoSigpipe(int fd, const char* p, std::size_t n) {
  sigset_t pipe_set;
  sigset_t old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  const ssize_t r = ::write(fd, p, n);
  const int e = errno;
  if (r < 0 && e == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return r;
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace

ResultLineError ParseResultLine(std::string line, std::int64_t id, nlohmann::json* out) {
  *out = line_json::Parse(std::move(line));
  const nlohmann::json& r = *out;
  if (r.is_discarded() || !r.is_object()) return ResultLineError::kNotObject;
  const auto it = r.find("id");
  if (it == r.end() || !it->is_number_integer() || it->get<std::int64_t>() != id) return ResultLineError::kWrongId;
  const auto ok = r.find("ok");
  if (ok == r.end() || !ok->is_boolean()) return ResultLineError::kNoOk;
  return ResultLineError::kOk;
}

Testee::Testee(const std::vector<std::string>& argv, std::uint16_t port, TraceSink* trace) : trace_(trace) {
  if (argv.empty()) Fail("no testee command was given");
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LMCACHE_URL=", 12) != 0) env.emplace_back(*e);
  }
  const std::string url = "lm://127.0.0.1:" + std::to_string(port);
  env.push_back("LMCACHE_URL=" + url);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  argp.reserve(args.size() + 1);
  for (std::string& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    const std::string why = std::strerror(errno);
    for (int* p : {in, out, err}) {
      CloseFd(&p[0]);
      CloseFd(&p[1]);
    }
    Fail("cannot create the testee's pipes: " + why);
  }
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    execvpe(argp[0], argp.data(), envp.data());
    static constexpr char kMsg[] = "lmcache-conformance: cannot execute the testee command\n";
    [[maybe_unused]] const ssize_t w = ::write(2, kMsg, sizeof kMsg - 1);
    _exit(127);
  }
  const int fork_errno = errno;
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
  if (pid_ < 0) {
    CloseFd(&in_);
    CloseFd(&out_);
    CloseFd(&err_);
    Fail(std::string("cannot start the testee: fork: ") + std::strerror(fork_errno));
  }
  for (const int fd : {in_, out_, err_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  // Bodies of megabytes cross these pipes as base64: 1 MiB pipes (the
  // unprivileged maximum by default) instead of 64 KiB cut the hand-offs
  // between the two processes sixteenfold. Best effort.
  for (const int fd : {in_, out_}) fcntl(fd, F_SETPIPE_SZ, kPipeBytes);
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  if (trace_ != nullptr)
    trace_->Note("testee started: pid " + std::to_string(pid_) + ", LMCACHE_URL=" + url + ", " + shown);
}

Testee::~Testee() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    Reap(/*block=*/true);
  }
  CloseFd(&in_);
  CloseFd(&out_);
  CloseFd(&err_);
}

void Testee::Reap(bool block) {
  if (pid_ <= 0 || status_) return;
  int st = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
  if (r < 0) status_ = 255;  // not our child any more: treat as gone
}

void Testee::Pump(const Deadline& d) {
  pollfd p[3];
  nfds_t n = 0;
  const bool writing = in_ >= 0 && pending_at_ < pending_in_.size();
  if (writing) p[n++] = {in_, POLLOUT, 0};
  const nfds_t out_at = n;
  if (out_ >= 0) p[n++] = {out_, POLLIN, 0};
  const nfds_t err_at = n;
  if (err_ >= 0) p[n++] = {err_, POLLIN, 0};
  if (n == 0) {
    // Nothing left to wait on: the testee closed everything. Poll its exit.
    Reap(false);
    if (!d.expired()) ::usleep(static_cast<useconds_t>(std::min(d.RemainingMs(), 10)) * 1000);
    return;
  }
  const int k = ::poll(p, n, d.RemainingMs());
  if (k <= 0) return;
  if (writing && p[0].revents != 0) {
    while (pending_at_ < pending_in_.size()) {
      const ssize_t w = WriteNoSigpipe(in_, pending_in_.data() + pending_at_, pending_in_.size() - pending_at_);
      if (w > 0) {
        pending_at_ += static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        if (w < 0 && errno != EAGAIN) {
          // EPIPE: the testee closed its stdin; what is pending is lost.
          CloseFd(&in_);
          pending_in_.clear();
          pending_at_ = 0;
        }
        break;
      }
    }
    if (pending_at_ == pending_in_.size()) {
      pending_in_.clear();
      pending_at_ = 0;
    }
  }
  char buf[65536];
  if (out_ >= 0 && out_at < n && p[out_at].revents != 0) {
    for (;;) {
      // Straight into the line buffer, a pipe's worth at a time.
      const std::size_t have = out_buf_.size();
      out_buf_.resize(have + kReadChunkBytes);
      const ssize_t r = ::read(out_, out_buf_.data() + have, kReadChunkBytes);
      const int e = errno;
      out_buf_.resize(have + static_cast<std::size_t>(std::max<ssize_t>(r, 0)));
      if (r > 0) {
        if (out_buf_.size() > kLineBytesMax) break;
        continue;
      }
      if (r < 0 && e == EINTR) continue;
      if (r == 0 || e != EAGAIN) CloseFd(&out_);
      break;
    }
  }
  if (err_ >= 0 && err_at < n && p[err_at].revents != 0) {
    for (;;) {
      const ssize_t r = ::read(err_, buf, sizeof buf);
      if (r > 0) {
        err_buf_.append(buf, static_cast<std::size_t>(r));
        if (err_buf_.size() > 2 * kStderrKeepBytes) err_buf_.erase(0, err_buf_.size() - kStderrKeepBytes);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r == 0 || errno != EAGAIN) CloseFd(&err_);
      break;
    }
  }
}

std::int64_t Testee::Send(nlohmann::json request, const Deadline& d) {
  const std::int64_t id = next_id_++;
  request["id"] = id;
  std::string line = line_json::Dump(std::move(request));
  if (trace_ != nullptr) trace_->Note("testee << " + Shorten(line));
  if (in_ < 0) return id;  // the testee is gone; Result() says how
  line += '\n';
  if (pending_in_.empty()) {
    pending_in_ = std::move(line);  // bodies run to megabytes: no copy
  } else {
    pending_in_ += line;
  }
  while (in_ >= 0 && !pending_in_.empty() && !d.expired()) Pump(d);
  if (!pending_in_.empty() && in_ >= 0) {
    FailWithStderr("the testee did not read request " + std::to_string(id) + " from its stdin by the deadline");
  }
  return id;
}

std::optional<std::string> Testee::ReadLine(const Deadline& d) {
  for (;;) {
    const std::size_t nl = out_buf_.find('\n', scanned_);
    if (nl != std::string::npos) {
      std::string line;
      if (nl + 1 == out_buf_.size()) {
        line = std::move(out_buf_);  // the usual case: exactly one line buffered
        line.pop_back();
        out_buf_.clear();
      } else {
        line = out_buf_.substr(0, nl);
        out_buf_.erase(0, nl + 1);
      }
      scanned_ = 0;
      return line;
    }
    scanned_ = out_buf_.size();
    if (out_buf_.size() > kLineBytesMax) {
      FailWithStderr("the testee printed a line longer than " + std::to_string(kLineBytesMax) + " bytes");
    }
    if (out_ < 0 || d.expired()) return std::nullopt;
    Pump(d);
  }
}

std::optional<nlohmann::json> Testee::Result(std::int64_t id, std::string_view what, const Deadline& d,
                                             bool silence_ok) {
  const std::string req = "request " + std::to_string(id) + " (" + std::string(what) + ")";
  std::optional<std::string> line = ReadLine(d);
  if (!line) {
    if (out_ < 0) {
      // Its stdout closed: give it a moment to be reaped, for the status.
      const Deadline grace = Deadline::After(std::chrono::milliseconds(200));
      while (!status_ && !grace.expired()) {
        Reap(false);
        if (!status_) ::usleep(5000);
      }
      if (!out_buf_.empty()) {
        FailWithStderr("the testee's stdout ended in the middle of a line while it was answering " + req + ": '" +
                       Shorten(out_buf_) + "'");
      }
      FailWithStderr("the testee " +
                     (status_ ? "exited with status " + std::to_string(*status_) : std::string("closed its stdout")) +
                     " before it answered " + req);
    }
    if (silence_ok) return std::nullopt;
    FailWithStderr("the testee gave no result for " + req + " by the deadline");
  }
  last_result_at_ = Deadline::Clock::now();
  const std::string shown = Shorten(*line, 200);
  if (trace_ != nullptr) trace_->Note("testee >> " + Shorten(*line));
  nlohmann::json r;
  switch (ParseResultLine(std::move(*line), id, &r)) {
    case ResultLineError::kOk: break;
    case ResultLineError::kNotObject:
      FailWithStderr("the testee printed a line that is not a JSON object in answer to " + req + ": '" + shown + "'");
    case ResultLineError::kWrongId: {
      const auto it = r.find("id");
      FailWithStderr("the testee answered " + req + " with id " + (it == r.end() ? std::string("(none)") : it->dump()) +
                     ": each result must carry its request's id, in request order");
    }
    case ResultLineError::kNoOk:
      FailWithStderr("the testee's result for " + req + " has no boolean 'ok': '" + shown + "'");
  }
  return r;
}

void Testee::CloseStdin() {
  CloseFd(&in_);
  pending_in_.clear();
  pending_at_ = 0;
  if (trace_ != nullptr) trace_->Note("testee: stdin closed");
}

std::optional<int> Testee::WaitExit(const Deadline& d) {
  for (;;) {
    Reap(false);
    if (status_ || d.expired()) return status_;
    // Drain its output meanwhile, so a chatty testee cannot block on a full pipe.
    if (out_ >= 0 || err_ >= 0) {
      Pump(d.Within(std::chrono::milliseconds(10)));
    } else {
      ::usleep(5000);
    }
  }
}

std::optional<std::uint64_t> Testee::PeakRssBytes() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::uint64_t kb = 0;
      for (const char c : line.substr(6)) {
        if (c >= '0' && c <= '9') kb = kb * 10 + static_cast<std::uint64_t>(c - '0');
      }
      return kb * 1024;
    }
  }
  return std::nullopt;
}

std::string Testee::StderrTail(std::size_t max_bytes) const {
  std::string s = err_buf_;
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

void Testee::FailWithStderr(std::string message) {
  // Collect what it said on stderr so far, briefly.
  if (err_ >= 0) {
    const Deadline brief = Deadline::After(std::chrono::milliseconds(20));
    while (err_ >= 0 && !brief.expired()) Pump(brief);
  }
  const std::string tail = StderrTail();
  if (!tail.empty()) message += "\ntestee stderr: " + tail;
  Fail(std::move(message));
}

}  // namespace lmc::conformance::client_mode
