// Synthesized TCP captures: byte streams written as a classic pcap file
// (link type 101, raw IPv4) that Wireshark and tshark open, reassemble and
// follow like a real capture. The conformance runner writes its connections
// with it (--pcap) and the simulator its network (lmcache-sim --pcap).
//
// Nothing is captured from a real interface: each connection is given an
// address pair, a three-way handshake when it opens, sequence and
// acknowledgement numbers from the byte counts of each direction, a FIN for
// each direction that closes and an RST for a reset. Each data event becomes
// one or more segments (at most kMaxSegmentBytes each), each acknowledged by
// the next segment the peer sends. Timestamps are the caller's, in
// microseconds; the file lists packets in time order (equal times keep the
// order they were added in), so events may be added per connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::pcap {

inline constexpr std::uint32_t kLinkTypeRawIp = 101;
inline constexpr std::size_t kMaxSegmentBytes = 65000;  // IPv4's total length caps a packet at 65535

// An IPv4 address (host order) and a port.
struct Endpoint {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
};
// 127.0.0.1 is Ipv4(127, 0, 0, 1).
constexpr std::uint32_t Ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

enum class Side : std::uint8_t { kClient, kServer };

class TcpCapture {
 public:
  // A connection from `client` to `server`, established at `t_us`: SYN,
  // SYN-ACK and ACK. Returns its handle for the calls below.
  int Open(Endpoint client, Endpoint server, std::int64_t t_us);
  // Bytes `from` one side.
  void Data(int conn, Side from, std::string_view bytes, std::int64_t t_us);
  // One side closes its sending direction: FIN, and the peer's ACK.
  void Fin(int conn, Side from, std::int64_t t_us);
  // One side resets the connection: RST. Nothing is written for it after.
  void Reset(int conn, Side from, std::int64_t t_us);

  std::size_t packet_count() const { return packets_.size(); }
  std::size_t connection_count() const { return conns_.size(); }
  // The whole file (the caller writes it: impl/ does no file I/O of its
  // own, docs/ARCHITECTURE.md).
  std::string Bytes() const;

 private:
  struct Direction {
    std::uint32_t next_seq = 0;  // the sequence number of the next byte sent
    bool fin = false;
  };
  struct Conn {
    Endpoint ends[2];  // client, server
    Direction dirs[2];
    bool reset = false;
  };
  struct Packet {
    std::int64_t t_us = 0;
    std::string bytes;  // IPv4 header, TCP header, payload
  };
  // One segment from side `from` of `c` with `flags` and `payload`.
  void Segment(Conn& c, int from, std::uint8_t flags, std::string_view payload, std::int64_t t_us);
  std::vector<Conn> conns_;
  std::vector<Packet> packets_;
  std::uint16_t ip_id_ = 1;
};

}  // namespace lmc::pcap
