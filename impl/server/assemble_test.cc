// AssembleServer: the one builder of lmcache-server and the simulator.
#include "server/assemble.h"

#include <gtest/gtest.h>

#include "net/asio_transport.h"
#include "runtime/process_env.h"

namespace lmc::server {
namespace {

TEST(AssembleServer, BuildsL1AloneOrWithATierFromTheAdaptersJson) {
  net::AsioTransport transport(1);
  ServerPlan plan;
  plan.l1_bytes = 1 << 20;
  plan.l1_headroom_bytes = DefaultHeadroomBytes(plan.l1_bytes);
  EXPECT_EQ(plan.l1_headroom_bytes, std::size_t{1} << 16);                       // 1/16 of L1
  EXPECT_EQ(DefaultHeadroomBytes(std::size_t{8} << 30), std::size_t{64} << 20);  // at most 64 MiB
  ServerParts alone;
  std::string error;
  ASSERT_EQ(AssembleServer(plan, transport, nullptr, &alone, &error), AssembleError::kOk) << error;
  EXPECT_EQ(alone.l1->Stats().capacity_bytes, std::uint64_t{1} << 20);
  EXPECT_EQ(alone.tier, nullptr);
  EXPECT_TRUE(alone.adapters.empty());
  ASSERT_NE(alone.server, nullptr);

  runtime::ProcessEnv env(runtime::ProcessEnvOptions{1, 0});
  plan.l2_adapters = {{{"type", "memory"}}};
  ServerParts tiered;
  ASSERT_EQ(AssembleServer(plan, transport, &env, &tiered, &error), AssembleError::kOk) << error;
  ASSERT_NE(tiered.tier, nullptr);
  ASSERT_EQ(tiered.adapters.size(), 1u);
  tiered.tier->Close();
}

TEST(AssembleServer, ARefusedAdapterIsAUsageErrorThatSaysWhy) {
  net::AsioTransport transport(1);
  runtime::ProcessEnv env(runtime::ProcessEnvOptions{1, 0});
  ServerPlan plan;
  plan.l1_bytes = 1 << 20;
  plan.l2_adapters = {{{"type", "memory"}}, {{"type", "floppy"}}};
  ServerParts parts;
  std::string error;
  EXPECT_EQ(AssembleServer(plan, transport, &env, &parts, &error), AssembleError::kBadAdapter);
  EXPECT_NE(error.find("floppy"), std::string::npos) << error;
  EXPECT_EQ(parts.server, nullptr);
}

}  // namespace
}  // namespace lmc::server
