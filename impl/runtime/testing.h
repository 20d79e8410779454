// For tests: one production Env per test binary, with its own loop thread
// and workers, made on first use.
#pragma once

#include "runtime/process_env.h"

namespace lmc::runtime {

inline ProcessEnv& TestEnv() {
  static ProcessEnv env;
  return env;
}

}  // namespace lmc::runtime
