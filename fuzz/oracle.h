// How every fuzz target reports a failed oracle: one line on stderr,
//   oracle: FILE:LINE: what was expected, and what came
// then abort(), so libFuzzer keeps the input. ci/fuzz.sh puts that line in
// its report, so a finding says which oracle fired without a stack.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace lmc::fuzzing {

[[noreturn]] inline void OracleFailed(const char* file, int line, std::string_view what) {
  const std::string_view path(file);
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::fprintf(stderr, "oracle: %.*s:%d: %.*s\n", static_cast<int>(name.size()), name.data(), line,
               static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace lmc::fuzzing

// Fails with `what` (a string, or anything a std::string is made from).
#define LMC_ORACLE_FAIL(what) ::lmc::fuzzing::OracleFailed(__FILE__, __LINE__, std::string(what))

// Fails with `what` (a string, built only on failure) unless `ok` holds.
#define LMC_ORACLE(ok, what)                                                        \
  do {                                                                              \
    if (!(ok)) ::lmc::fuzzing::OracleFailed(__FILE__, __LINE__, std::string(what)); \
  } while (0)
