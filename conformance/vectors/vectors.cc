// Vectors mode's catalogue (stub until it lands).
#include "conformance/catalogues.h"

namespace lmc::conformance {
std::vector<Case> VectorCatalogue(const TesteeCommand&, const VectorSources&) { return {}; }
}  // namespace lmc::conformance
