// A blocking connect with a deadline, on the seam: the transport's connect
// has none of its own, so the caller waits (never on an I/O loop) until
// `limit`, and a stream that arrives later is dropped where it lands.
#pragma once

#include <memory>
#include <string>

#include "runtime/env.h"

namespace lmc::runtime {

// The stream, or null with *error (kTimedOut when `limit` came first).
[[nodiscard]] std::unique_ptr<net::Stream> ConnectUntil(Env& env, const std::string& host, std::uint16_t port,
                                                        Clock::time_point limit, net::NetError* error);

}  // namespace lmc::runtime
