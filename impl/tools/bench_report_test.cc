// lmcache-bench's parsers and report: the JSON keys scripts read, in order.
#include "tools/bench_report.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace lmc::tools::bench {
namespace {

TEST(BenchParse, SizesAndMixes) {
  EXPECT_EQ(ParseSize("256K"), 256u << 10);
  EXPECT_EQ(ParseSize("1.5M"), 3u << 19);
  EXPECT_EQ(ParseSize("100"), 100u);
  EXPECT_THROW((void)ParseSize("3X"), std::invalid_argument);
  EXPECT_THROW((void)ParseSize("2G"), std::invalid_argument);  // over the int32 length field
  std::array<double, 3> w{};
  std::string error;
  ASSERT_TRUE(ParseMix("put=1,get=3", &w, &error)) << error;
  EXPECT_EQ(w, (std::array<double, 3>{1, 3, 0}));
  EXPECT_FALSE(ParseMix("put=1,del=2", &w, &error));
  EXPECT_EQ(error, "--mix: unknown command 'del' (put, get or exist)");
  EXPECT_FALSE(ParseMix("put=0", &w, &error));
  EXPECT_EQ(error, "--mix: every weight is 0");
  EXPECT_FALSE(ParseMix("put=1x", &w, &error));
}

TEST(BenchReport, JsonKeepsItsKeysAndOrder) {
  BenchConfig config;
  config.connections = 2;
  config.depth = 4;
  BenchResult result;
  result.seconds = 2;
  result.all.bytes = 4'000'000'000;
  result.all.latency_ns[kGet] = {1000, 3000, 2000};
  result.all.Error(kPut, "timed out");
  const Report r = MakeReport(config, {"256K"}, result);
  EXPECT_DOUBLE_EQ(r.gbps, 2.0);
  EXPECT_DOUBLE_EQ(r.ops_per_s, 1.5);
  EXPECT_EQ(r.ops[kGet].ops, 3u);
  EXPECT_DOUBLE_EQ(r.ops[kGet].p50_us, 2.0);
  EXPECT_DOUBLE_EQ(r.ops[kGet].max_us, 3.0);
  EXPECT_EQ(r.FormatReasons(), "1: 1 put timed out");
  EXPECT_EQ(r.ToJson().dump(),
            R"({"connections":2,"depth":4,"verified":true,"seconds":2.0,"gbps":2.0,"errors":1,"mismatches":0,)"
            R"("error_reasons":{"put timed out":1},"get":{"ops":3,"p50_us":2.0,"p99_us":2.0}})");
}

}  // namespace
}  // namespace lmc::tools::bench
