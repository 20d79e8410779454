#include "pcap/pcap.h"

#include <algorithm>
#include <numeric>

namespace lmc::pcap {

namespace {

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kRst = 0x04;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;
constexpr std::size_t kIpHeaderBytes = 20;
constexpr std::size_t kTcpHeaderBytes = 20;

void Be16(std::string* out, std::size_t at, std::uint16_t v) {
  (*out)[at] = static_cast<char>(v >> 8);
  (*out)[at + 1] = static_cast<char>(v & 0xff);
}
void Be32(std::string* out, std::size_t at, std::uint32_t v) {
  Be16(out, at, static_cast<std::uint16_t>(v >> 16));
  Be16(out, at + 2, static_cast<std::uint16_t>(v & 0xffff));
}
void Le32(std::string* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Le16(std::string* out, std::uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

// The Internet checksum's running sum over big-endian 16-bit words.
std::uint32_t Sum(std::string_view b, std::uint32_t sum = 0) {
  std::size_t i = 0;
  for (; i + 1 < b.size(); i += 2) {
    sum += (std::uint32_t{static_cast<unsigned char>(b[i])} << 8) | static_cast<unsigned char>(b[i + 1]);
  }
  if (i < b.size()) sum += std::uint32_t{static_cast<unsigned char>(b[i])} << 8;
  return sum;
}
std::uint16_t Fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

// A deterministic initial sequence number per connection and side.
std::uint32_t InitialSeq(std::size_t conn, int side) {
  return static_cast<std::uint32_t>(0x10000000U * static_cast<std::uint32_t>(side + 1) +
                                    static_cast<std::uint32_t>(conn) * 0x00100000U);
}

}  // namespace

int TcpCapture::Open(Endpoint client, Endpoint server, std::int64_t t_us) {
  Conn c;
  c.ends[0] = client;
  c.ends[1] = server;
  c.dirs[0].next_seq = InitialSeq(conns_.size(), 0);
  c.dirs[1].next_seq = InitialSeq(conns_.size(), 1);
  conns_.push_back(c);
  Conn& k = conns_.back();
  // The handshake: SYN, SYN-ACK, ACK; each SYN takes one sequence number.
  Segment(k, 0, kSyn, {}, t_us);
  ++k.dirs[0].next_seq;
  Segment(k, 1, kSyn | kAck, {}, t_us);
  ++k.dirs[1].next_seq;
  Segment(k, 0, kAck, {}, t_us);
  return static_cast<int>(conns_.size()) - 1;
}

void TcpCapture::Data(int conn, Side from, std::string_view bytes, std::int64_t t_us) {
  if (conn < 0 || static_cast<std::size_t>(conn) >= conns_.size()) return;
  Conn& c = conns_[static_cast<std::size_t>(conn)];
  const int side = from == Side::kClient ? 0 : 1;
  if (c.reset || c.dirs[side].fin) return;
  while (!bytes.empty()) {
    const std::string_view piece = bytes.substr(0, kMaxSegmentBytes);
    Segment(c, side, kPsh | kAck, piece, t_us);
    c.dirs[side].next_seq += static_cast<std::uint32_t>(piece.size());
    bytes.remove_prefix(piece.size());
  }
}

void TcpCapture::Fin(int conn, Side from, std::int64_t t_us) {
  if (conn < 0 || static_cast<std::size_t>(conn) >= conns_.size()) return;
  Conn& c = conns_[static_cast<std::size_t>(conn)];
  const int side = from == Side::kClient ? 0 : 1;
  if (c.reset || c.dirs[side].fin) return;
  Segment(c, side, kFin | kAck, {}, t_us);
  ++c.dirs[side].next_seq;
  c.dirs[side].fin = true;
  Segment(c, 1 - side, kAck, {}, t_us);
}

void TcpCapture::Reset(int conn, Side from, std::int64_t t_us) {
  if (conn < 0 || static_cast<std::size_t>(conn) >= conns_.size()) return;
  Conn& c = conns_[static_cast<std::size_t>(conn)];
  if (c.reset) return;
  Segment(c, from == Side::kClient ? 0 : 1, kRst | kAck, {}, t_us);
  c.reset = true;
}

void TcpCapture::Segment(Conn& c, int from, std::uint8_t flags, std::string_view payload, std::int64_t t_us) {
  const Endpoint& src = c.ends[from];
  const Endpoint& dst = c.ends[1 - from];
  const std::size_t total = kIpHeaderBytes + kTcpHeaderBytes + payload.size();
  std::string p(kIpHeaderBytes + kTcpHeaderBytes, '\0');
  // IPv4: version 4, IHL 5; total length; id; don't fragment; TTL 64; TCP.
  p[0] = 0x45;
  Be16(&p, 2, static_cast<std::uint16_t>(total));
  Be16(&p, 4, ip_id_++);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 6;
  Be32(&p, 12, src.ip);
  Be32(&p, 16, dst.ip);
  Be16(&p, 10, Fold(Sum(std::string_view(p).substr(0, kIpHeaderBytes))));
  // TCP: ports, sequence, acknowledgement (the peer's next byte), header
  // length 5 words, flags, window.
  const std::size_t t = kIpHeaderBytes;
  Be16(&p, t, src.port);
  Be16(&p, t + 2, dst.port);
  Be32(&p, t + 4, c.dirs[from].next_seq);
  const bool acks = (flags & kAck) != 0;
  Be32(&p, t + 8, acks ? c.dirs[1 - from].next_seq : 0);
  p[t + 12] = 0x50;
  p[t + 13] = static_cast<char>(flags);
  Be16(&p, t + 14, 0xffff);
  p.append(payload);
  // The checksum over the pseudo-header (addresses, protocol, TCP length),
  // the TCP header and the payload.
  std::string pseudo(12, '\0');
  Be32(&pseudo, 0, src.ip);
  Be32(&pseudo, 4, dst.ip);
  pseudo[9] = 6;
  Be16(&pseudo, 10, static_cast<std::uint16_t>(kTcpHeaderBytes + payload.size()));
  Be16(&p, t + 16, Fold(Sum(std::string_view(p).substr(t), Sum(pseudo))));
  packets_.push_back(Packet{t_us, std::move(p)});
}

std::string TcpCapture::Bytes() const {
  std::string out;
  // The global header: magic (microsecond timestamps), version 2.4, zone
  // and accuracy 0, snap length, link type.
  Le32(&out, 0xa1b2c3d4U);
  Le16(&out, 2);
  Le16(&out, 4);
  Le32(&out, 0);
  Le32(&out, 0);
  Le32(&out, 262144);
  Le32(&out, kLinkTypeRawIp);
  std::vector<std::size_t> order(packets_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [this](std::size_t a, std::size_t b) { return packets_[a].t_us < packets_[b].t_us; });
  for (const std::size_t i : order) {
    const Packet& k = packets_[i];
    const std::int64_t t = std::max<std::int64_t>(k.t_us, 0);
    Le32(&out, static_cast<std::uint32_t>(t / 1000000));
    Le32(&out, static_cast<std::uint32_t>(t % 1000000));
    Le32(&out, static_cast<std::uint32_t>(k.bytes.size()));
    Le32(&out, static_cast<std::uint32_t>(k.bytes.size()));
    out += k.bytes;
  }
  return out;
}

}  // namespace lmc::pcap
