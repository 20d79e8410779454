// lmcache-conformance: the conformance runner of the LMCache kit.
//
//   lmcache-conformance server  --target lm://HOST:PORT [options]
//   lmcache-conformance client  [options] -- COMMAND ARGS...
//   lmcache-conformance vectors --tool "COMMAND ARGS" [options]   (or -- COMMAND ARGS...)
//
// Options shared by the modes: --profile NAME|FILE, --list, --run/--skip
// PATTERN (repeatable; '*' one level, '**' any depth), --known-failing FILE,
// --known-flaky FILE, --fix, --junit PATH, --json PATH, --trace DIR,
// --pcap FILE, --html FILE,
// --case-timeout-ms MS, --run-timeout-s S, --jobs N, --max-failures N,
// --verbose.
//
// Exit status: 0 when nothing unexpected happened, 1 when a case failed
// unexpectedly (or a known-failing entry is stale), 2 for a usage error.
// docs/CONFORMANCE.md is the manual.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "conformance/catalogues.h"
#include "conformance/profile.h"
#include "conformance/runner.h"
#include "conformance/wire_report.h"
#include "tools/cli.h"

namespace lc = lmc::conformance;

namespace {

constexpr int kExitClean = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = lmc::tools::kExitUsage;

struct Common {
  std::string profile = "reference";
  bool list = false;
  std::string list_format = "text";
  bool print_profile = false;
  std::vector<std::string> run;
  std::vector<std::string> skip;
  std::string known_failing;
  std::string known_flaky;
  bool fix = false;
  std::string junit;
  std::string json;
  std::string trace;
  std::string pcap;
  std::string html;
  std::uint64_t case_timeout_ms = 5000;
  std::uint64_t run_timeout_s = 600;
  bool verbose = false;
  int jobs = 0;  // 0: the mode's default (lc::DefaultJobs)
  int max_failures = 0;
};

void AddCommon(CLI::App* app, Common* c) {
  app->add_option("--profile", c->profile,
                  "a built-in profile (reference, lmcache-python, lmcache-python-legacy) or a JSON file")
      ->capture_default_str();
  app->add_flag("--list", c->list, "print the selected cases (id, level, clause, requirement) and exit");
  app->add_option("--list-format", c->list_format, "text or markdown")
      ->check(CLI::IsMember({"text", "markdown"}))
      ->capture_default_str();
  app->add_flag("--print-profile", c->print_profile, "print the profile in effect as JSON and exit");
  // One pattern per occurrence, so that `--run X -- TESTEE ARGS` leaves the
  // testee's arguments alone.
  app->add_option("--run", c->run, "run only cases matching PATTERN ('*' one level, '**' any depth); repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--skip", c->skip, "skip cases matching PATTERN; repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--known-failing", c->known_failing,
                  "expected failures: 'PATTERN [message prefix]' per line; a listed case that passes, or fails "
                  "with another message, fails the run");
  app->add_option("--known-flaky", c->known_flaky, "cases whose failure is tolerated: one PATTERN per line");
  app->add_flag("--fix", c->fix, "rewrite the --known-failing file from this run's failures (whole runs only)");
  app->add_option("--junit", c->junit, "write JUnit XML here");
  app->add_option("--json", c->json, "write the results as JSON here");
  app->add_option("--trace", c->trace, "write each case's bytes, as hex with decoded fields, into DIR");
  app->add_option("--pcap", c->pcap,
                  "write every connection of the run as a TCP stream into a pcap file (Wireshark; the server is "
                  "127.0.0.2:65432)");
  app->add_option("--html", c->html, "write a self-contained HTML report here");
  app->add_option("--case-timeout-ms", c->case_timeout_ms, "deadline of each case")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{3600000}));
  app->add_option("--run-timeout-s", c->run_timeout_s, "deadline of the whole run")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{86400}));
  app->add_flag("--verbose,-v", c->verbose, "print a line per case as it ends (stderr)");
  app->add_option("--jobs,-j", c->jobs,
                  "cases run at once (a case that needs the target to itself runs alone); 1 runs them one by one. "
                  "Default: " +
                      std::to_string(lc::DefaultJobs(false)) + " (8 a core; client mode " +
                      std::to_string(lc::DefaultJobs(true)) + ", 2 a core: each of its cases starts a process)")
      ->check(CLI::Range(1, 256));
  app->add_option("--max-failures", c->max_failures,
                  "stop after N unexpected failures; later cases are reported as not run (0: never stop)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
}

