#include "conformance/runner.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace lmc::conformance {

std::string_view LevelName(Level l) { return l == Level::kMust ? "MUST" : "SHOULD"; }

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPassed: return "passed";
    case Outcome::kFailed: return "failed";
    case Outcome::kSkipped: return "skipped";
    case Outcome::kFailedAsExpected: return "failed as expected";
  }
  return "?";
}

void Fail(std::string message, Evidence evidence) { throw CaseFailure{std::move(message), std::move(evidence)}; }
void Skip(std::string reason) { throw CaseSkipped{std::move(reason)}; }

void Expect(bool ok, std::string_view message) {
  if (!ok) Fail(std::string(message));
}

void ExpectBytes(std::string_view what, std::string_view expected, std::string_view actual, std::string_view sent) {
  if (expected == actual) return;
  std::string message(what);
  if (const auto at = FirstDifference(expected, actual); at) {
    message += ": bytes differ at offset " + std::to_string(*at);
  }
  if (expected.size() != actual.size()) {
    message += " (expected " + std::to_string(expected.size()) + " bytes, got " + std::to_string(actual.size()) + ")";
  }
  Fail(std::move(message), Evidence{std::string(sent), std::string(expected), std::string(actual)});
}

int Deadline::RemainingMs(std::chrono::milliseconds cap) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now());
  return static_cast<int>(std::clamp(left, std::chrono::milliseconds(0), cap).count());
}

Deadline Deadline::Within(std::chrono::milliseconds d) const { return Deadline(std::min(at_, Clock::now() + d)); }

std::int64_t WireLog::NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int WireLog::Open(std::string label, bool runner_opened) {
  std::lock_guard lock(mu_);
  conns_.push_back(WireConn{std::move(label), runner_opened, NowUs(), {}});
  return static_cast<int>(conns_.size()) - 1;
}

void WireLog::Add(int conn, WireEvent::Kind kind, bool from_runner, std::string_view bytes) {
  if (kind == WireEvent::Kind::kData && bytes.empty()) return;
  const std::int64_t now = NowUs();
  std::lock_guard lock(mu_);
  if (conn < 0 || static_cast<std::size_t>(conn) >= conns_.size()) return;
  std::vector<WireEvent>& events = conns_[static_cast<std::size_t>(conn)].events;
  // A side that has closed or reset sends nothing more; keep the first end.
  for (const WireEvent& e : events) {
    if (e.kind == WireEvent::Kind::kReset) return;
    if (e.kind == WireEvent::Kind::kFin && e.from_runner == from_runner) return;
  }
  events.push_back(WireEvent{kind, from_runner, now, std::string(bytes)});
}

std::vector<WireConn> WireLog::Take() {
  std::lock_guard lock(mu_);
  return std::move(conns_);
}

// --- Patterns -----------------------------------------------------------

