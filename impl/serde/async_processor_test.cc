#include "serde/async_processor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>

#include <future>

#include "runtime/testing.h"
#include "serde/fp8_serde.h"

namespace lmc::serde {
namespace {

std::uint64_t ReadCount(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return 0;  // every wait has a deadline
  std::uint64_t n = 0;
  return read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

// A submit whose callback fulfils a future the test can wait on.
struct Submitted {
  AsyncSerdeProcessor::TaskId id = 0;
  std::shared_future<bool> done;
};
template <typename Batch, typename SubmitFn>
Submitted Track(Batch batch, SubmitFn submit) {
  auto promise = std::make_shared<std::promise<bool>>();
  Submitted s;
  s.done = promise->get_future().share();
  s.id = submit(std::move(batch), [promise](bool ok) { promise->set_value(ok); });
  return s;
}
Submitted Serialize(AsyncSerdeProcessor& p, std::vector<SerializeItem> batch) {
  return Track(std::move(batch), [&p](auto b, auto done) { return p.SubmitSerialize(std::move(b), std::move(done)); });
}
Submitted Deserialize(AsyncSerdeProcessor& p, std::vector<DeserializeItem> batch) {
  return Track(std::move(batch),
               [&p](auto b, auto done) { return p.SubmitDeserialize(std::move(b), std::move(done)); });
}

struct Fixture {
  std::shared_ptr<Fp8Serde> serde = std::make_shared<Fp8Serde>(Fp8Format::kE4M3FN);
  Layout layout{{{{64}, DType::kBFloat16}}};
  std::vector<std::vector<std::byte>> src =
      std::vector<std::vector<std::byte>>(3, std::vector<std::byte>(128, std::byte{0x3f}));
  std::vector<std::vector<std::byte>> dst =
      std::vector<std::vector<std::byte>>(3, std::vector<std::byte>(64, std::byte{0xAA}));
  std::vector<std::size_t> used = std::vector<std::size_t>(3, 0);
  std::vector<SerializeItem> Batch() {
    std::vector<SerializeItem> b;
    for (std::size_t i = 0; i < 3; ++i) b.push_back({&layout, src[i], dst[i], nullptr, &used[i]});
    return b;
  }
};

TEST(AsyncSerdeProcessor, BatchSucceedsAndSignalsAllThreeWays) {
  Fixture f;
  AsyncSerdeProcessor p(runtime::TestEnv(), f.serde, f.serde, 2);
  EXPECT_NE(p.serialize_event_fd(), p.deserialize_event_fd());
  const auto task = Serialize(p, f.Batch());
  EXPECT_TRUE(task.done.get());
  EXPECT_EQ(ReadCount(p.serialize_event_fd()), 1u);
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::optional<bool>(true));
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::nullopt);       // consume-once
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(f.used[i], 64u);  // the exact size, as set_used_size
  std::vector<std::byte> back(128);
  const auto load = Deserialize(p, {{f.dst[0], &f.layout, back, nullptr}});
  EXPECT_TRUE(load.done.get());
  EXPECT_EQ(load.id, task.id + 1);  // one id counter for both directions
  EXPECT_EQ(ReadCount(p.deserialize_event_fd()), 1u);
  // bf16 0x3f3f (0.746) is not an e4m3 value: compare with the cast itself.
  std::vector<std::byte> want(128);
  CastFromFp8(std::span(reinterpret_cast<const std::uint8_t*>(f.dst[0].data()), 64), DType::kBFloat16, want,
              Fp8Format::kE4M3FN);
  EXPECT_EQ(back, want);
}

TEST(AsyncSerdeProcessor, OneFailingObjectFailsTheWholeTask) {
  Fixture f;
  AsyncSerdeProcessor p(runtime::TestEnv(), f.serde, f.serde, 1);
  auto batch = f.Batch();
  batch[1].dst = std::span(f.dst[1]).first(10);  // too small
  const auto task = Serialize(p, batch);
  EXPECT_FALSE(task.done.get());
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::optional<bool>(false));
  EXPECT_EQ(f.used[0], 64u);                                         // transformed before the failure: not rolled back
  EXPECT_EQ(f.used[1], 0u);                                          // never set on failure
  EXPECT_EQ(f.dst[2], std::vector<std::byte>(64, std::byte{0xAA}));  // the walk stopped
  EXPECT_EQ(p.QuerySerializeResult(12345), std::nullopt);            // unknown id
}

TEST(AsyncSerdeProcessor, AfterCloseSubmitsFailAtOnce) {
  Fixture f;
  AsyncSerdeProcessor p(runtime::TestEnv(), f.serde, f.serde, 1);
  const auto before = Serialize(p, f.Batch());
  p.Close();
  EXPECT_TRUE(before.done.get());  // queued work runs to the end
  const auto after = Serialize(p, f.Batch());
  EXPECT_FALSE(after.done.get());
  EXPECT_EQ(p.serialize_event_fd(), -1);
  p.Close();  // idempotent
}

