// The reports that show a run's bytes: a pcap file of every connection
// (--pcap) and a self-contained HTML report (--html). Both read the
// connections the runner recorded (RunOptions::keep_wire).
#pragma once

#include <string>
#include <vector>

#include "conformance/runner.h"
#include "pcap/pcap.h"

namespace lmc::conformance {

// The lm:// server's address in the capture, whichever side of the run it
// was (the target in server mode, the runner in client mode): 127.0.0.2 on
// the port LMCache's docs use, which the kit's Wireshark dissector decodes
// by default. Clients are 127.0.0.1, one port each from kFirstClientPort.
inline constexpr pcap::Endpoint kCaptureServer{pcap::Ipv4(127, 0, 0, 2), 65432};
inline constexpr std::uint16_t kFirstClientPort = 20000;

// Every connection of every case in catalogue order, each its own TCP
// stream with a distinct client port, at the times it happened.
pcap::TcpCapture CaptureRun(const RunReport& report);

// What a wire event carries, decoded per direction: for each event, the
// request or reply headers that end in it ("GET key='m@1@0@a@half'").
// `requests`: the direction carries requests (it is from the connection's
// client).
std::vector<std::string> DescribeEvents(const std::vector<WireEvent>& events, bool from_runner, bool requests);

// One HTML page, no scripts and no outside assets: the summary counts, a
// status matrix, then each case grouped as in the catalogue with its
// requirement, expected and observed outcome, the hex of the first
// difference, and the wire log of both directions with timestamps.
std::string FormatHtml(const RunReport& report);

}  // namespace lmc::conformance
