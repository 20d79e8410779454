// The runner's core: patterns, expected-failure classification, reports.
#include "conformance/runner.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "conformance/profile.h"

namespace lmc::conformance {
namespace {

TEST(MatchPattern, OneLevelAndAnyDepth) {
  EXPECT_TRUE(MatchPattern("server/get/hit", "server/get/hit"));
  EXPECT_FALSE(MatchPattern("server/get/hit", "server/get/hit2"));
  EXPECT_TRUE(MatchPattern("server/*/hit", "server/get/hit"));
  EXPECT_FALSE(MatchPattern("server/*", "server/get/hit"));
  EXPECT_TRUE(MatchPattern("server/**", "server/get/hit"));
  EXPECT_TRUE(MatchPattern("**/hit-*", "server/get/hit-echoes"));
  EXPECT_FALSE(MatchPattern("**/hit-*", "server/get/miss"));
  EXPECT_TRUE(MatchPattern("server/get/*", "server/get/x"));
  EXPECT_FALSE(MatchPattern("server/get/*", "server/get/x/y"));
  EXPECT_TRUE(MatchPattern("**", "a/b/c"));
  EXPECT_FALSE(MatchPattern("client/**", "server/get"));
}

Case Passing(std::string id) {
  return Case{{std::move(id), "c", Level::kMust, "t"}, "", [](CaseEnv&) {}};
}
Case Failing(std::string id, std::string msg) {
  return Case{{std::move(id), "c", Level::kMust, "t"}, "", [msg](CaseEnv&) { Fail(msg, Evidence{"a", "bc", "bd"}); }};
}

TEST(RunCases, ClassifiesAgainstKnownFailures) {
  std::vector<Case> cases{Passing("a/pass"), Failing("a/fail", "boom: x"), Failing("a/other", "bang"),
                          Passing("a/listed-but-passes"), Case{{"a/na", "c", Level::kShould, "t"}, "no LIST", {}}};
  RunOptions o;
  o.known_failing = {{"a/fail", "boom", 1}, {"a/other", "boom", 2}, {"a/listed-*", "", 3}, {"a/gone", "", 4}};
  const RunReport r = RunCases(cases, o);
  ASSERT_EQ(r.results.size(), 5u);
  EXPECT_EQ(r.results[0].outcome, Outcome::kPassed);
  EXPECT_EQ(r.results[1].outcome, Outcome::kFailedAsExpected);
  EXPECT_EQ(r.results[2].outcome, Outcome::kFailed);  // wrong message
  EXPECT_NE(r.results[2].message.find("but failed with: bang"), std::string::npos);
  EXPECT_EQ(r.results[3].outcome, Outcome::kFailed);  // passes while listed
  EXPECT_EQ(r.results[4].outcome, Outcome::kSkipped);
  ASSERT_EQ(r.unmatched_known.size(), 1u);
  EXPECT_EQ(r.unmatched_known[0].pattern, "a/gone");
  EXPECT_FALSE(r.Clean());
  EXPECT_EQ(SummaryLine(r), "1 passed, 2 failed, 1 skipped, 1 failed as expected");
}

TEST(RunCases, RunAndSkipSelect) {
  std::vector<Case> cases{Passing("x/a/1"), Passing("x/b/1"), Passing("y/a/1")};
  RunOptions o;
  o.run = {"x/**"};
  o.skip = {"*/b/*"};
  const RunReport r = RunCases(cases, o);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].spec.id, "x/a/1");
  EXPECT_TRUE(r.partial);
  EXPECT_TRUE(r.Clean());
}

TEST(RunCases, FlakyFailureIsTolerated) {
  RunOptions o;
  o.known_flaky = {{"a/**", "", 1}};
  const RunReport r = RunCases({Failing("a/f", "sometimes")}, o);
  EXPECT_EQ(r.results[0].outcome, Outcome::kFailedAsExpected);
  EXPECT_TRUE(r.Clean());
}

TEST(RunCases, CaseDeadlineIsTheCaseTimeout) {
  RunOptions o;
  o.case_timeout = std::chrono::milliseconds(50);
  Deadline seen = Deadline::After(std::chrono::hours(1));
  Case c{{"a/d", "c", Level::kMust, "t"}, "", [&](CaseEnv& env) { seen = env.deadline; }};
  RunCases({c}, o);
  EXPECT_LE(seen.RemainingMs(), 50);
}

TEST(Reports, HexMarksTheFirstDifference) {
  EXPECT_EQ(FirstDifference("abc", "abd"), 2u);
  EXPECT_EQ(FirstDifference("ab", "abc"), 2u);
  EXPECT_EQ(FirstDifference("ab", "ab"), std::nullopt);
  EXPECT_EQ(HexWithMark("\x01\x02\x03", 1), "01[02]03");
  EXPECT_EQ(HexWithMark("\x01", 1), "01[<end>]");
}

