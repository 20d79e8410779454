// ProcessEnv: the production seam. Waiters keep their deadlines, Random()
// replays from its seed, CryptoRandom() does not, signals count, and the
// POSIX file system gives the errors the fs back end relies on.
#include "runtime/process_env.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "base/mutex.h"

namespace lmc::runtime {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

TEST(ProcessEnv, AWaiterReturnsOnNotifyOrAtItsDeadline) {
  ProcessEnv env;
  auto w = std::shared_ptr<Waiter>(env.MakeWaiter());
  const auto start = env.Now();
  EXPECT_FALSE(w->WaitUntil(start + 30ms));
  EXPECT_GE(env.Now() - start, 30ms);
  env.Offload([w](bool) { w->Notify(); }, Env::Priority::kNormal);
  EXPECT_TRUE(w->WaitUntil(env.Now() + 5s));
  EXPECT_TRUE(w->WaitUntil(env.Now()));  // stays notified
}

// No lock is held across a wait (base/mutex.h): a waiter that holds one is
// stopped on entry, even when it would not block.
TEST(ProcessEnvDeathTest, ALockHeldAcrossAWaitIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ProcessEnv env;
  base::Mutex mu;
  auto w = std::shared_ptr<Waiter>(env.MakeWaiter());
  w->Notify();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(base::LocksHeld(), 1);
  }
  EXPECT_EQ(base::LocksHeld(), 0);
  EXPECT_TRUE(w->WaitUntil(env.Now()));
  EXPECT_DEATH(
      {
        std::lock_guard lock(mu);
        (void)w->WaitUntil(env.Now());
      },
      "check failed: process_env.cc:.*a wait with 1 lock\\(s\\) held");
}

TEST(ProcessEnv, RandomReplaysFromItsSeedCryptoRandomDoesNot) {
  ProcessEnv a({1, 42}), b({1, 42}), c({1, 43});
  const std::uint64_t x = a.Random();
  EXPECT_EQ(x, b.Random());
  EXPECT_NE(x, c.Random());
  std::array<std::byte, 16> s1{}, s2{};
  ASSERT_TRUE(a.CryptoRandom(s1));
  ASSERT_TRUE(b.CryptoRandom(s2));
  EXPECT_NE(s1, s2);
}

TEST(ProcessEnv, ASignalIsPollableAndClears) {
  ProcessEnv env;
  std::unique_ptr<Signal> s = env.MakeSignal();
  pollfd p{s->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  s->Raise();
  s->Raise();
  EXPECT_EQ(::poll(&p, 1, 0), 1);
  s->Clear();
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST(ProcessEnv, TheFileSystemWritesRenamesReadsListsAndRemoves) {
  ProcessEnv env;
  FileSystem& fs = env.Files();
  const std::string dir = std::filesystem::temp_directory_path() / ("lmc-env-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(fs.CreateDirectories(dir + "/a/b"), FsError::kOk);
  ASSERT_EQ(fs.CreateDirectories(dir + "/a/b"), FsError::kOk);  // as mkdir -p
  const std::string tmp = dir + "/a/b/x.tmp", fin = dir + "/a/b/x";
  std::unique_ptr<WritableFile> f;
  ASSERT_EQ(fs.NewWritableFile(tmp, &f), FsError::kOk);
  ASSERT_EQ(f->Append(Bytes("hello ")), FsError::kOk);
  ASSERT_EQ(f->Append(Bytes("world")), FsError::kOk);
  ASSERT_EQ(f->Sync(), FsError::kOk);
  ASSERT_EQ(f->Close(), FsError::kOk);
  std::unique_ptr<WritableFile> again;
  EXPECT_EQ(fs.NewWritableFile(tmp, &again), FsError::kExists);
  ASSERT_EQ(fs.RenameNoReplace(tmp, fin), FsError::kOk);
  ASSERT_EQ(fs.SyncDirectory(dir + "/a/b"), FsError::kOk);
  std::uint64_t size = 0;
  ASSERT_EQ(fs.FileSize(fin, &size), FsError::kOk);
  EXPECT_EQ(size, 11u);
  EXPECT_EQ(fs.FileSize(dir + "/a", &size), FsError::kNotFile);
  EXPECT_EQ(fs.FileSize(tmp, &size), FsError::kNotFound);
  std::string buf(11, '\0');
  std::size_t got = 0;
  ASSERT_EQ(fs.ReadFile(fin, std::as_writable_bytes(std::span(buf)), &got, Links::kRefuse), FsError::kOk);
  EXPECT_EQ(buf.substr(0, got), "hello world");
  std::string small(10, '\0');
  EXPECT_EQ(fs.ReadFile(fin, std::as_writable_bytes(std::span(small)), &got, Links::kRefuse), FsError::kTooLarge);
  EXPECT_EQ(got, 0u);
  ASSERT_EQ(fs.NewWritableFile(tmp, &f), FsError::kOk);
  ASSERT_EQ(f->Close(), FsError::kOk);
  EXPECT_EQ(fs.RenameNoReplace(tmp, fin), FsError::kExists);  // the older file is kept
  std::vector<std::string> names;
  ASSERT_EQ(fs.List(dir + "/a/b", &names), FsError::kOk);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"x", "x.tmp"}));
  std::filesystem::create_symlink(fin, dir + "/link");
  EXPECT_EQ(fs.ReadFile(dir + "/link", std::as_writable_bytes(std::span(buf)), &got, Links::kRefuse),
            FsError::kNotFile);
  // Configuration files are read through links.
  ASSERT_EQ(fs.ReadFile(dir + "/link", std::as_writable_bytes(std::span(buf)), &got, Links::kFollow), FsError::kOk);
  EXPECT_EQ(buf.substr(0, got), "hello world");
  EXPECT_EQ(fs.Remove(fin), FsError::kOk);
  EXPECT_EQ(fs.Remove(fin), FsError::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lmc::runtime