// lm://HOST:PORT, HOST may be [v6]; false for anything else.
bool ParseTarget(const std::string& url, lc::ServerTarget* out) {
  const std::string prefix = "lm://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  std::string host;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return false;
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) return false;
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return false;
  out->host = host;
  out->port = static_cast<std::uint16_t>(p);
  return true;
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The repository's golden/ next to this binary (build/bin/..), else the
// source tree this binary was built from.
std::string DefaultDataPath(const std::string& relative) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& base : {exe.parent_path() / "../..", exe.parent_path() / "../share/lmcache-kit"}) {
      const auto p = base / relative;
      if (std::filesystem::exists(p, ec)) return std::filesystem::weakly_canonical(p, ec).string();
    }
  }
  return std::string(LMC_SOURCE_DIR) + "/" + relative;
}

void PrintList(const std::vector<lc::Case>& cases, const Common& c) {
  const bool md = c.list_format == "markdown";
  if (md) {
    std::cout << "| id | level | clause | requirement |\n|---|---|---|---|\n";
  }
  for (const lc::Case& k : cases) {
    const std::string& id = k.spec.id;
    bool selected = c.run.empty();
    for (const auto& p : c.run) selected = selected || lc::MatchPattern(p, id);
    for (const auto& p : c.skip) selected = selected && !lc::MatchPattern(p, id);
    if (!selected) continue;
    if (md) {
      std::cout << "| `" << id << "` | " << lc::LevelName(k.spec.level) << " | " << k.spec.clause << " | "
                << k.spec.title << " |\n";
    } else {
      std::cout << id << "  " << lc::LevelName(k.spec.level) << "  [" << k.spec.clause << "]  " << k.spec.title
                << (k.spec.exclusive ? "  (runs alone)" : "")
                << (k.not_applicable.empty() ? "" : "  (not applicable: " + k.not_applicable + ")") << "\n";
    }
  }
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::cerr << "lmcache-conformance: cannot write " << path << "\n";
    return false;
  }
  return true;
}

