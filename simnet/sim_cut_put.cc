#include "simnet/sim.h"

namespace lmc::simnet::internal {
namespace {

// Blocking calls on a raw stream, from a simulated job: each waits until
// its deadline. The handler may still run after a timeout, so what it
// touches is shared with it (the buffer a read fills included).
struct Done {
  std::unique_ptr<runtime::Waiter> w;
  NetError e = NetError::kOther;
  std::size_t n = 0;
  std::unique_ptr<net::Stream> stream;
};

// A connection to the server, or null.
std::unique_ptr<net::Stream> Connect(SimEnv& env, Time deadline) {
  auto done = std::make_shared<Done>();
  done->w = env.MakeWaiter();
  env.Net().AsyncConnect(kServer, kPort, [done](NetError e, std::unique_ptr<net::Stream> s) {
    done->e = e;
    done->stream = std::move(s);
    done->w->Notify();
  });
  if (!done->w->WaitUntil(deadline) || done->e != NetError::kOk) return nullptr;
  return std::move(done->stream);
}

// True when all of `parts` was written by `deadline`.
bool Write(SimEnv& env, net::Stream& stream, std::span<const std::span<const std::byte>> parts, Time deadline) {
  auto done = std::make_shared<Done>();
  done->w = env.MakeWaiter();
  stream.AsyncWrite(parts, [done](NetError e, std::size_t n) {
    done->e = e;
    done->n = n;
    done->w->Notify();
  });
  return done->w->WaitUntil(deadline) && done->e == NetError::kOk;
}

// One read into `(*buf)[from..]`; nullopt when nothing came by `deadline`.
std::optional<std::pair<NetError, std::size_t>> ReadSome(SimEnv& env, net::Stream& stream,
                                                         const std::shared_ptr<std::vector<std::byte>>& buf,
                                                         std::size_t from, Time deadline) {
  auto done = std::make_shared<Done>();
  done->w = env.MakeWaiter();
  stream.AsyncReadSome(std::span(*buf).subspan(from), [done, buf](NetError e, std::size_t n) {
    done->e = e;
    done->n = n;
    done->w->Notify();
  });
  if (!done->w->WaitUntil(deadline)) return std::nullopt;
  return std::pair(done->e, done->n);
}

bool Closed(NetError e) { return e == NetError::kEof || e == NetError::kReset; }

}  // namespace

void Sim::DoCutPut(SimEnv& env, int c, const Op& op) {
  // A third of the raw connections are readers that stop reading instead
  // (drawn at run time: the scenario's draws stay those of earlier seeds).
  if (world_.sched_rng().Chance(0.33)) return DoSlowGet(env, c, op);
  const std::uint32_t elements = std::max<std::uint32_t>(op.elements, 4);
  const std::uint64_t id = next_id_++;
  const std::vector<std::byte> value = ValueOf(id, elements);
  cut_lengths_[op.key].push_back(elements);
  wire::RequestHeader h;
  h.command = static_cast<std::int32_t>(wire::Command::kPut);
  h.length = static_cast<std::int32_t>(value.size());
  h.fmt = 1;
  h.dtype = kBf16;
  h.shape = {static_cast<std::int32_t>(elements), 0, 0, 0};
  if (h.key.Assign(KeyName(op.key)) != wire::WireError::kOk) return Fail("a key the wire refuses");
  std::array<std::byte, wire::kRequestHeaderBytes> header{};
  wire::EncodeRequest(h, header);
  const std::size_t sent = world_.sched_rng().Below(value.size());  // of the payload, < all of it
  const Time deadline = env.Now() + s_.call_timeout;

  const std::unique_ptr<net::Stream> stream = Connect(env, deadline);
  if (!stream) return;
  const std::span<const std::byte> parts[2] = {header, std::span(value).first(sent)};
  if (!Write(env, *stream, parts, deadline)) return stream->Close();
  if (world_.sched_rng().Chance(0.5)) return stream->Close();  // the sender goes away mid-payload
  // The sender stalls: the server must close the connection by its stall
  // deadline (the read then ends with EOF or a reset).
  const auto read = ReadSome(env, *stream, std::make_shared<std::vector<std::byte>>(64), 0,
                             env.Now() + s_.stall_timeout * 3 + std::chrono::seconds(2));
  if (read) {
    if (Closed(read->first)) Probe("path: a stalled PUT closed by the deadline");
  } else if (server_up_ && healed_) {
    Fail("client " + std::to_string(c) + ": a PUT stalled mid-payload was not closed within 3 stall deadlines");
  }
  stream->Close();
}

std::unique_ptr<net::Stream> Sim::SendRawGet(SimEnv& env, int key, Time deadline) {
  wire::RequestHeader h;
  h.command = static_cast<std::int32_t>(wire::Command::kGet);
  h.fmt = 1;
  h.dtype = 2;
  if (h.key.Assign(KeyName(key)) != wire::WireError::kOk) {
    Fail("a key the wire refuses");
    return nullptr;
  }
  std::array<std::byte, wire::kRequestHeaderBytes> header{};
  wire::EncodeRequest(h, header);
  std::unique_ptr<net::Stream> stream = Connect(env, deadline);
  if (!stream) return nullptr;
  const std::span<const std::byte> parts[1] = {header};
  if (!Write(env, *stream, parts, deadline)) {
    stream->Close();
    return nullptr;
  }
  return stream;
}

void Sim::DoSlowGet(SimEnv& env, int c, const Op& op) {
  (void)c;
  const Time deadline = env.Now() + s_.call_timeout;
  const std::unique_ptr<net::Stream> stream = SendRawGet(env, op.key, deadline);
  if (!stream) return;
  // Read none of the reply, or a random part of it (the header, some body).
  const std::size_t want = world_.sched_rng().Chance(0.5) ? 0 : 1 + world_.sched_rng().Below(4096);
  const auto buf = std::make_shared<std::vector<std::byte>>(std::max<std::size_t>(want, 1));
  for (std::size_t got = 0; got < want;) {
    const auto read = ReadSome(env, *stream, buf, got, deadline);
    if (!read || read->first != NetError::kOk) return stream->Close();
    got += read->second;
  }
  if (world_.sched_rng().Chance(0.5)) return stream->Close();  // the reader goes away mid-reply
  // The reader stalls. A reply small enough to sit in the network's window
  // is written whole (nothing waits on the reader); a larger one stalls the
  // server's write, and its stall deadline must close the connection.
  env.SleepUntil(env.Now() + s_.stall_timeout * 3 + std::chrono::seconds(2));
  // Then what the window holds, up to the end the server's close made.
  const auto rest = std::make_shared<std::vector<std::byte>>(4096);
  for (int reads = 0; reads < 4096; ++reads) {
    const auto read = ReadSome(env, *stream, rest, 0, env.Now() + std::chrono::milliseconds(100));
    if (!read) break;  // open and idle: the whole reply was sent
    if (Closed(read->first)) {
      Probe("path: a reader that stopped reading closed by the deadline");
      break;
    }
    if (read->first != NetError::kOk) break;
  }
  stream->Close();
}

}  // namespace lmc::simnet::internal