namespace {

// Backtracking glob over ids: '*' within a level, '**' across levels.
bool Match(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      p.remove_prefix(2);
      for (std::size_t i = 0; i <= s.size(); ++i) {
        if (Match(p, s.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      p.remove_prefix(1);
      for (std::size_t i = 0; i <= s.size(); ++i) {
        if (Match(p, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') return false;
      }
      return false;
    }
    if (s.empty() || s[0] != p[0]) return false;
    p.remove_prefix(1);
    s.remove_prefix(1);
  }
  return s.empty();
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

bool MatchPattern(std::string_view pattern, std::string_view id) {
  // Patterns are short and ids have few levels; the backtracking is bounded
  // by a cap on pattern size so a hostile pattern cannot take long.
  if (pattern.size() > 512) return false;
  return Match(pattern, id);
}

bool LoadKnownFailures(const std::string& path, std::vector<KnownFailure>* out, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string text = Trim(line);
    if (text.empty() || text[0] == '#') continue;
    KnownFailure k;
    k.line = number;
    const auto space = text.find_first_of(" \t");
    k.pattern = text.substr(0, space);
    if (space != std::string::npos) k.message_prefix = Trim(std::string_view(text).substr(space));
    out->push_back(std::move(k));
  }
  return true;
}

// --- Running ------------------------------------------------------------

int RunReport::Count(Outcome o) const {
  return static_cast<int>(
      std::count_if(results.begin(), results.end(), [o](const CaseResult& r) { return r.outcome == o; }));
}

bool RunReport::Clean() const { return Count(Outcome::kFailed) == 0 && unmatched_known.empty(); }

namespace {

bool Selected(const RunOptions& o, const std::string& id) {
  if (!o.run.empty() &&
      std::none_of(o.run.begin(), o.run.end(), [&](const std::string& p) { return MatchPattern(p, id); })) {
    return false;
  }
  return std::none_of(o.skip.begin(), o.skip.end(), [&](const std::string& p) { return MatchPattern(p, id); });
}

const KnownFailure* FindKnown(const std::vector<KnownFailure>& list, const std::string& id) {
  for (const KnownFailure& k : list) {
    if (MatchPattern(k.pattern, id)) return &k;
  }
  return nullptr;
}

CaseResult RunOne(const Case& c, const RunOptions& options, Deadline run_deadline) {
  CaseResult r;
  r.spec = c.spec;
  TraceSink trace;
  WireLog wire;
  if (options.keep_wire) trace.wire = &wire;
  const auto start = Deadline::Clock::now();
  CaseEnv env{run_deadline.Within(options.case_timeout), &trace};
  try {
    c.body(env);
    r.outcome = Outcome::kPassed;
  } catch (const CaseFailure& f) {
    r.outcome = Outcome::kFailed;
    r.message = f.message;
    r.evidence = f.evidence;
  } catch (const CaseSkipped& s) {
    r.outcome = Outcome::kSkipped;
    r.message = s.reason;
  } catch (const std::exception& e) {
    r.outcome = Outcome::kFailed;
    r.message = std::string("the case itself raised an error: ") + e.what();
  } catch (...) {
    r.outcome = Outcome::kFailed;
    r.message = "the case itself raised an unknown error";
  }
  if (r.outcome == Outcome::kFailed && env.deadline.expired() && r.message.empty()) {
    r.message = "case deadline exceeded";
  }
  r.seconds = std::chrono::duration<double>(Deadline::Clock::now() - start).count();
  if (r.outcome == Outcome::kFailed || options.keep_trace) r.trace = std::move(trace.lines);
  if (options.keep_wire) r.wire = wire.Take();
  return r;
}

// Classifies a finished case against the expected-failure lists; returns the
// index of the known-failing entry it matched, or -1.
int Classify(const RunOptions& options, CaseResult* r) {
  const KnownFailure* k = FindKnown(options.known_failing, r->spec.id);
  if (k != nullptr && r->outcome != Outcome::kSkipped) {
    if (r->outcome == Outcome::kPassed) {
      r->outcome = Outcome::kFailed;
      r->message = "listed as known-failing (line " + std::to_string(k->line) +
                   ") but passed: remove it from the list (or run with --fix)";
    } else if (r->message.rfind(k->message_prefix, 0) != 0) {
      r->message = "listed as known-failing (line " + std::to_string(k->line) + ") with message '" + k->message_prefix +
                   "', but failed with: " + r->message;
    } else {
      r->outcome = Outcome::kFailedAsExpected;
    }
    return static_cast<int>(k - options.known_failing.data());
  }
  if (r->outcome == Outcome::kFailed && FindKnown(options.known_flaky, r->spec.id)) {
    r->outcome = Outcome::kFailedAsExpected;
    r->message = "known flaky: " + r->message;
  }
  return -1;
}

CaseResult NotRun(const Case& c, Outcome outcome, std::string message) {
  CaseResult r;
  r.spec = c.spec;
  r.outcome = outcome;
  r.message = std::move(message);
  return r;
}

// The cases of one run and their results, shared by the dispatcher and the
// workers: a slot per selected case, filled when the case ends.
class Schedule {
 public:
  Schedule(const std::vector<const Case*>& cases, const RunOptions& options, Deadline run_deadline)
      : cases_(cases), options_(options), run_deadline_(run_deadline), slots_(cases.size()) {}

  // Runs every case, `jobs` at once; exclusive cases alone.
  void Run() {
    const int jobs = std::max(1, options_.jobs);
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(jobs));
    for (int i = 0; i < jobs; ++i) workers.emplace_back([this] { Work(); });
    // Exclusive cases start after all the others: each must wait for the
    // running cases to end, so grouping them wastes that wait only once.
    std::vector<std::size_t> order;
    for (const bool exclusive : {false, true}) {
      for (std::size_t i = 0; i < cases_.size(); ++i) {
        if (IsAlone(*cases_[i]) == exclusive) order.push_back(i);
      }
    }
    for (const std::size_t i : order) {
      std::unique_lock lock(mu_);
      const bool alone = IsAlone(*cases_[i]);
      // A case starts when a worker is free; an exclusive one also waits
      // for every running case to end, and holds back the next ones.
      changed_.wait(lock, [&] { return stop_ || (running_ < jobs && (!alone || running_ == 0) && !alone_running_); });
      if (stop_) break;
      queue_.push_back(i);
      ++running_;
      alone_running_ = alone;
      work_.notify_one();
    }
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    work_.notify_all();
    for (std::thread& t : workers) t.join();
  }

  std::vector<CaseResult> TakeResults(std::vector<int>* known_index) {
    std::vector<CaseResult> out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (!s.done) {
        out.push_back(NotRun(*cases_[i], Outcome::kSkipped,
                             "not run: --max-failures " + std::to_string(options_.max_failures) + " reached"));
        known_index->push_back(-1);
        continue;
      }
      out.push_back(std::move(s.result));
      known_index->push_back(s.known);
    }
    return out;
  }

 private:
  static bool IsAlone(const Case& c) { return c.spec.exclusive && c.not_applicable.empty(); }

  struct Slot {
    CaseResult result;
    int known = -1;
    bool done = false;
  };

  void Work() {
    for (;;) {
      std::size_t i = 0;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        i = queue_.front();
        queue_.pop_front();
      }
      const Case& c = *cases_[i];
      CaseResult r;
      if (!c.not_applicable.empty()) {
        r = NotRun(c, Outcome::kSkipped, "not applicable to the profile: " + c.not_applicable);
      } else if (run_deadline_.expired()) {
        r = NotRun(c, Outcome::kFailed, "not run: the whole run's deadline (--run-timeout-s) had passed");
      } else {
        r = RunOne(c, options_, run_deadline_);
      }
      const int known = Classify(options_, &r);
      std::lock_guard lock(mu_);
      if (options_.verbose) {
        std::fprintf(stderr, "%-8s %s%s%s\n", std::string(OutcomeName(r.outcome)).c_str(), r.spec.id.c_str(),
                     r.message.empty() ? "" : ": ", r.message.c_str());
      }
      if (r.outcome == Outcome::kFailed && options_.max_failures > 0 && ++failures_ >= options_.max_failures) {
        stop_ = true;
      }
      slots_[i] = Slot{std::move(r), known, true};
      --running_;
      alone_running_ = false;
      changed_.notify_all();
    }
  }

  const std::vector<const Case*>& cases_;
  const RunOptions& options_;
  const Deadline run_deadline_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable work_;     // a case was queued, or the queue closed
  std::condition_variable changed_;  // a case ended
  std::deque<std::size_t> queue_;
  int running_ = 0;  // queued or running
  bool alone_running_ = false;
  bool closed_ = false;
  bool stop_ = false;
  int failures_ = 0;
};

}  // namespace

int DefaultJobs(bool cases_start_processes) {
  // Eight a core: on 2 cores, 16 cases waiting out a silent target's
  // deadlines at once (docs/CONFORMANCE.md has the measurement).
  const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  if (cases_start_processes) return static_cast<int>(std::clamp(2U * cores, 4U, 32U));
  return static_cast<int>(std::clamp(8U * cores, 8U, 64U));
}

RunReport RunCases(const std::vector<Case>& catalogue, const RunOptions& options) {
  RunReport report;
  const auto start = Deadline::Clock::now();
  const Deadline run_deadline(start + options.run_timeout);
  report.partial = !options.run.empty() || !options.skip.empty();
  std::vector<const Case*> selected;
  for (const Case& c : catalogue) {
    if (Selected(options, c.spec.id)) selected.push_back(&c);
  }
  Schedule schedule(selected, options, run_deadline);
  schedule.Run();
  std::vector<int> known_index;
  report.results = schedule.TakeResults(&known_index);
  // Cut at the case that made the max_failures-th unexpected failure in
  // catalogue order: which later cases had also run depends on timing.
  if (options.max_failures > 0) {
    int failures = 0;
    for (std::size_t i = 0; i < report.results.size(); ++i) {
      if (failures >= options.max_failures) {
        report.results[i] = NotRun(*selected[i], Outcome::kSkipped,
                                   "not run: --max-failures " + std::to_string(options.max_failures) + " reached");
        known_index[i] = -1;
      } else if (report.results[i].outcome == Outcome::kFailed) {
        ++failures;
      }
    }
    report.partial = report.partial || failures >= options.max_failures;
  }
  std::vector<bool> known_used(options.known_failing.size(), false);
  for (const int k : known_index) {
    if (k >= 0) known_used[static_cast<std::size_t>(k)] = true;
  }
  // An entry that matched nothing is stale only when the whole catalogue ran.
  if (!report.partial) {
    for (std::size_t i = 0; i < known_used.size(); ++i) {
      if (!known_used[i]) report.unmatched_known.push_back(options.known_failing[i]);
    }
  }
  report.seconds = std::chrono::duration<double>(Deadline::Clock::now() - start).count();
  return report;
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

// --- Reports ------------------------------------------------------------

std::optional<std::size_t> FirstDifference(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

std::string HexWithMark(std::string_view bytes, std::optional<std::size_t> mark, std::size_t max_bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  // Show a window around the mark when the bytes are long.
  std::size_t begin = 0;
  if (mark && *mark >= max_bytes / 2 && bytes.size() > max_bytes) {
    begin = std::min(*mark - max_bytes / 2, bytes.size() - std::min(bytes.size(), max_bytes));
  }
  const std::size_t end = std::min(bytes.size(), begin + max_bytes);
  if (begin > 0) out += "(" + std::to_string(begin) + " bytes) ...";
  for (std::size_t i = begin; i < end; ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (mark && *mark == i) out += '[';
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
    if (mark && *mark == i) out += ']';
  }
  if (mark && *mark == bytes.size()) out += "[<end>]";
  if (end < bytes.size()) out += "... (" + std::to_string(bytes.size()) + " bytes in all)";
  if (bytes.empty() && !(mark && *mark == 0)) out += "(none)";
  return out;
}

std::string SummaryLine(const RunReport& r) {
  return std::to_string(r.Count(Outcome::kPassed)) + " passed, " + std::to_string(r.Count(Outcome::kFailed)) +
         " failed, " + std::to_string(r.Count(Outcome::kSkipped)) + " skipped, " +
         std::to_string(r.Count(Outcome::kFailedAsExpected)) + " failed as expected";
}

std::string FormatHuman(const RunReport& report) {
  std::ostringstream out;
  out << "lmcache-conformance " << kRunnerVersion << " (" << kProtocolRevision << ")\n";
  out << report.mode << " mode, target " << report.target << ", profile " << report.profile << "\n";
  for (const CaseResult& r : report.results) {
    if (r.outcome != Outcome::kFailed) continue;
    out << "\nFAIL " << r.spec.id << "  [" << LevelName(r.spec.level) << ", " << r.spec.clause << "]\n";
    if (!r.spec.title.empty()) out << "  requirement: " << r.spec.title << "\n";
    out << "  " << r.message << "\n";
    const Evidence& e = r.evidence;
    if (!e.sent.empty()) out << "  sent:     " << HexWithMark(e.sent, std::nullopt) << "\n";
    if (!e.expected.empty() || !e.actual.empty()) {
      const auto at = FirstDifference(e.expected, e.actual);
      out << "  expected: " << HexWithMark(e.expected, at) << "\n";
      out << "  actual:   " << HexWithMark(e.actual, at) << "\n";
    }
  }
  for (const KnownFailure& k : report.unmatched_known) {
    out << "\nSTALE known-failing entry (line " << k.line << "): '" << k.pattern
        << "' matches no failing case; remove it (or run with --fix)\n";
  }
  const int xfail = report.Count(Outcome::kFailedAsExpected);
  if (xfail > 0) {
    out << "\nfailed as expected:";
    for (const CaseResult& r : report.results) {
      if (r.outcome == Outcome::kFailedAsExpected) out << "\n  " << r.spec.id << ": " << r.message;
    }
    out << "\n";
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", report.seconds);
  out << "\n" << report.results.size() << " cases in " << seconds << " s\n";
  out << SummaryLine(report) << "\n";
  return out.str();
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no form for most control characters: show them as '?'.
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
          out += '?';
        } else {
          out += ch;
        }
    }
  }
  return out;
}

namespace {

std::string EvidenceText(const Evidence& e) {
  std::string t;
  if (!e.sent.empty()) t += "sent:     " + HexWithMark(e.sent, std::nullopt, 4096) + "\n";
  if (!e.expected.empty() || !e.actual.empty()) {
    const auto at = FirstDifference(e.expected, e.actual);
    t += "expected: " + HexWithMark(e.expected, at, 4096) + "\n";
    t += "actual:   " + HexWithMark(e.actual, at, 4096) + "\n";
  }
  return t;
}

}  // namespace

std::string FormatJunit(const RunReport& report) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"lmcache-conformance\" tests=\"" << report.results.size() << "\" failures=\""
      << report.Count(Outcome::kFailed) << "\" skipped=\"" << report.Count(Outcome::kSkipped) << "\" time=\""
      << report.seconds << "\">\n";
  out << "  <testsuite name=\"" << XmlEscape(report.mode) << "\" tests=\"" << report.results.size() << "\" failures=\""
      << report.Count(Outcome::kFailed) << "\" skipped=\"" << report.Count(Outcome::kSkipped) << "\" time=\""
      << report.seconds << "\">\n";
  out << "    <properties>\n      <property name=\"target\" value=\"" << XmlEscape(report.target)
      << "\"/>\n      <property name=\"profile\" value=\"" << XmlEscape(report.profile)
      << "\"/>\n      <property name=\"protocol\" value=\"" << XmlEscape(kProtocolRevision)
      << "\"/>\n      <property name=\"runner\" value=\"" << kRunnerVersion << "\"/>\n    </properties>\n";
  for (const CaseResult& r : report.results) {
    const std::string& id = r.spec.id;
    const auto slash = id.rfind('/');
    std::string classname = slash == std::string::npos ? id : id.substr(0, slash);
    std::replace(classname.begin(), classname.end(), '/', '.');
    out << "    <testcase classname=\"" << XmlEscape(classname) << "\" name=\"" << XmlEscape(id) << "\" time=\""
        << r.seconds << "\"";
    const std::string text = XmlEscape(ValidUtf8(r.spec.clause + " [" + std::string(LevelName(r.spec.level)) + "]\n" +
                                                 r.message + "\n" + EvidenceText(r.evidence)));
    switch (r.outcome) {
      case Outcome::kPassed: out << "/>\n"; break;
      case Outcome::kSkipped:
        out << ">\n      <skipped message=\"" << XmlEscape(ValidUtf8(r.message)) << "\"/>\n    </testcase>\n";
        break;
      case Outcome::kFailedAsExpected:
        out << ">\n      <skipped message=\"failed as expected: " << XmlEscape(ValidUtf8(r.message))
            << "\"/>\n    </testcase>\n";
        break;
      case Outcome::kFailed:
        out << ">\n      <failure message=\"" << XmlEscape(ValidUtf8(r.message)) << "\">" << text
            << "</failure>\n    </testcase>\n";
        break;
    }
  }
  out << "  </testsuite>\n</testsuites>\n";
  return out.str();
}

