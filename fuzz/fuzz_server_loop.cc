// The real server (server::Server: accept loop, connections, stall timers,
// the sessions) over the simulated network (simnet/), with up to four
// connections whose bytes come from the input, under partial reads, split
// segments and small windows the input turns on. One simulated world per
// input, so every run is deterministic and replays.
//
// Input: [stream length: u16 LE][request stream][control bytes] (the stream
// format of fuzz_server_session, with its structure-aware mutator). The
// stream is split into requests (a header, then a PUT's declared payload);
// control byte 0 sets the connections (1..4) and the faults; control byte
// 1 + i sends request i on connection (byte % connections); byte 1 + i also
// chooses, for one request in eight, that its connection is closed there
// (inside the request or after it) or never reads a reply (a peer the
// stall deadline must deal with).
//
// Oracles:
// - every connection's reply stream is well framed (headers decode, codes
//   200 or 400, bodies as long as declared), with no more replies than the
//   requests the connection sent, and a connection the server keeps open
//   and the client reads is not left mid-reply once the network is quiet;
// - every object in L1 is, byte for byte, the payload of a PUT of its key
//   that some connection sent whole; L1 stays within its capacity;
// - once the clients have closed, the server holds no connection (a peer
//   that stopped reading among them); Stop() leaves no stream open on the
//   server's node; the world saw no wait on a loop or other violation of
//   the seam's rules.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "oracle.h"
#include "server/server.h"
#include "session_oracles.h"
#include "simnet/network.h"
#include "simnet/sim_env.h"
#include "simnet/world.h"
#include "store/l1_store.h"
#include "stream_mutator.h"
#include "wire/headers.h"

namespace {

namespace net = lmc::net;
namespace simnet = lmc::simnet;
namespace wire = lmc::wire;
using lmc::store::L1Store;
using namespace std::chrono_literals;

constexpr std::size_t kCapacity = 64 << 10;
constexpr std::uint16_t kPort = 7000;
constexpr auto kStall = 2s;

enum class Ending : std::uint8_t { kNone, kCloseEarly, kStopReading };

// One client connection: writes its requests one after the other and reads
// every reply byte into its reply stream.
struct Peer {
  std::vector<std::byte> stream;  // the bytes it will send, in order
  std::size_t written = 0;
  std::size_t cut_at = SIZE_MAX;  // the connection ends once this many bytes are written
  Ending ending = Ending::kNone;
  std::unique_ptr<net::Stream> conn;
  bool write_done = false, read_done = false, closed = false;
  std::array<std::byte, 4096> buf{};
  lmc::fuzzing::ReplyStream replies;
  std::unique_ptr<lmc::fuzzing::CompletePuts> puts;

  void Start() {
    puts = std::make_unique<lmc::fuzzing::CompletePuts>(stream);
    WriteNext();
    if (ending != Ending::kStopReading) Read();
  }
  void WriteNext() {
    const std::size_t end = std::min(cut_at, stream.size());
    if (written >= end) {
      write_done = true;
      if (ending == Ending::kCloseEarly && cut_at <= stream.size()) CloseNow();
      return;
    }
    const std::span<const std::byte> part = std::span<const std::byte>(stream).subspan(written, end - written);
    const std::span<const std::byte> parts[1] = {part};
    conn->AsyncWrite(parts, [this](net::NetError e, std::size_t n) {
      written += n;
      puts->Delivered(written);
      if (e != net::NetError::kOk) {
        write_done = true;
        return;
      }
      WriteNext();
    });
  }
  void Read() {
    conn->AsyncReadSome(buf, [this](net::NetError e, std::size_t n) {
      if (e != net::NetError::kOk) {
        read_done = true;
        return;
      }
      replies.Add(std::span<const std::byte>(buf).first(n));
      Read();
    });
  }
  void CloseNow() {
    if (closed) return;
    closed = true;
    conn->Close();
  }
};

}  // namespace

