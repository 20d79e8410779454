// The command-line conventions every tool of the kit follows (CLI11 based;
// lmcache-wire and the C++ testee parse by hand and follow them too):
// - `--version` prints "<tool> <kit version> (<protocol revision>)" and
//   exits 0;
// - `--help` prints the options and, last, the tool's exit statuses, and
//   exits 0;
// - a usage error (unknown option, bad or missing value) prints why and
//   "Run with --help for more information." on stderr and exits 2.
// CLI11's own CLI11_PARSE exits with the error's internal code (104, 106,
// 109, ...) instead, which is why no tool uses it.
//
// Header-only, included as "tools/cli.h" by the tools and by
// lmcache-conformance; the includer links CLI11.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/version.h"

namespace lmc::tools {

// The exit status of a usage error, in every tool.
inline constexpr int kExitUsage = 2;

// Adds --version and the help's exit-status footer ("Exit status: " then
// `exit_statuses`). Call it before adding subcommands: they copy the footer.
inline void SetConventions(CLI::App& app, std::string_view tool, std::string_view exit_statuses) {
  app.set_version_flag("--version", base::VersionLine(tool), "print the version and the protocol revision, and exit");
  app.footer("Exit status: " + std::string(exit_statuses));
}

// Maps what CLI11 threw to the tool's exit status: 0 after --help or
// --version (printed on stdout), kExitUsage after any other parse error
// (printed on stderr with the pointer to --help).
inline int ExitFor(CLI::App& app, const CLI::ParseError& e) {
  const int printed = app.exit(e);
  return printed == 0 ? 0 : kExitUsage;
}

// Parses the command line. Returns nothing when the tool should go on, else
// the status to exit with (see ExitFor).
inline std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ExitFor(app, e);
  }
  return std::nullopt;
}

// The same over arguments already split off (in CLI11's reversed order).
inline std::optional<int> Parse(CLI::App& app, std::vector<std::string>& reversed_args) {
  try {
    app.parse(reversed_args);
  } catch (const CLI::ParseError& e) {
    return ExitFor(app, e);
  }
  return std::nullopt;
}

}  // namespace lmc::tools
