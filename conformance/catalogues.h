// The three catalogues of lmcache-conformance, one per mode. Each returns
// its cases in a fixed order with ids that never change once released
// (docs/CONFORMANCE.md lists them all); a case that does not apply to the
// profile carries its reason in Case::not_applicable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conformance/profile.h"
#include "conformance/runner.h"

namespace lmc::conformance {

// Server mode: the runner is the client, the target a running lm:// server.
struct ServerTarget {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};
std::vector<Case> ServerCatalogue(const ServerTarget& target, const Profile& profile);

// Client mode: the runner plays the server and drives a testee (the client
// under test behind a small adapter) over the line protocol of
// docs/CONFORMANCE.md. `testee` is the command and its arguments; each case
// starts it afresh with LMCACHE_URL=lm://127.0.0.1:PORT in its environment.
struct TesteeCommand {
  std::vector<std::string> argv;
};
std::vector<Case> ClientCatalogue(const TesteeCommand& testee, const Profile& profile);

// Vectors mode: the codec of another implementation, driven through the
// lmcache-wire line contract (docs/WIRE-JSON.md), against golden/ and
// LMCache's reference vectors.
struct VectorSources {
  std::string golden_manifest;    // golden/fixtures/manifest.json
  std::string reference_vectors;  // a wire-sample.json (the repository's copy by default)
};
std::vector<Case> VectorCatalogue(const TesteeCommand& tool, const VectorSources& sources);

}  // namespace lmc::conformance