int Run(const std::string& mode, const std::string& target, const std::vector<lc::Case>& cases,
        const lc::Profile& profile, const Common& c) {
  if (c.list) {
    PrintList(cases, c);
    return kExitClean;
  }
  lc::RunOptions o;
  o.run = c.run;
  o.skip = c.skip;
  o.case_timeout = std::chrono::milliseconds(c.case_timeout_ms);
  o.run_timeout = std::chrono::seconds(c.run_timeout_s);
  o.verbose = c.verbose;
  o.jobs = c.jobs != 0 ? c.jobs : lc::DefaultJobs(mode == "client");
  o.max_failures = c.max_failures;
  o.keep_trace = !c.trace.empty();
  o.keep_wire = !c.pcap.empty() || !c.html.empty();
  std::string error;
  if (!c.known_failing.empty() && !(c.fix && !std::filesystem::exists(c.known_failing)) &&
      !lc::LoadKnownFailures(c.known_failing, &o.known_failing, &error)) {
    std::cerr << "lmcache-conformance: --known-failing: " << error << "\n";
    return kExitUsage;
  }
  if (!c.known_flaky.empty() && !lc::LoadKnownFailures(c.known_flaky, &o.known_flaky, &error)) {
    std::cerr << "lmcache-conformance: --known-flaky: " << error << "\n";
    return kExitUsage;
  }
  lc::RunReport report = lc::RunCases(cases, o);
  report.mode = mode;
  report.target = target;
  report.profile = profile.name;
  std::cout << lc::FormatHuman(report) << std::flush;
  bool ok = true;
  if (!c.junit.empty()) ok = WriteFile(c.junit, lc::FormatJunit(report)) && ok;
  if (!c.json.empty()) ok = WriteFile(c.json, lc::FormatJson(report)) && ok;
  if (!c.html.empty()) ok = WriteFile(c.html, lc::FormatHtml(report)) && ok;
  if (!c.pcap.empty()) ok = WriteFile(c.pcap, lc::CaptureRun(report).Bytes()) && ok;
  if (!c.trace.empty() && !lc::WriteTraces(report, c.trace, &error)) {
    std::cerr << "lmcache-conformance: --trace: " << error << "\n";
    ok = false;
  }
  if (c.fix) {
    if (!WriteFile(c.known_failing, lc::FormatKnownFailing(report))) return kExitFailed;
    std::cerr << "lmcache-conformance: rewrote " << c.known_failing << " with "
              << report.Count(lc::Outcome::kFailed) + report.Count(lc::Outcome::kFailedAsExpected)
              << " failing cases\n";
    return ok ? kExitClean : kExitFailed;
  }
  return ok && report.Clean() ? kExitClean : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lmcache-conformance: checks an LMCache V1 lm:// server, client or codec against the protocol "
      "(docs/CONFORMANCE.md)."};
  lmc::tools::SetConventions(app, "lmcache-conformance", "0 nothing unexpected, 1 unexpected failures, 2 usage error.");
  app.require_subcommand(1);

  Common common;
  std::string target;
  auto* server = app.add_subcommand("server", "run the server catalogue against a running lm:// server");
  server->add_option("--target", target, "the server under test, lm://HOST:PORT");
  AddCommon(server, &common);

  std::vector<std::string> testee;
  auto* client = app.add_subcommand("client", "play the server for a client under test (a testee)");
  client->add_option("testee", testee, "the testee command and its arguments, after --");
  AddCommon(client, &common);

  std::string tool;
  std::vector<std::string> tool_argv;
  std::string golden = DefaultDataPath("golden/fixtures/manifest.json");
  std::string reference = DefaultDataPath("golden/reference-vectors/wire-sample.json");
  auto* vectors = app.add_subcommand("vectors", "check a codec through the lmcache-wire line contract");
  vectors->add_option("--tool", tool, "the codec tool as one string, split on spaces");
  vectors->add_option("tool_argv", tool_argv, "or: the tool and its arguments, after --");
  vectors->add_option("--golden", golden, "the golden manifest")->capture_default_str();
  vectors->add_option("--reference-vectors", reference, "LMCache's reference vectors")->capture_default_str();
  AddCommon(vectors, &common);

  // Everything after the first `--` is the testee's (or tool's) command line,
  // taken verbatim: CLI11 would otherwise read its options (`python3 -S`).
  std::vector<std::string> args;
  std::vector<std::string> after_dashes;
  bool dashes = false;
  for (int i = 1; i < argc; ++i) {
    if (!dashes && std::string_view(argv[i]) == "--") {
      dashes = true;
    } else {
      (dashes ? after_dashes : args).emplace_back(argv[i]);
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  if (const auto status = lmc::tools::Parse(app, args)) return *status;

  lc::Profile profile;
  std::string error;
  if (!lc::LoadProfile(common.profile, &profile, &error)) {
    std::cerr << "lmcache-conformance: --profile: " << error << "\n";
    return kExitUsage;
  }
  if (common.print_profile) {
    std::cout << lc::ProfileToJson(profile);
    return kExitClean;
  }
  if (common.fix &&
      (common.known_failing.empty() || !common.run.empty() || !common.skip.empty() || common.max_failures != 0)) {
    std::cerr << "lmcache-conformance: --fix needs --known-failing FILE and a whole run (no --run, --skip or "
                 "--max-failures)\n";
    return kExitUsage;
  }

  if (server->parsed()) {
    if (!after_dashes.empty()) {
      std::cerr << "lmcache-conformance server: takes no command after --\n";
      return kExitUsage;
    }
    lc::ServerTarget t;
    if (!common.list && !ParseTarget(target, &t)) {
      std::cerr << "lmcache-conformance server: --target lm://HOST:PORT is required"
                << (target.empty() ? "" : " ('" + target + "' is not one)") << "\n";
      return kExitUsage;
    }
    return Run("server", target, lc::ServerCatalogue(t, profile), profile, common);
  }
  if (client->parsed()) {
    if (!after_dashes.empty()) testee = after_dashes;
    if (!common.list && testee.empty()) {
      std::cerr << "lmcache-conformance client: give the testee command after --\n";
      return kExitUsage;
    }
    std::string shown;
    for (const auto& w : testee) shown += (shown.empty() ? "" : " ") + w;
    return Run("client", shown, lc::ClientCatalogue(lc::TesteeCommand{testee}, profile), profile, common);
  }
  if (!after_dashes.empty()) tool_argv = after_dashes;
  std::vector<std::string> words = tool_argv.empty() ? SplitWords(tool) : tool_argv;
  if (!common.list && words.empty()) {
    std::cerr << "lmcache-conformance vectors: --tool COMMAND (or -- COMMAND ARGS...) is required\n";
    return kExitUsage;
  }
  std::string shown;
  for (const auto& w : words) shown += (shown.empty() ? "" : " ") + w;
  return Run("vectors", shown, lc::VectorCatalogue(lc::TesteeCommand{words}, lc::VectorSources{golden, reference}),
             profile, common);
}
