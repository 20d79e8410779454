#include "runtime/process_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <stdexcept>

#include "base/check.h"

namespace lmc::runtime {

std::string_view FsErrorName(FsError e) {
  switch (e) {
    case FsError::kOk: return "ok";
    case FsError::kNotFound: return "not found";
    case FsError::kExists: return "already exists";
    case FsError::kNoSpace: return "no space left";
    case FsError::kTooLarge: return "file larger than the buffer";
    case FsError::kNotFile: return "not a regular file";
    case FsError::kIo: return "I/O error";
  }
  return "?";
}

namespace {

FsError FromErrno(int e) {
  switch (e) {
    case 0: return FsError::kOk;
    case ENOENT:
    case ENOTDIR: return FsError::kNotFound;
    case EEXIST: return FsError::kExists;
    case ENOSPC:
    case EDQUOT: return FsError::kNoSpace;
    case ELOOP:
    case EISDIR: return FsError::kNotFile;
    default: return FsError::kIo;
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  explicit PosixWritableFile(int fd) : fd_(fd) {}
  ~PosixWritableFile() override { (void)Close(); }
  FsError Append(std::span<const std::byte> bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return FromErrno(errno);
      if (n == 0) return FsError::kIo;
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return FsError::kOk;
  }
  FsError Sync() override { return ::fsync(fd_) == 0 ? FsError::kOk : FromErrno(errno); }
  FsError Close() override {
    if (fd_ < 0) return FsError::kOk;
    const int r = ::close(fd_);
    fd_ = -1;
    return r == 0 ? FsError::kOk : FromErrno(errno);
  }

 private:
  int fd_;
};

class CvWaiter final : public Waiter {
 public:
  void Notify() override {
    std::lock_guard lock(mu_);
    notified_ = true;
    cv_.notify_all();  // under the lock: the waiter may destroy us once it has it
  }
  bool WaitUntil(Clock::time_point deadline) override {
    LMC_CHECK(base::LocksHeld() == 0, "a wait with ", base::LocksHeld(), " lock(s) held");
    std::unique_lock lock(mu_);
    if (deadline == Clock::time_point::max()) {
      cv_.wait(lock, [&] { return notified_; });
      return true;
    }
    return cv_.wait_until(lock, deadline, [&] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

class EventFdSignal final : public Signal {
 public:
  EventFdSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::runtime_error("eventfd failed");
  }
  ~EventFdSignal() override { ::close(fd_); }
  int fd() const override { return fd_; }
  void Raise() override {
    const std::uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);  // never blocks (EFD_NONBLOCK)
  }
  void Clear() override {
    std::uint64_t count;
    (void)!::read(fd_, &count, sizeof count);
  }

 private:
  int fd_;
};

}  // namespace

// ---- PosixFileSystem ----

FsError PosixFileSystem::CreateDirectories(const std::string& path) {
  if (path.empty()) return FsError::kNotFound;
  // Each prefix in turn, as `mkdir -p`.
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    const std::string prefix = path.substr(0, i);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return FromErrno(errno);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FromErrno(errno);
  return S_ISDIR(st.st_mode) ? FsError::kOk : FsError::kExists;
}

FsError PosixFileSystem::NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return FromErrno(errno);
  *file = std::make_unique<PosixWritableFile>(fd);
  return FsError::kOk;
}

FsError PosixFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0 ? FsError::kOk
                                                                                          : FromErrno(errno);
}

FsError PosixFileSystem::SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FromErrno(errno);
  const FsError e = ::fsync(fd) == 0 ? FsError::kOk : FromErrno(errno);
  ::close(fd);
  return e;
}

FsError PosixFileSystem::Remove(const std::string& path) {
  return ::unlink(path.c_str()) == 0 ? FsError::kOk : FromErrno(errno);
}

FsError PosixFileSystem::FileSize(const std::string& path, std::uint64_t* size) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return FromErrno(errno);
  if (!S_ISREG(st.st_mode)) return FsError::kNotFile;
  *size = static_cast<std::uint64_t>(st.st_size);
  return FsError::kOk;
}

FsError PosixFileSystem::ReadFile(const std::string& path, std::span<std::byte> dst, std::size_t* size, Links links) {
  *size = 0;
  // O_NONBLOCK: opening a FIFO must not wait for a writer (fstat refuses it
  // next); it changes nothing for a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (links == Links::kRefuse ? O_NOFOLLOW : 0));
  if (fd < 0) return FromErrno(errno);
  FsError e = FsError::kOk;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    e = FromErrno(errno);
  } else if (!S_ISREG(st.st_mode)) {
    e = FsError::kNotFile;
  } else if (static_cast<std::uint64_t>(st.st_size) > dst.size()) {
    e = FsError::kTooLarge;
  } else {
    const auto want = static_cast<std::size_t>(st.st_size);
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n = ::read(fd, dst.data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    *size = got;
    if (got != want) e = FsError::kIo;  // shrank under us, or a read failed
  }
  ::close(fd);
  return e;
}

FsError PosixFileSystem::List(const std::string& path, std::vector<std::string>* names) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return FromErrno(errno);
  names->clear();
  while (const dirent* d = ::readdir(dir)) {
    const std::string_view name = d->d_name;
    if (name != "." && name != "..") names->emplace_back(name);
  }
  ::closedir(dir);
  return FsError::kOk;
}

// ---- ProcessEnv ----

ProcessEnv::ProcessEnv(net::Transport& net, ProcessEnvOptions options)
    : net_(&net), rng_(options.seed), workers_(options.workers) {}

ProcessEnv::ProcessEnv(ProcessEnvOptions options)
    : own_net_(std::make_unique<net::AsioTransport>(1)),
      net_(own_net_.get()),
      rng_(options.seed),
      workers_(options.workers) {
  own_net_->Start(1);
}

ProcessEnv::~ProcessEnv() {
  workers_.Close();
  if (own_net_) {
    own_net_->Stop();
    own_net_->Join();
  }
}

std::uint64_t ProcessEnv::Random() {
  std::lock_guard lock(rng_mu_);
  return rng_();
}

bool ProcessEnv::CryptoRandom(std::span<std::byte> out) {
  while (!out.empty()) {
    const ssize_t n = ::getrandom(out.data(), out.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out = out.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

std::unique_ptr<Waiter> ProcessEnv::MakeWaiter() { return std::make_unique<CvWaiter>(); }
std::unique_ptr<Signal> ProcessEnv::MakeSignal() { return std::make_unique<EventFdSignal>(); }

}  // namespace lmc::runtime