// Cases that wait until `width` of them are inside at once: they pass only
// when the runner really runs that many together.
TEST(RunCases, JobsRunCasesTogetherAndReportInCatalogueOrder) {
  std::atomic<int> inside{0};
  std::vector<Case> cases;
  for (int i = 0; i < 8; ++i) {
    cases.push_back(Case{{"p/" + std::to_string(i), "c", Level::kMust, "t"}, "", [&inside, i](CaseEnv& env) {
                           ++inside;
                           while (inside.load() < 4 && !env.deadline.expired()) {
                             std::this_thread::sleep_for(std::chrono::milliseconds(1));
                           }
                           // Later cases end first.
                           std::this_thread::sleep_for(std::chrono::milliseconds(5 * (8 - i)));
                           if (env.deadline.expired()) Fail("ran without 3 others beside it");
                         }});
  }
  RunOptions o;
  o.jobs = 4;
  o.case_timeout = std::chrono::milliseconds(5000);
  const RunReport r = RunCases(cases, o);
  ASSERT_EQ(r.results.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(r.results[i].spec.id, "p/" + std::to_string(i));
    EXPECT_EQ(r.results[i].outcome, Outcome::kPassed) << r.results[i].message;
  }
}

TEST(RunCases, ExclusiveCasesRunAlone) {
  std::atomic<int> inside{0};
  std::atomic<int> seen_beside_exclusive{0};
  std::vector<Case> cases;
  for (int i = 0; i < 12; ++i) {
    const bool exclusive = i % 4 == 1;
    Case c{{"e/" + std::to_string(i), "c", Level::kMust, "t", exclusive}, "", nullptr};
    c.body = [&inside, &seen_beside_exclusive, exclusive](CaseEnv&) {
      const int now = ++inside;
      if (exclusive && now != 1) ++seen_beside_exclusive;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (exclusive && inside.load() != 1) ++seen_beside_exclusive;
      --inside;
    };
    cases.push_back(std::move(c));
  }
  RunOptions o;
  o.jobs = 6;
  const RunReport r = RunCases(cases, o);
  EXPECT_EQ(seen_beside_exclusive.load(), 0);
  EXPECT_EQ(r.Count(Outcome::kPassed), 12);
  for (std::size_t i = 0; i < r.results.size(); ++i) EXPECT_EQ(r.results[i].spec.id, "e/" + std::to_string(i));
}

// --max-failures cuts the report at the case that made the count, in
// catalogue order, however the parallel cases happened to end.
TEST(RunCases, MaxFailuresCutsTheReportDeterministically) {
  std::vector<Case> cases;
  for (int i = 0; i < 20; ++i) {
    const bool fails = i % 3 == 0;  // 0, 3, 6, ...
    cases.push_back(Case{{"m/" + std::to_string(i), "c", Level::kMust, "t"}, "", [fails, i](CaseEnv&) {
                           std::this_thread::sleep_for(std::chrono::milliseconds((i * 7) % 11));
                           if (fails) Fail("bad");
                         }});
  }
  RunOptions o;
  o.jobs = 5;
  o.max_failures = 2;
  std::string first;
  for (int round = 0; round < 5; ++round) {
    const RunReport r = RunCases(cases, o);
    ASSERT_EQ(r.results.size(), 20u);
    EXPECT_EQ(r.Count(Outcome::kFailed), 2);
    EXPECT_EQ(r.results[0].outcome, Outcome::kFailed);
    EXPECT_EQ(r.results[3].outcome, Outcome::kFailed);
    for (std::size_t i = 4; i < 20; ++i) {
      EXPECT_EQ(r.results[i].outcome, Outcome::kSkipped);
      EXPECT_EQ(r.results[i].message, "not run: --max-failures 2 reached");
    }
    EXPECT_TRUE(r.partial);
    std::string outcomes;
    for (const CaseResult& c : r.results) outcomes += std::string(OutcomeName(c.outcome)) + ",";
    if (round == 0) first = outcomes;
    EXPECT_EQ(outcomes, first);
  }
}

TEST(Reports, JsonAndJunitCarryEveryCase) {
  const RunReport r = RunCases({Passing("a/p"), Failing("a/f", "bad <&> \xff")}, RunOptions{});
  const auto j = nlohmann::json::parse(FormatJson(r));
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][1]["outcome"], "failed");
  EXPECT_EQ(j["results"][1]["evidence"]["first_difference"], 1);
  EXPECT_EQ(j["summary"]["line"], "1 passed, 1 failed, 0 skipped, 0 failed as expected");
  const std::string x = FormatJunit(r);
  EXPECT_NE(x.find("<failure message=\"bad &lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(x.find("tests=\"2\" failures=\"1\""), std::string::npos);
  EXPECT_NE(FormatHuman(r).find("\n1 passed, 1 failed, 0 skipped, 0 failed as expected\n"), std::string::npos);
  EXPECT_EQ(FormatKnownFailing(r).substr(FormatKnownFailing(r).rfind("a/f")), "a/f bad <&> \xff\n");
}

