// The request log's framing: the lines a trace writes for byte streams cut
// at every point, and the exact line format client authors read.
#include "server/request_log.h"

#include <gtest/gtest.h>

#include <vector>

namespace lmc::server {
namespace {

std::vector<std::byte> Request(std::int32_t cmd, std::string_view key, std::int32_t length = 0,
                               std::string_view payload = {}) {
  wire::RequestView v;
  v.command = cmd;
  v.length = length;
  v.fmt = 1;
  v.dtype = 6;
  v.shape = {1, 1, 2, 8};
  v.key = key;
  std::vector<std::byte> out(wire::kRequestHeaderBytes);
  EXPECT_EQ(wire::EncodeRequest(v, std::span(out).first<wire::kRequestHeaderBytes>()), wire::WireError::kOk);
  for (const char c : payload) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::vector<std::byte> Reply(std::int32_t code, std::int32_t length, std::string_view body = {}) {
  wire::ReplyHeader h;
  h.code = code;
  h.length = length;
  h.fmt = 1;
  h.dtype = 6;
  h.shape = {1, 1, 2, 8};
  std::vector<std::byte> out(wire::kReplyHeaderBytes);
  wire::EncodeReply(h, std::span(out).first<wire::kReplyHeaderBytes>());
  for (const char c : body) out.push_back(static_cast<std::byte>(c));
  return out;
}

void Append(std::vector<std::byte>* to, const std::vector<std::byte>& more) {
  to->insert(to->end(), more.begin(), more.end());
}

struct Captured {
  std::vector<std::string> lines;
  std::shared_ptr<RequestLog> log = std::make_shared<RequestLog>([this](std::string_view l) { lines.emplace_back(l); });
};

TEST(RequestLog, LinesForPutGetExistInAnyChunking) {
  std::vector<std::byte> in = Request(1, "m@1@0@ded@uint8", 16, "0123456789abcdef");
  Append(&in, Request(2, "m@1@0@ded@uint8"));
  Append(&in, Request(3, "m@1@0@ded@uint8"));
  std::vector<std::byte> out = Reply(200, 16, "0123456789abcdef");
  Append(&out, Reply(200, 0));
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{186}, in.size()}) {
    Captured c;
    ConnectionTrace t(c.log, 3);
    for (std::size_t i = 0; i < in.size(); i += chunk) {
      t.OnReceived(std::span(in).subspan(i, std::min(chunk, in.size() - i)));
    }
    // The reply stream as two spans (header, body...), written in pieces.
    const std::span<const std::byte> all(out);
    for (std::size_t i = 0; i < all.size(); i += chunk) {
      const std::array<std::span<const std::byte>, 2> spans{all.subspan(i), {}};
      t.OnSent(spans, std::min(chunk, all.size() - i));
    }
    t.OnReadEnd({});
    t.OnClose("done");
    t.OnClose("twice");  // logged once
    ASSERT_EQ(c.lines.size(), 8u) << chunk;
    EXPECT_EQ(c.lines[0], "conn=3 open");
    EXPECT_EQ(c.lines[1].rfind("conn=3 recv PUT length=16 fmt=1 dtype=6 location=0 shape=[1,1,2,8] "
                               "key=\"m@1@0@ded@uint8\" hex=01000000100000000100000006000000",
                               0),
              0u)
        << c.lines[1];
    EXPECT_EQ(c.lines[2].rfind("conn=3 recv GET length=0 ", 0), 0u);
    EXPECT_EQ(c.lines[3].rfind("conn=3 recv EXIST length=0 ", 0), 0u);
    EXPECT_EQ(c.lines[4],
              "conn=3 send reply-to=GET code=200 length=16 fmt=1 dtype=6 shape=[1,1,2,8] location=0 "
              "hex=c80000001000000001000000060000000100000001000000020000000800000000000000");
    EXPECT_EQ(c.lines[5].rfind("conn=3 send reply-to=EXIST code=200 length=0 ", 0), 0u);
    EXPECT_EQ(c.lines[6], "conn=3 recv eof");
    EXPECT_EQ(c.lines[7], "conn=3 close: done");
  }
}

TEST(RequestLog, HexIsTheWholeHeader) {
  const std::vector<std::byte> in = Request(5, "@0@0@0@half");
  const std::string line = DescribeRequestHeader(std::span(in).first<wire::kRequestHeaderBytes>());
  const std::string hex = line.substr(line.find("hex=") + 4);
  EXPECT_EQ(hex.size(), 2 * wire::kRequestHeaderBytes);
  EXPECT_EQ(hex.substr(72, 22), "4030403040304068616c66");
}

TEST(RequestLog, TruncatedPutAndHeaderAreExplained) {
  {
    Captured c;
    ConnectionTrace t(c.log, 1);
    const std::vector<std::byte> in = Request(1, "m@1@0@1@uint8", 100, "abc");
    t.OnReceived(in);
    t.OnReadEnd({});
    EXPECT_EQ(c.lines.back(), "conn=1 recv eof inside a PUT payload: 3 of 100 bytes arrived; nothing is stored");
  }
  {
    Captured c;
    ConnectionTrace t(c.log, 1);
    const std::vector<std::byte> in = Request(2, "m@1@0@1@uint8");
    t.OnReceived(std::span(in).first(5));
    t.OnReadEnd("reset");
    EXPECT_EQ(c.lines.back(),
              "conn=1 recv error reset inside a request header: 5 of 186 bytes arrived, hex=0200000000");
  }
}

TEST(RequestLog, UnknownCommandStopsTheTraceAsTheSessionStopsReading) {
  Captured c;
  ConnectionTrace t(c.log, 2);
  std::vector<std::byte> in = Request(9, "m@1@0@1@uint8");
  Append(&in, Request(2, "m@1@0@1@uint8"));
  t.OnReceived(in);
  t.OnReadEnd({});
  ASSERT_EQ(c.lines.size(), 3u);
  EXPECT_NE(c.lines[1].find("recv command=9 "), std::string::npos);
  EXPECT_NE(c.lines[1].find("(unknown command: the connection closes)"), std::string::npos);
  EXPECT_EQ(c.lines[2], "conn=2 recv eof (186 bytes after the last request ignored)");
}

TEST(RequestLog, KeyThatIsNotUtf8IsShownRaw) {
  std::vector<std::byte> in = Request(3, "m@1@0@1@uint8");
  in[wire::kRequestIntCount * 4 + 1] = std::byte{0xff};
  const std::string line = DescribeRequestHeader(std::span(in).first<wire::kRequestHeaderBytes>());
  EXPECT_NE(line.find("key=<not UTF-8> raw=\"m\\xff1@0@1@uint8\""), std::string::npos) << line;
}

}  // namespace
}  // namespace lmc::server