// A serde whose every call waits (bounded) until the test opens its gate, so
// batches can be held mid-run while the processor is closed.
class GatedSerde final : public Serializer, public Deserializer {
 public:
  std::uint64_t EstimateSerializedSize(const Layout&, SerdeError* error) const override {
    *error = SerdeError::kOk;
    return 1;
  }
  SerdeError Serialize(const Layout&, std::span<const std::byte>, std::span<std::byte>, const ObjectKey*,
                       std::size_t* written) const override {
    Pass();
    *written = 1;
    return SerdeError::kOk;
  }
  SerdeError Deserialize(std::span<const std::byte>, const Layout&, std::span<std::byte>,
                         const ObjectKey*) const override {
    Pass();
    return SerdeError::kOk;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True once `n` calls have entered the gate (waits at most 5 s).
  bool WaitEntered(int n) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return entered_ >= n; });
  }

 private:
  void Pass() const {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return open_; });
  }
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool open_ = false;
};

// The count an eventfd holds now (0 if none), without waiting.
std::uint64_t CountNow(int fd) {
  std::uint64_t n = 0;
  return read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

bool FdOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

// Several threads close at once while batches run and more wait in the
// queue. Whichever Close() stops the pool, every batch submitted before it
// runs to the end, succeeds, and is signalled once on its direction's
// eventfd before that fd is closed (a Close() that closed the fds while
// batches still ran would lose their signals); each result is consumed once;
// every Close() returns; the fds are closed exactly once and nothing is
// written to them after (descriptors opened afterwards, which reuse their
// numbers, stay untouched through a late submit and the destructor).
TEST(AsyncSerdeProcessor, ConcurrentClosesAreSafe) {
  constexpr int kBatches = 8;  // per direction; 2 workers, so most wait queued
  constexpr int kClosers = 3;
  const Layout layout{{{{1}, DType::kUInt8}}};
  std::vector<std::byte> src(1), dst(1);
  for (int round = 0; round < 5; ++round) {
    auto serde = std::make_shared<GatedSerde>();
    auto p = std::make_unique<AsyncSerdeProcessor>(runtime::TestEnv(), serde, serde, 2);
    // Duplicates outlive Close() and read the same counters.
    const int serialize_signals = dup(p->serialize_event_fd());
    const int deserialize_signals = dup(p->deserialize_event_fd());
    ASSERT_GE(serialize_signals, 0);
    ASSERT_GE(deserialize_signals, 0);
    std::vector<Submitted> stores, loads;
    for (int i = 0; i < kBatches; ++i) {
      stores.push_back(Serialize(*p, {{&layout, src, dst, nullptr, nullptr}}));
      loads.push_back(Deserialize(*p, {{dst, &layout, src, nullptr}}));
    }
    ASSERT_TRUE(serde->WaitEntered(2));  // both workers hold a batch in the gate

    std::mutex mu;
    std::condition_variable cv;
    int returned = 0;
    std::vector<std::thread> closers;
    for (int i = 0; i < kClosers; ++i)
      closers.emplace_back([&] {
        p->Close();
        std::lock_guard lock(mu);
        ++returned;
        cv.notify_all();
      });
    {
      // While the batches are held no Close() may return: not the one that
      // joins the workers, nor those that lost the race to it.
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return returned > 0; });
      EXPECT_EQ(returned, 0) << "a Close() returned before the running batches finished";
    }
    serde->Open();
    {
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return returned == kClosers; })) {
        ADD_FAILURE() << "Close() did not return";
        std::abort();  // the closers cannot be joined; do not hang the suite
      }
    }
    for (std::thread& t : closers) t.join();

    for (int i = 0; i < kBatches; ++i) {
      ASSERT_EQ(stores[static_cast<std::size_t>(i)].done.wait_for(std::chrono::seconds(0)), std::future_status::ready);
      ASSERT_EQ(loads[static_cast<std::size_t>(i)].done.wait_for(std::chrono::seconds(0)), std::future_status::ready);
      EXPECT_TRUE(stores[static_cast<std::size_t>(i)].done.get()) << "queued batches run to the end";
      EXPECT_TRUE(loads[static_cast<std::size_t>(i)].done.get());
      EXPECT_EQ(p->QuerySerializeResult(stores[static_cast<std::size_t>(i)].id), std::optional<bool>(true));
      EXPECT_EQ(p->QuerySerializeResult(stores[static_cast<std::size_t>(i)].id), std::nullopt);
      EXPECT_EQ(p->QueryDeserializeResult(loads[static_cast<std::size_t>(i)].id), std::optional<bool>(true));
    }
    EXPECT_EQ(CountNow(serialize_signals), std::uint64_t{kBatches}) << "each batch signalled once, before the close";
    EXPECT_EQ(CountNow(deserialize_signals), std::uint64_t{kBatches});
    EXPECT_EQ(p->serialize_event_fd(), -1);
    EXPECT_EQ(p->deserialize_event_fd(), -1);

    // The closed numbers are free again: new descriptors take them.
    const int reuse_a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const int reuse_b = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const auto late = Serialize(*p, {{&layout, src, dst, nullptr, nullptr}});
    ASSERT_EQ(late.done.wait_for(std::chrono::seconds(0)), std::future_status::ready);  // at once
    EXPECT_FALSE(late.done.get());
    p.reset();  // the destructor closes once more
    EXPECT_TRUE(FdOpen(reuse_a) && FdOpen(reuse_b)) << "a descriptor was closed twice";
    EXPECT_EQ(CountNow(reuse_a) + CountNow(reuse_b), 0u) << "written after close";
    EXPECT_EQ(CountNow(serialize_signals), 0u) << "the late submit is not signalled";
    for (int fd : {reuse_a, reuse_b, serialize_signals, deserialize_signals}) close(fd);
  }
}

}  // namespace
}  // namespace lmc::serde
