// Client mode's catalogue (stub until it lands).
#include "conformance/catalogues.h"

namespace lmc::conformance {
std::vector<Case> ClientCatalogue(const TesteeCommand&, const Profile&) { return {}; }
}  // namespace lmc::conformance
