#include "wirejson/wire_json.h"

#include <gtest/gtest.h>

#include <sstream>

#include "base/version.h"

namespace lmc::wirejson {
namespace {

std::string RunTool(std::vector<std::string_view> args, const std::string& input, int* status) {
  std::istringstream in(input);
  std::ostringstream out, err;
  *status = RunWireTool(args, in, out, err);
  return out.str();
}

TEST(WireTool, EncodesClientExactlyAsTheSpecShows) {
  int status = -1;
  const std::string out = RunTool({"encode", "client"},
                                  R"({"command":1,"length":8192,"fmt":1,"dtype":3,"location":0,)"
                                  R"("shape":[2,32,256,1024],"key":"test_model@3@1@0@bfloat16"})"
                                  "\n",
                                  &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out.substr(0, 72), "010000000020000001000000030000000000000002000000200000000001000000040000");
  EXPECT_EQ(out.size(), 186u * 2 + 1);
}

TEST(WireTool, DecodeOutputIsCompactAndOrdered) {
  int status = -1;
  EXPECT_EQ(RunTool({"decode", "server"}, "C80000000020000001000000030000000200000020000000000100000004000000000000\n",
                    &status),
            R"({"code":200,"length":8192,"fmt":1,"dtype":3,"shape":[2,32,256,1024],"location":0})"
            "\n");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(RunTool({"decode", "key"}, "m@1@0@0x3039@bfloat16@7@user%alice\n", &status),
            R"({"model":"m","world_size":1,"worker_id":0,"chunk_hash":"3039","dtype":"bfloat16",)"
            R"("layer_id":7,"tags":[["user","alice"]]})"
            "\n");
  EXPECT_EQ(RunTool({"decode", "metadata"}, "14000000050000000000000014000000000000000000000000000000", &status),
            R"({"length":20,"fmt":5,"groups":[{"dtype":0,"shape":[20,0,0,0]}]})"
            "\n");
  EXPECT_EQ(status, 0);
}

TEST(WireTool, ErrorLinesKeepOrderAndSetStatus) {
  int status = -1;
  const std::string out = RunTool({"decode", "server"},
                                  "zz\n"
                                  "900100000000000001000000020000000000000000000000000000000000000000000000\n"
                                  "\n"
                                  "90010000",
                                  &status);
  EXPECT_EQ(status, 1);
  std::istringstream lines(out);
  std::string l1, l2, l3, l4, extra;
  std::getline(lines, l1);
  std::getline(lines, l2);
  std::getline(lines, l3);
  std::getline(lines, l4);
  EXPECT_EQ(l1, "error: invalid hex");
  EXPECT_EQ(l2.rfind("{\"code\":400", 0), 0u);
  EXPECT_EQ(l3, "error: short input");
  EXPECT_EQ(l4, "error: short input");
  EXPECT_FALSE(std::getline(lines, extra));
}

TEST(WireTool, EncodeRejectsOutOfRangeAndWrongTypes) {
  int status = -1;
  const std::string out =
      RunTool({"encode", "server"},
              R"({"code":200,"length":4294967296,"fmt":1,"dtype":2,"shape":[0,0,0,0],"location":0})"
              "\n"
              R"({"code":200,"length":1.0,"fmt":1,"dtype":2,"shape":[0,0,0,0],"location":0})"
              "\n"
              R"({"code":200,"length":0,"fmt":1,"dtype":2,"shape":[0,0,0],"location":0})"
              "\n"
              R"({"code":200,"length":0,"fmt":1,"dtype":2,"shape":[0,0,0,-2147483648],"location":0,"x":[{}]})"
              "\n"
              "not json\n",
              &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(out,
            "error: field \"length\" out of range\n"
            "error: field \"length\" is not an integer\n"
            "error: \"shape\" is not an array of 4 integers\n"
            "c80000000000000001000000020000000000000000000000000000000000008000000000\n"
            "error: invalid JSON\n");
}

TEST(WireTool, UsageErrorsExitTwo) {
  int status = -1;
  RunTool({"encode"}, "", &status);
  EXPECT_EQ(status, 2);
  RunTool({"frobnicate", "key"}, "", &status);
  EXPECT_EQ(status, 2);
  RunTool({"decode", "nothing"}, "", &status);
  EXPECT_EQ(status, 2);
  EXPECT_EQ(RunTool({"decode", "key"}, "", &status), "");
  EXPECT_EQ(status, 0);
}

TEST(WireTool, VersionAndHelpExitZero) {
  int status = -1;
  EXPECT_EQ(RunTool({"--version"}, "", &status),
            "lmcache-wire " + std::string(base::kKitVersion) + " (" + std::string(base::kProtocolRevision) + ")\n");
  EXPECT_EQ(status, 0);
  EXPECT_NE(RunTool({"--help"}, "", &status).find("Exit status: 0"), std::string::npos);
  EXPECT_EQ(status, 0);
  RunTool({"--version", "key"}, "", &status);
  EXPECT_EQ(status, 2);
}

TEST(WireTool, OverlongLinesAreRejectedNotBuffered) {
  int status = -1;
  const std::string out =
      RunTool({"decode", "key"}, std::string(kLineBytesMax + 10, 'a') + "\nm@1@0@1@half\n", &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(out.substr(0, out.find('\n')), "error: input line longer than 1 MiB");
  EXPECT_NE(out.find("\"chunk_hash\":\"1\""), std::string::npos);
}

}  // namespace
}  // namespace lmc::wirejson
