// The pcap writer: file layout, handshake, sequence numbers from byte
// counts, segment limits, checksums and time order. tshark reassembling the
// streams is checked in conformance/wireshark/ (it needs tshark).
#include "pcap/pcap.h"

#include <gtest/gtest.h>

namespace lmc::pcap {
namespace {

std::uint32_t Le32(std::string_view b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return v;
}
std::uint32_t Be16(std::string_view b, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(b[at])} << 8) | static_cast<unsigned char>(b[at + 1]);
}
std::uint32_t Be32(std::string_view b, std::size_t at) { return (Be16(b, at) << 16) | Be16(b, at + 2); }

// The one's-complement sum of a header with its checksum in place is 0xffff.
bool ChecksumOk(std::string_view b, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < b.size(); i += 2) {
    sum += i + 1 < b.size() ? Be16(b, i) : std::uint32_t{static_cast<unsigned char>(b[i])} << 8;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

struct Pkt {
  std::int64_t t_us;
  std::string ip;
  std::uint16_t sport() const { return static_cast<std::uint16_t>(Be16(ip, 20)); }
  std::uint32_t seq() const { return Be32(ip, 24); }
  std::uint32_t ack() const { return Be32(ip, 28); }
  std::uint8_t flags() const { return static_cast<std::uint8_t>(ip[33]); }
  std::string_view payload() const { return std::string_view(ip).substr(40); }
};

std::vector<Pkt> Parse(const std::string& file) {
  EXPECT_GE(file.size(), 24u);
  EXPECT_EQ(Le32(file, 0), 0xa1b2c3d4U);
  EXPECT_EQ(Le32(file, 20), kLinkTypeRawIp);
  std::vector<Pkt> out;
  std::size_t at = 24;
  while (at + 16 <= file.size()) {
    const std::uint32_t len = Le32(file, at + 8);
    EXPECT_EQ(len, Le32(file, at + 12));
    Pkt p{std::int64_t{Le32(file, at)} * 1000000 + Le32(file, at + 4), file.substr(at + 16, len)};
    EXPECT_EQ(Be16(p.ip, 2), len);  // IPv4 total length
    EXPECT_TRUE(ChecksumOk(std::string_view(p.ip).substr(0, 20)));
    std::string pseudo = p.ip.substr(12, 8);
    pseudo += std::string("\0\x06", 2);
    pseudo += static_cast<char>((len - 20) >> 8);
    pseudo += static_cast<char>((len - 20) & 0xff);
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < pseudo.size(); i += 2) sum += Be16(pseudo, i);
    EXPECT_TRUE(ChecksumOk(std::string_view(p.ip).substr(20), sum));
    out.push_back(std::move(p));
    at += 16 + len;
  }
  EXPECT_EQ(at, file.size());
  return out;
}

TEST(TcpCapture, HandshakeDataFinWithSequenceNumbersFromByteCounts) {
  TcpCapture cap;
  const Endpoint client{Ipv4(127, 0, 0, 1), 40000};
  const Endpoint server{Ipv4(127, 0, 0, 2), 65432};
  const int c = cap.Open(client, server, 1'000'000);
  cap.Data(c, Side::kClient, std::string(186, 'q'), 1'000'010);
  cap.Data(c, Side::kServer, std::string(36, 'r'), 1'000'020);
  cap.Fin(c, Side::kClient, 1'000'030);
  cap.Fin(c, Side::kServer, 1'000'040);
  const auto p = Parse(cap.Bytes());
  ASSERT_EQ(p.size(), 9u);  // 3 handshake, 2 data, 2 x (FIN + ACK)
  EXPECT_EQ(p[0].flags(), 0x02);
  EXPECT_EQ(p[1].flags(), 0x12);
  EXPECT_EQ(p[1].ack(), p[0].seq() + 1);
  EXPECT_EQ(p[2].flags(), 0x10);
  EXPECT_EQ(p[3].payload().size(), 186u);
  EXPECT_EQ(p[3].seq(), p[0].seq() + 1);
  EXPECT_EQ(p[3].sport(), 40000);
  EXPECT_EQ(p[4].payload(), std::string(36, 'r'));
  EXPECT_EQ(p[4].ack(), p[0].seq() + 1 + 186);  // acknowledges the request
  EXPECT_EQ(p[5].flags(), 0x11);                // FIN+ACK
  EXPECT_EQ(p[5].seq(), p[0].seq() + 1 + 186);
  EXPECT_EQ(p[6].ack(), p[5].seq() + 1);  // the FIN takes a sequence number
  EXPECT_EQ(p[5].t_us, 1'000'030);
}

TEST(TcpCapture, LargeDataIsSplitAndResetEndsTheConnection) {
  TcpCapture cap;
  const int c = cap.Open({Ipv4(127, 0, 0, 1), 1}, {Ipv4(127, 0, 0, 2), 2}, 0);
  const std::string big(kMaxSegmentBytes * 2 + 5, 'x');
  cap.Data(c, Side::kClient, big, 10);
  cap.Reset(c, Side::kServer, 20);
  cap.Data(c, Side::kClient, "after the reset", 30);  // dropped
  const auto p = Parse(cap.Bytes());
  ASSERT_EQ(p.size(), 3u + 3u + 1u);
  EXPECT_EQ(p[3].payload().size(), kMaxSegmentBytes);
  EXPECT_EQ(p[5].payload().size(), 5u);
  EXPECT_EQ(p[5].seq(), p[3].seq() + 2 * kMaxSegmentBytes);
  EXPECT_EQ(p[6].flags() & 0x04, 0x04);
}

TEST(TcpCapture, PacketsComeOutInTimeOrderAcrossConnections) {
  TcpCapture cap;
  const int a = cap.Open({Ipv4(127, 0, 0, 1), 1}, {Ipv4(127, 0, 0, 2), 9}, 100);
  cap.Data(a, Side::kClient, "late", 500);
  const int b = cap.Open({Ipv4(127, 0, 0, 1), 2}, {Ipv4(127, 0, 0, 2), 9}, 200);
  cap.Data(b, Side::kClient, "early", 300);
  const auto p = Parse(cap.Bytes());
  ASSERT_EQ(p.size(), 8u);
  for (std::size_t i = 1; i < p.size(); ++i) EXPECT_LE(p[i - 1].t_us, p[i].t_us);
  EXPECT_EQ(p[6].payload(), "early");
  EXPECT_EQ(p[7].payload(), "late");
  EXPECT_EQ(cap.connection_count(), 2u);
}

}  // namespace
}  // namespace lmc::pcap
