#include "conformance/wire_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "conformance/conn.h"
#include "wire/headers.h"

namespace lmc::conformance {

// --- pcap ---------------------------------------------------------------

pcap::TcpCapture CaptureRun(const RunReport& report) {
  pcap::TcpCapture cap;
  std::uint32_t next = 0;
  for (const CaseResult& r : report.results) {
    for (const WireConn& c : r.wire) {
      const auto port = static_cast<std::uint16_t>(kFirstClientPort + next++ % (65536U - kFirstClientPort));
      const int k = cap.Open({pcap::Ipv4(127, 0, 0, 1), port}, kCaptureServer, c.opened_us);
      for (const WireEvent& e : c.events) {
        // The runner is the client when it opened the connection.
        const bool from_client = e.from_runner == c.runner_opened;
        const pcap::Side side = from_client ? pcap::Side::kClient : pcap::Side::kServer;
        switch (e.kind) {
          case WireEvent::Kind::kData: cap.Data(k, side, e.bytes, e.t_us); break;
          case WireEvent::Kind::kFin: cap.Fin(k, side, e.t_us); break;
          case WireEvent::Kind::kReset: cap.Reset(k, side, e.t_us); break;
        }
      }
    }
  }
  return cap;
}

// --- Decoding a direction -----------------------------------------------

namespace {

std::int32_t I32(std::string_view b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return static_cast<std::int32_t>(v);
}

}  // namespace

std::vector<std::string> DescribeEvents(const std::vector<WireEvent>& events, bool from_runner, bool requests) {
  std::vector<std::string> out(events.size());
  const std::size_t header_bytes = requests ? wire::kRequestHeaderBytes : wire::kReplyHeaderBytes;
  std::string header;          // a header's bytes so far
  std::int64_t body_left = 0;  // bytes of the current body still to come
  for (std::size_t i = 0; i < events.size(); ++i) {
    const WireEvent& e = events[i];
    if (e.from_runner != from_runner || e.kind != WireEvent::Kind::kData) continue;
    std::string_view b = e.bytes;
    std::string notes;
    while (!b.empty()) {
      if (body_left > 0) {
        const auto n = static_cast<std::size_t>(std::min<std::int64_t>(body_left, static_cast<std::int64_t>(b.size())));
        body_left -= static_cast<std::int64_t>(n);
        b.remove_prefix(n);
        continue;
      }
      const std::size_t n = std::min(header_bytes - header.size(), b.size());
      header.append(b.substr(0, n));
      b.remove_prefix(n);
      if (header.size() < header_bytes) break;
      const std::int32_t first = I32(header, 0);
      const std::int32_t length = I32(header, 4);
      notes += (notes.empty() ? "" : "; ") + (requests ? DescribeRequest(header) : DescribeReply(header));
      // A PUT's payload, or a SUCCESS reply's body, follows its header.
      const bool has_body = requests ? first == 1 : first == 200;
      body_left = has_body && length > 0 ? length : 0;
      header.clear();
    }
    out[i] = std::move(notes);
  }
  return out;
}

// --- HTML ---------------------------------------------------------------

namespace {

constexpr std::size_t kEventsShown = 60;    // per connection
constexpr std::size_t kHexBytesShown = 64;  // per event

// HTML text: valid UTF-8 (messages quote peer bytes), escaped as for XML.
std::string Escape(std::string_view s) { return XmlEscape(ValidUtf8(s)); }

std::string Anchor(std::string_view id) {
  std::string a = "case-";
  for (const char c : id) a += (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-') ? c : '_';
  return a;
}

std::string_view StatusClass(Outcome o) {
  switch (o) {
    case Outcome::kPassed: return "pass";
    case Outcome::kFailed: return "fail";
    case Outcome::kSkipped: return "skip";
    case Outcome::kFailedAsExpected: return "xfail";
  }
  return "skip";
}

std::string Group(std::string_view id) {
  const auto slash = id.rfind('/');
  return std::string(slash == std::string_view::npos ? id : id.substr(0, slash));
}

// Hex with the byte at `mark` highlighted, as escaped HTML.
std::string HexHtml(std::string_view bytes, std::optional<std::size_t> mark, std::size_t max_bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::size_t begin = 0;
  if (mark && *mark >= max_bytes / 2 && bytes.size() > max_bytes) {
    begin = std::min(*mark - max_bytes / 2, bytes.size() - std::min(bytes.size(), max_bytes));
  }
  const std::size_t end = std::min(bytes.size(), begin + max_bytes);
  std::string out;
  if (begin > 0) out += "(" + std::to_string(begin) + " bytes) &hellip;";
  for (std::size_t i = begin; i < end; ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (mark && *mark == i) out += "<mark>";
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
    if (mark && *mark == i) out += "</mark>";
    if ((i - begin) % 4 == 3) out += ' ';
  }
  if (mark && *mark == bytes.size()) out += "<mark>&lt;end&gt;</mark>";
  if (end < bytes.size()) out += "&hellip; (" + std::to_string(bytes.size()) + " bytes in all)";
  if (bytes.empty()) out += "(none)";
  return out;
}

void WriteEvidence(std::ostringstream& o, const Evidence& e) {
  if (!e.has_bytes()) return;
  const auto at = FirstDifference(e.expected, e.actual);
  o << "<table class=\"hex\">";
  if (!e.sent.empty()) o << "<tr><th>sent</th><td>" << HexHtml(e.sent, std::nullopt, 256) << "</td></tr>";
  if (!e.expected.empty() || !e.actual.empty()) {
    o << "<tr><th>expected</th><td>" << HexHtml(e.expected, at, 256) << "</td></tr>";
    o << "<tr><th>actual</th><td>" << HexHtml(e.actual, at, 256) << "</td></tr>";
    if (at) o << "<tr><th></th><td>first difference at byte " << *at << "</td></tr>";
  }
  o << "</table>";
}

void WriteWire(std::ostringstream& o, const CaseResult& r) {
  if (r.wire.empty()) return;
  std::int64_t t0 = r.wire.front().opened_us;
  for (const WireConn& c : r.wire) t0 = std::min(t0, c.opened_us);
  o << "<div class=\"wire\"><h4>Wire log</h4>";
  for (const WireConn& c : r.wire) {
    // The connection's client sends requests: the runner in server mode.
    const std::vector<std::string> from_runner = DescribeEvents(c.events, true, c.runner_opened);
    const std::vector<std::string> from_peer = DescribeEvents(c.events, false, !c.runner_opened);
    char opened[64];
    std::snprintf(opened, sizeof opened, "%.3f", static_cast<double>(c.opened_us - t0) / 1000.0);
    o << "<table class=\"log\"><caption>connection " << Escape(c.label) << " ("
      << (c.runner_opened ? "the runner connected" : "the client under test connected") << " at " << opened
      << " ms)</caption><tr><th>ms</th><th>dir</th><th>bytes</th><th>decoded</th><th>hex</th></tr>";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < c.events.size(); ++i) {
      if (shown++ == kEventsShown) {
        o << "<tr><td colspan=\"5\">&hellip; " << (c.events.size() - kEventsShown) << " more events</td></tr>";
        break;
      }
      const WireEvent& e = c.events[i];
      char t[64];
      std::snprintf(t, sizeof t, "%.3f", static_cast<double>(e.t_us - t0) / 1000.0);
      const bool from_client = e.from_runner == c.runner_opened;
      o << "<tr class=\"" << (from_client ? "c2s" : "s2c") << "\"><td>" << t << "</td><td>"
        << (from_client ? "client &rarr; server" : "server &rarr; client") << "</td>";
      switch (e.kind) {
        case WireEvent::Kind::kData:
          o << "<td>" << e.bytes.size() << "</td><td>" << Escape(e.from_runner ? from_runner[i] : from_peer[i])
            << "</td><td class=\"hexcell\">" << HexHtml(e.bytes, std::nullopt, kHexBytesShown) << "</td>";
          break;
        case WireEvent::Kind::kFin: o << "<td></td><td>FIN: no more bytes this way</td><td></td>"; break;
        case WireEvent::Kind::kReset: o << "<td></td><td>RST: connection reset</td><td></td>"; break;
      }
      o << "</tr>";
    }
    o << "</table>";
  }
  o << "</div>";
}

constexpr std::string_view kStyle = R"(
body{font:14px/1.4 sans-serif;margin:1.5em;color:#111;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}
.meta{color:#444;margin-bottom:1em}
.counts{display:flex;gap:.8em;margin:1em 0}
.count{padding:.5em 1em;border-radius:4px;color:#fff;font-weight:bold;font-size:1.1em}
.count.pass{background:#2e7d32}.count.fail{background:#c62828}.count.skip{background:#757575}.count.xfail{background:#ef6c00}
.matrix td{padding:2px 6px;vertical-align:top}
.matrix a{display:inline-block;width:14px;height:14px;margin:1px;border-radius:2px}
a.pass,span.pass{background:#4caf50}a.fail,span.fail{background:#e53935}a.skip,span.skip{background:#bdbdbd}a.xfail,span.xfail{background:#fb8c00}
.badge{color:#fff;padding:1px 6px;border-radius:3px;font-size:.85em}
section{margin-top:1.5em}
details.case{border-left:4px solid #bdbdbd;margin:.3em 0;padding:.2em .6em;background:#fafafa}
details.case.pass{border-color:#4caf50}details.case.fail{border-color:#e53935;background:#fff5f5}
details.case.xfail{border-color:#fb8c00}
summary{cursor:pointer}
.id{font-family:monospace}
.clause{color:#555;font-size:.9em}
.hex td,.hexcell{font-family:monospace;word-break:break-all}
mark{background:#ffeb3b;font-weight:bold}
table.log{border-collapse:collapse;margin:.5em 0;font-size:.9em;width:100%}
table.log caption{text-align:left;font-weight:bold}
table.log td,table.log th{border:1px solid #ddd;padding:1px 4px;vertical-align:top;text-align:left}
tr.c2s{background:#e3f2fd}tr.s2c{background:#fce4ec}
.hex th{text-align:left;padding-right:1em}
)";

}  // namespace

std::string FormatHtml(const RunReport& report) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lmcache-conformance: "
    << Escape(report.mode) << " " << Escape(report.target) << "</title><style>" << kStyle << "</style></head><body>\n";
  o << "<h1>lmcache-conformance " << kRunnerVersion << ": " << Escape(report.mode) << " mode</h1>\n";
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", report.seconds);
  o << "<div class=\"meta\">target <code>" << Escape(report.target) << "</code>, profile <code>"
    << Escape(report.profile) << "</code>, protocol " << Escape(kProtocolRevision) << ", " << report.results.size()
    << " cases in " << seconds << " s" << (report.partial ? " (a partial run)" : "") << "</div>\n";
  o << "<div class=\"counts\">";
  const std::pair<Outcome, std::string_view> kinds[] = {{Outcome::kPassed, "passed"},
                                                        {Outcome::kFailed, "failed"},
                                                        {Outcome::kSkipped, "skipped"},
                                                        {Outcome::kFailedAsExpected, "failed as expected"}};
  for (const auto& [outcome, name] : kinds) {
    o << "<div class=\"count " << StatusClass(outcome) << "\" id=\"count-" << StatusClass(outcome) << "\">"
      << report.Count(outcome) << " " << name << "</div>";
  }
  o << "</div>\n<p>" << Escape(SummaryLine(report)) << "</p>\n";
  for (const KnownFailure& k : report.unmatched_known) {
    o << "<p class=\"fail\">Stale known-failing entry (line " << k.line << "): <code>" << Escape(k.pattern)
      << "</code> matches no failing case.</p>\n";
  }
  // The matrix: a row per group, a square per case.
  std::vector<std::string> groups;
  std::map<std::string, std::vector<const CaseResult*>> by_group;
  for (const CaseResult& r : report.results) {
    const std::string g = Group(r.spec.id);
    if (by_group.find(g) == by_group.end()) groups.push_back(g);
    by_group[g].push_back(&r);
  }
  o << "<h2>Status matrix</h2><table class=\"matrix\">";
  for (const std::string& g : groups) {
    o << "<tr><td class=\"id\">" << Escape(g) << "</td><td>";
    for (const CaseResult* r : by_group[g]) {
      o << "<a class=\"" << StatusClass(r->outcome) << "\" href=\"#" << Anchor(r->spec.id) << "\" title=\""
        << Escape(r->spec.id) << ": " << OutcomeName(r->outcome) << "\"></a>";
    }
    o << "</td></tr>";
  }
  o << "</table>\n";
  for (const std::string& g : groups) {
    const auto& cases = by_group[g];
    const auto failed =
        std::count_if(cases.begin(), cases.end(), [](const CaseResult* r) { return r->outcome == Outcome::kFailed; });
    o << "<section><h2 class=\"id\">" << Escape(g) << " <small>(" << cases.size() << " cases"
      << (failed > 0 ? ", " + std::to_string(failed) + " failed" : "") << ")</small></h2>\n";
    for (const CaseResult* r : cases) {
      const std::string_view status = StatusClass(r->outcome);
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.3f", r->seconds);
      o << "<details class=\"case " << status << "\" id=\"" << Anchor(r->spec.id) << "\""
        << (r->outcome == Outcome::kFailed ? " open" : "") << "><summary><span class=\"badge " << status << "\">"
        << OutcomeName(r->outcome) << "</span> <span class=\"id\">" << Escape(r->spec.id)
        << "</span> <span class=\"clause\">[" << LevelName(r->spec.level) << ", " << Escape(r->spec.clause) << "] "
        << secs << " s</span></summary>\n";
      o << "<p><b>Expected</b> (the requirement): " << Escape(r->spec.title)
        << (r->spec.exclusive ? " <i>(runs alone)</i>" : "") << "</p>";
      o << "<p><b>Observed:</b> " << (r->outcome == Outcome::kPassed ? std::string("as required") : Escape(r->message))
        << "</p>";
      WriteEvidence(o, r->evidence);
      WriteWire(o, *r);
      o << "</details>\n";
    }
    o << "</section>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace lmc::conformance
