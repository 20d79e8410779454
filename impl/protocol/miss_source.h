// Where a server session looks when a GET misses L1: the server's L2 tiers
// (tier::Tier), or a test's stand-in. The session calls it from the
// connection's I/O thread, so nothing here may block: a lookup that needs
// I/O runs elsewhere and answers through the callback.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "store/l1_store.h"

namespace lmc::protocol {

class MissSource {
 public:
  virtual ~MissSource() = default;
  // Looks `key` up below L1 and calls `done` exactly once, on any thread,
  // with the object (brought back into L1) or null, within the source's own
  // deadline. Must not call `done` before returning if the caller's thread
  // must not re-enter (the server posts it to the connection's loop).
  virtual void FetchAsync(std::string key, std::function<void(store::L1Store::ObjectRef)> done) = 0;
  // Existence only (no I/O, no payload check); never waits for a copy or a
  // load in progress.
  virtual bool Contains(const std::string& key) = 0;
  // True when keys may be held below L1 that Contains() does not know (a
  // tier shared with other servers): an EXIST that finds the key nowhere
  // here then looks below through FetchAsync, whose answer it waits for (the
  // object found lands in L1, where the GET that usually follows finds it).
  virtual bool SharedBelow() const { return false; }
  // Keys held below L1 (for LIST), in no particular order.
  virtual std::vector<std::string> Keys() = 0;
};

}  // namespace lmc::protocol
