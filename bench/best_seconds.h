// The best (shortest) wall time of `reps` runs of fn: the figure least
// disturbed by this VM's noise. Shared by the bench programs.
#pragma once

#include <algorithm>
#include <chrono>

namespace lmc::bench {

template <typename Fn>
double BestSeconds(int reps, Fn fn) {
  double best = 1e9;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace lmc::bench