std::string FormatJson(const RunReport& report) {
  nlohmann::ordered_json j;
  j["runner"] = {{"name", "lmcache-conformance"}, {"version", kRunnerVersion}, {"protocol", kProtocolRevision}};
  j["mode"] = report.mode;
  j["target"] = ValidUtf8(report.target);
  j["profile"] = report.profile;
  j["seconds"] = report.seconds;
  j["partial"] = report.partial;
  j["summary"] = {{"passed", report.Count(Outcome::kPassed)},
                  {"failed", report.Count(Outcome::kFailed)},
                  {"skipped", report.Count(Outcome::kSkipped)},
                  {"failed_as_expected", report.Count(Outcome::kFailedAsExpected)},
                  {"line", SummaryLine(report)}};
  j["results"] = nlohmann::ordered_json::array();
  for (const CaseResult& r : report.results) {
    nlohmann::ordered_json c;
    c["id"] = r.spec.id;
    c["level"] = LevelName(r.spec.level);
    c["clause"] = r.spec.clause;
    c["title"] = r.spec.title;
    c["exclusive"] = r.spec.exclusive;
    c["outcome"] = OutcomeName(r.outcome);
    c["message"] = ValidUtf8(r.message);
    c["seconds"] = r.seconds;
    if (r.evidence.has_bytes()) {
      const auto at = FirstDifference(r.evidence.expected, r.evidence.actual);
      c["evidence"] = {{"sent", HexWithMark(r.evidence.sent, std::nullopt, 1 << 16)},
                       {"expected", HexWithMark(r.evidence.expected, at, 1 << 16)},
                       {"actual", HexWithMark(r.evidence.actual, at, 1 << 16)}};
      if (at) c["evidence"]["first_difference"] = *at;
    }
    if (!r.trace.empty()) {
      nlohmann::ordered_json t = nlohmann::ordered_json::array();
      for (const auto& line : r.trace) t.push_back(ValidUtf8(line));
      c["trace"] = std::move(t);
    }
    j["results"].push_back(std::move(c));
  }
  j["stale_known_failing"] = nlohmann::ordered_json::array();
  for (const KnownFailure& k : report.unmatched_known) {
    j["stale_known_failing"].push_back({{"pattern", k.pattern}, {"line", k.line}});
  }
  return j.dump(2) + "\n";
}

