// "HOST:PORT" as the kit's command lines, configs and peers spell it (an
// lm:// URL's authority, a cluster's startup_nodes, a MOVED redirect).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lmc::net {

// 1 to 5 ASCII digits, 1 to 65535.
[[nodiscard]] bool ParsePort(std::string_view digits, std::uint16_t* port);
// Splits at the last ':'; a host in brackets ("[::1]") loses them. The host
// may come back empty (a caller that needs one checks); false for no ':' or
// a bad port. Never throws.
[[nodiscard]] bool ParseHostPort(std::string_view text, std::string* host, std::uint16_t* port);

}  // namespace lmc::net
