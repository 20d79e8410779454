// The kit's version and the protocol revision it targets. Every tool's
// --version prints both, the conformance reports carry both, and the golden
// manifest's "protocol" field is the same string (golden_test checks it).
#pragma once

#include <string>
#include <string_view>

#include "base/version_generated.h"  // kKitVersion, from CMake's PROJECT_VERSION

namespace lmc::base {

// The protocol revision the codecs, the key grammar and the catalogues follow.
inline constexpr std::string_view kProtocolRevision =
    "LMCache V1 lm:// (request 186 bytes, reply 36 bytes, keys of era F)";

// "<tool> <kit version> (<protocol revision>)": the line of every --version.
inline std::string VersionLine(std::string_view tool) {
  return std::string(tool) + " " + std::string(kKitVersion) + " (" + std::string(kProtocolRevision) + ")";
}

}  // namespace lmc::base
