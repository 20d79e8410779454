// Invariant checks that are always on, in every build (release included):
//
//   LMC_CHECK(running_ > 0, "a job ended that never started; running ", running_);
//
// On failure it prints "check failed: FILE:LINE: CONDITION: MESSAGE" (the
// message built from its arguments only then, with operator<<) to stderr
// and aborts: a broken invariant is a bug, and going on would corrupt what
// is stored. For contracts a header states that cost O(1) to check.
//
//   LMC_DCHECK(audit(), "...");
//
// is the same where assert() is on (every build but the release preset:
// tests, sanitizers, fuzz targets, the simulator), and compiles to nothing
// in release: for checks too costly for production (a walk of an index) or
// on the hottest paths. What both cost the server: docs/BENCHMARKS.md.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

namespace lmc::base {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition, const std::string& message) {
  const std::string_view path(file);
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::fprintf(stderr, "check failed: %.*s:%d: %s: %s\n", static_cast<int>(name.size()), name.data(), line, condition,
               message.c_str());
  std::fflush(stderr);
  std::abort();
}

template <typename... Args>
std::string CheckMessage(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace lmc::base

#define LMC_CHECK(condition, ...)                                                                       \
  do {                                                                                                  \
    if (!(condition)) [[unlikely]]                                                                      \
      ::lmc::base::CheckFailed(__FILE__, __LINE__, #condition, ::lmc::base::CheckMessage(__VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define LMC_DCHECK(condition, ...) \
  do {                             \
    if (false) (void)(condition);  \
  } while (0)
#else
#define LMC_DCHECK(condition, ...) LMC_CHECK(condition, __VA_ARGS__)
#endif
