#include "serde/async_processor.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <thread>

#include "serde/fp8_serde.h"

namespace lmc::serde {
namespace {

std::uint64_t ReadCount(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return 0;  // every wait has a deadline
  std::uint64_t n = 0;
  return read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

struct Fixture {
  std::shared_ptr<Fp8Serde> serde = std::make_shared<Fp8Serde>(Fp8Format::kE4M3FN);
  Layout layout{{{{64}, DType::kBFloat16}}};
  std::vector<std::vector<std::byte>> src = std::vector<std::vector<std::byte>>(3, std::vector<std::byte>(128, std::byte{0x3f}));
  std::vector<std::vector<std::byte>> dst = std::vector<std::vector<std::byte>>(3, std::vector<std::byte>(64, std::byte{0xAA}));
  std::vector<std::size_t> used = std::vector<std::size_t>(3, 0);
  std::vector<SerializeItem> Batch() {
    std::vector<SerializeItem> b;
    for (std::size_t i = 0; i < 3; ++i) b.push_back({&layout, src[i], dst[i], nullptr, &used[i]});
    return b;
  }
};

TEST(AsyncSerdeProcessor, BatchSucceedsAndSignalsAllThreeWays) {
  Fixture f;
  AsyncSerdeProcessor p(f.serde, f.serde, 2);
  EXPECT_NE(p.serialize_event_fd(), p.deserialize_event_fd());
  const auto task = p.SubmitSerialize(f.Batch());
  EXPECT_TRUE(task.done.get());
  EXPECT_EQ(ReadCount(p.serialize_event_fd()), 1u);
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::optional<bool>(true));
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::nullopt);  // consume-once
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(f.used[i], 64u);  // the exact size, as set_used_size
  std::vector<std::byte> back(128);
  const auto load = p.SubmitDeserialize({{f.dst[0], &f.layout, back, nullptr}});
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
  AsyncSerdeProcessor p(f.serde, f.serde, 1);
  auto batch = f.Batch();
  batch[1].dst = std::span(f.dst[1]).first(10);  // too small
  const auto task = p.SubmitSerialize(batch);
  EXPECT_FALSE(task.done.get());
  EXPECT_EQ(p.QuerySerializeResult(task.id), std::optional<bool>(false));
  EXPECT_EQ(f.used[0], 64u);  // transformed before the failure: not rolled back
  EXPECT_EQ(f.used[1], 0u);   // never set on failure
  EXPECT_EQ(f.dst[2], std::vector<std::byte>(64, std::byte{0xAA}));  // the walk stopped
  EXPECT_EQ(p.QuerySerializeResult(12345), std::nullopt);            // unknown id
}

TEST(AsyncSerdeProcessor, AfterCloseSubmitsFailAtOnce) {
  Fixture f;
  AsyncSerdeProcessor p(f.serde, f.serde, 1);
  const auto before = p.SubmitSerialize(f.Batch());
  p.Close();
  EXPECT_TRUE(before.done.get());  // queued work runs to the end
  const auto after = p.SubmitSerialize(f.Batch());
  EXPECT_FALSE(after.done.get());
  EXPECT_EQ(p.serialize_event_fd(), -1);
  p.Close();  // idempotent
}

TEST(AsyncSerdeProcessor, ConcurrentClosesAreSafe) {
  Fixture f;
  for (int round = 0; round < 20; ++round) {
    AsyncSerdeProcessor p(f.serde, f.serde, 2);
    std::thread a([&] { p.Close(); }), b([&] { p.Close(); });
    a.join();
    b.join();
  }  // and the destructor closes once more
}

}  // namespace
}  // namespace lmc::serde