TEST(Profiles, BuiltinsAndParsing) {
  Profile p;
  ASSERT_TRUE(BuiltinProfile("lmcache-python", &p));
  EXPECT_EQ(p.server.list_answered, false);
  EXPECT_EQ(p.server.bad_key, Reaction::kDrop);
  std::string error;
  ASSERT_TRUE(ParseProfile(R"({"name":"mine","base":"reference","server":{"list":"ignored"}})", &p, &error)) << error;
  EXPECT_EQ(p.name, "mine");
  EXPECT_EQ(p.server.list_answered, false);
  EXPECT_EQ(p.server.bad_key, Reaction::kFailReply);  // from the base
  EXPECT_FALSE(ParseProfile(R"({"name":"x","server":{"lsit":"ignored"}})", &p, &error));
  EXPECT_NE(error.find("unknown key 'lsit'"), std::string::npos);
  EXPECT_FALSE(ParseProfile(R"({"name":"x","client":{"attempts":0}})", &p, &error));
  EXPECT_FALSE(ParseProfile("{", &p, &error));
  // Round trip of the JSON form.
  Profile q;
  ASSERT_TRUE(BuiltinProfile("reference", &q));
  Profile back;
  std::string json = ProfileToJson(q);
  json.insert(1, "\"base\":\"reference\",");
  ASSERT_TRUE(ParseProfile(json, &back, &error)) << error;
  EXPECT_EQ(ProfileToJson(back), ProfileToJson(q));
}

TEST(Profiles, LmcacheClientErasAndTheirSettings) {
  Profile v2, legacy, reference;
  ASSERT_TRUE(BuiltinProfile("lmcache-python", &v2));
  ASSERT_TRUE(BuiltinProfile("lmcache-python-legacy", &legacy));
  ASSERT_TRUE(BuiltinProfile("reference", &reference));
  EXPECT_EQ(reference.client.huge_reply_allocation, HugeReplyAllocation::kBounded);
  EXPECT_EQ(reference.client.key_length_unit, KeyLengthUnit::kBytes);
  EXPECT_EQ(v2.client.huge_reply_allocation, HugeReplyAllocation::kUpFront);
  EXPECT_EQ(v2.client.key_length_unit, KeyLengthUnit::kCharacters);
  EXPECT_EQ(v2.client.attempts, 3);
  EXPECT_TRUE(v2.client.reconnects);
  EXPECT_EQ(legacy.client.attempts, 1);
  EXPECT_FALSE(legacy.client.reconnects);
  EXPECT_FALSE(legacy.client.honours_deadline);
  EXPECT_TRUE(legacy.client.invalid_reply_is_miss);
  EXPECT_EQ(legacy.client.reply_header_read, ReplyHeaderRead::kSingleRecv);
  EXPECT_EQ(legacy.server.bad_key, v2.server.bad_key);  // the same server
  std::string error;
  Profile p;
  ASSERT_TRUE(ParseProfile(R"({"name":"m","base":"reference","client":{"huge_reply_allocation":"up_front",)"
                           R"("key_length_unit":"characters","reply_header_read":"single_recv","reconnects":false}})",
                           &p, &error))
      << error;
  EXPECT_EQ(p.client.huge_reply_allocation, HugeReplyAllocation::kUpFront);
  EXPECT_EQ(p.client.key_length_unit, KeyLengthUnit::kCharacters);
  EXPECT_EQ(p.client.reply_header_read, ReplyHeaderRead::kSingleRecv);
  EXPECT_FALSE(p.client.reconnects);
  EXPECT_FALSE(ParseProfile(R"({"name":"m","client":{"key_length_unit":"runes"}})", &p, &error));
  EXPECT_NE(error.find("\"bytes\", \"characters\""), std::string::npos) << error;
  // Each built-in survives its JSON form.
  for (const Profile* q : {&v2, &legacy}) {
    std::string json = ProfileToJson(*q);
    json.insert(1, "\"base\":\"reference\",");
    Profile back;
    ASSERT_TRUE(ParseProfile(json, &back, &error)) << error;
    EXPECT_EQ(ProfileToJson(back), ProfileToJson(*q));
  }
}

}  // namespace
}  // namespace lmc::conformance