LMC_FUZZ_STREAM_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lmc::fuzzing::CheckSplitInReplays({data, size});
  const lmc::fuzzing::StreamInput in = lmc::fuzzing::Split({data, size});
  const std::uint8_t setup = in.control.empty() ? 0 : in.control[0];
  const std::size_t conns = 1 + (setup & 3);

  simnet::World world(size * 2654435761u + setup);
  simnet::NetFaults faults;
  faults.partial_read_chance = (setup & 4) ? 0.5 : 0.0;
  faults.split_chance = (setup & 8) ? 0.5 : 0.0;
  faults.window_bytes = (setup & 16) ? 512 : std::size_t{64} << 10;
  simnet::Network network(world, faults);
  network.AddNode("server");
  network.AddNode("client");
  auto env = std::make_unique<simnet::SimEnv>(world, network.TransportOf("server"), nullptr, setup);

  static std::shared_ptr<L1Store> slot;
  const std::shared_ptr<L1Store> store = lmc::fuzzing::EmptiedStore(slot, kCapacity, kCapacity / 2);
  lmc::server::ServerOptions options;
  options.host = "server";
  options.port = kPort;
  options.stall_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kStall);
  options.limits.pending_output_bytes_max = 8 << 10;
  options.limits.list_body_bytes_max = 4096;
  auto server = std::make_unique<lmc::server::Server>(env->Net(), store, options);
  std::uint16_t port = 0;
  if (server->Start(&port) != net::NetError::kOk) LMC_ORACLE_FAIL("the server did not start");

  // Requests to connections, and where a connection ends.
  std::vector<Peer> peers(conns);
  for (std::size_t i = 0; i < in.requests.size(); ++i) {
    const std::uint8_t c = 1 + i < in.control.size() ? in.control[1 + i] : static_cast<std::uint8_t>(i);
    Peer& p = peers[c % conns];
    if (p.cut_at != SIZE_MAX) continue;  // it has ended
    const auto& r = in.requests[i];
    const std::size_t before = p.stream.size();
    for (const std::uint8_t b : r) p.stream.push_back(static_cast<std::byte>(b));
    if ((c >> 2) % 8 == 7 && p.ending == Ending::kNone) {
      if (c & 0x80) {
        p.ending = Ending::kStopReading;  // sends all its requests, reads no reply
      } else {
        p.ending = Ending::kCloseEarly;  // closed inside this request (a PUT cut short) or after it
        p.cut_at = (c & 0x40) ? before + (r.size() + 1) / 2 : p.stream.size();
      }
    }
  }
  for (Peer& p : peers) {
    network.TransportOf("client").AsyncConnect("server", kPort, [&p](net::NetError e, std::unique_ptr<net::Stream> s) {
      if (e != net::NetError::kOk) LMC_ORACLE_FAIL("a connect to the server failed");
      p.conn = std::move(s);
      p.Start();
    });
  }

  auto check_store = [&] {
    for (const std::string& key : store->Keys()) {
      const L1Store::ObjectRef o = store->Get(key);
      if (!o) continue;
      bool sent = false;
      for (const Peer& p : peers) sent = sent || (p.puts && p.puts->Has(key, *o));
      if (!sent) LMC_ORACLE_FAIL("an object in L1 that no connection sent whole as a PUT of its key");
    }
    if (store->Stats().used_bytes > kCapacity) LMC_ORACLE_FAIL("L1 holds more than its capacity");
  };
  auto check_replies = [&] {
    for (const Peer& p : peers) {
      if (p.replies.replies() > p.written / wire::kRequestHeaderBytes) LMC_ORACLE_FAIL("more replies than requests");
    }
  };

  // Everything written (or cut) and every reply in: a simulated minute at most.
  const auto writes_done = [&] {
    for (const Peer& p : peers) {
      if (!p.write_done) return false;
    }
    return true;
  };
  (void)world.RunUntil(writes_done, world.Now() + 60s);
  if (!writes_done()) LMC_ORACLE_FAIL("the writes never finished: the server stopped reading");
  world.RunQuiet(world.Now() + kStall / 2);  // replies drain; no stall deadline yet
  check_store();
  check_replies();
  for (const Peer& p : peers) {
    // Replies are written whole: one still open and read is never cut.
    if (p.ending == Ending::kNone && !p.read_done && p.replies.mid_reply())
      LMC_ORACLE_FAIL("a reply stream left mid-reply");
  }

  // The peers that read close now; one that stopped reading stays open for
  // a while (the server's stall deadline closes it if replies back up), then
  // closes too.
  for (Peer& p : peers) {
    if (p.ending != Ending::kStopReading) p.CloseNow();
  }
  world.RunQuiet(world.Now() + 4 * kStall);
  for (Peer& p : peers) p.CloseNow();
  world.RunQuiet(world.Now() + kStall);
  if (server->open_connections() != 0) LMC_ORACLE_FAIL("connections left open after every client closed");
  check_store();
  server->Stop();
  world.RunQuiet(world.Now() + kStall);
  if (network.NodeOf("server").open_streams != 0) LMC_ORACLE_FAIL("streams left open on the server's node after Stop");
  if (!world.violations().empty()) {
    LMC_ORACLE_FAIL("the world saw a violation of the seam's rules: " + world.violations().front());
  }
  for (Peer& p : peers) p.conn.reset();
  server.reset();
  env.reset();
  world.RunQuiet(world.Now() + kStall);
  return 0;
}