std::string FormatKnownFailing(const RunReport& report) {
  std::string out = "# lmcache-conformance known failures (" + report.mode + " mode, profile " + report.profile +
                    "), written by --fix.\n# One case id per line, then the start of its expected message.\n";
  for (const CaseResult& r : report.results) {
    if (r.outcome != Outcome::kFailed && r.outcome != Outcome::kFailedAsExpected) continue;
    if (r.message.rfind("known flaky: ", 0) == 0) continue;  // flaky cases have their own list
    // A message that itself came from the known-failing check is replaced by
    // the case's own; keep the first line, bounded, as the prefix.
    std::string message = r.message;
    if (message.rfind("listed as known-failing", 0) == 0) {
      const auto at = message.find("but failed with: ");
      message = at == std::string::npos ? "" : message.substr(at + 17);
    }
    message = message.substr(0, std::min(message.find('\n'), std::size_t{120}));
    out += r.spec.id + (message.empty() ? "" : " " + message) + "\n";
  }
  return out;
}

bool WriteTraces(const RunReport& report, const std::string& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  for (const CaseResult& r : report.results) {
    if (r.trace.empty() && r.outcome == Outcome::kSkipped) continue;
    std::string name = r.spec.id;
    for (std::size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at + 2)) {
      name.replace(at, 1, "__");
    }
    std::ofstream f(std::filesystem::path(dir) / (name + ".trace"));
    f << r.spec.id << "  " << OutcomeName(r.outcome) << (r.message.empty() ? "" : ": ") << r.message << "\n";
    f << r.spec.clause << " [" << LevelName(r.spec.level) << "] " << r.spec.title << "\n\n";
    for (const auto& line : r.trace) f << line << "\n";
    if (r.evidence.has_bytes()) f << "\n" << EvidenceText(r.evidence);
    if (!f) {
      *error = "cannot write traces into " + dir;
      return false;
    }
  }
  return true;
}

}  // namespace lmc::conformance
