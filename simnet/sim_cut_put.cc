#include "simnet/sim.h"

namespace lmc::simnet::internal {

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

  // Connect.
  struct Box {
    std::unique_ptr<runtime::Waiter> w;
    NetError e = NetError::kOther;
    std::size_t n = 0;
    std::unique_ptr<net::Stream> stream;
  };
  auto box = std::make_shared<Box>();
  box->w = env.MakeWaiter();
  env.Net().AsyncConnect(kServer, kPort, [box](NetError e, std::unique_ptr<net::Stream> s) {
    box->e = e;
    box->stream = std::move(s);
    box->w->Notify();
  });
  if (!box->w->WaitUntil(deadline) || box->e != NetError::kOk) return;
  std::unique_ptr<net::Stream> stream = std::move(box->stream);
  auto wrote = std::make_shared<Box>();
  wrote->w = env.MakeWaiter();
  const std::span<const std::byte> parts[2] = {header, std::span(value).first(sent)};
  stream->AsyncWrite(parts, [wrote](NetError e, std::size_t n) {
    wrote->e = e;
    wrote->n = n;
    wrote->w->Notify();
  });
  if (!wrote->w->WaitUntil(deadline) || wrote->e != NetError::kOk) {
    stream->Close();
    return;
  }
  if (world_.sched_rng().Chance(0.5)) {
    stream->Close();  // the sender goes away mid-payload
    return;
  }
  // The sender stalls: the server must close the connection by its stall
  // deadline (the read then ends with EOF or a reset).
  auto read = std::make_shared<Box>();
  read->w = env.MakeWaiter();
  auto buf = std::make_shared<std::array<std::byte, 64>>();
  stream->AsyncReadSome(*buf, [read, buf](NetError e, std::size_t n) {
    read->e = e;
    read->n = n;
    read->w->Notify();
  });
  if (read->w->WaitUntil(env.Now() + s_.stall_timeout * 3 + std::chrono::seconds(2))) {
    if (read->e == NetError::kEof || read->e == NetError::kReset) Probe("path: a stalled PUT closed by the deadline");
  } else if (server_up_ && healed_) {
    Fail("client " + std::to_string(c) + ": a PUT stalled mid-payload was not closed within 3 stall deadlines");
  }
  stream->Close();
}

void Sim::DoSlowGet(SimEnv& env, int c, const Op& op) {
  wire::RequestHeader h;
  h.command = static_cast<std::int32_t>(wire::Command::kGet);
  h.fmt = 1;
  h.dtype = 2;
  if (h.key.Assign(KeyName(op.key)) != wire::WireError::kOk) return Fail("a key the wire refuses");
  std::array<std::byte, wire::kRequestHeaderBytes> header{};
  wire::EncodeRequest(h, header);
  const Time deadline = env.Now() + s_.call_timeout;
  struct Box {
    std::unique_ptr<runtime::Waiter> w;
    NetError e = NetError::kOther;
    std::size_t n = 0;
    std::unique_ptr<net::Stream> stream;
  };
  auto box = std::make_shared<Box>();
  box->w = env.MakeWaiter();
  env.Net().AsyncConnect(kServer, kPort, [box](NetError e, std::unique_ptr<net::Stream> s) {
    box->e = e;
    box->stream = std::move(s);
    box->w->Notify();
  });
  if (!box->w->WaitUntil(deadline) || box->e != NetError::kOk) return;
  std::unique_ptr<net::Stream> stream = std::move(box->stream);
  auto wrote = std::make_shared<Box>();
  wrote->w = env.MakeWaiter();
  const std::span<const std::byte> parts[1] = {header};
  stream->AsyncWrite(parts, [wrote](NetError e, std::size_t n) {
    wrote->e = e;
    wrote->n = n;
    wrote->w->Notify();
  });
  if (!wrote->w->WaitUntil(deadline) || wrote->e != NetError::kOk) {
    stream->Close();
    return;
  }
  // Read none of the reply, or a random part of it (the header, some body).
  const std::size_t want = world_.sched_rng().Chance(0.5) ? 0 : 1 + world_.sched_rng().Below(4096);
  auto buf = std::make_shared<std::vector<std::byte>>(std::max<std::size_t>(want, 1));
  std::size_t got = 0;
  while (got < want) {
    auto read = std::make_shared<Box>();
    read->w = env.MakeWaiter();
    stream->AsyncReadSome(std::span(*buf).subspan(got), [read](NetError e, std::size_t n) {
      read->e = e;
      read->n = n;
      read->w->Notify();
    });
    if (!read->w->WaitUntil(deadline) || read->e != NetError::kOk) {
      stream->Close();
      return;
    }
    got += read->n;
  }
  if (world_.sched_rng().Chance(0.5)) {
    stream->Close();  // the reader goes away mid-reply
    return;
  }
  // The reader stalls. A reply small enough to sit in the network's window
  // is written whole (nothing waits on the reader); a larger one stalls the
  // server's write, and its stall deadline must close the connection.
  env.SleepUntil(env.Now() + s_.stall_timeout * 3 + std::chrono::seconds(2));
  // Then what the window holds, up to the end the server's close made.
  auto rest = std::make_shared<std::array<std::byte, 4096>>();
  for (int reads = 0; reads < 4096; ++reads) {
    auto read = std::make_shared<Box>();
    read->w = env.MakeWaiter();
    stream->AsyncReadSome(*rest, [read, rest](NetError e, std::size_t n) {
      read->e = e;
      read->n = n;
      read->w->Notify();
    });
    if (!read->w->WaitUntil(env.Now() + std::chrono::milliseconds(100))) break;  // open and idle: whole reply sent
    if (read->e == NetError::kEof || read->e == NetError::kReset) {
      Probe("path: a reader that stopped reading closed by the deadline");
      break;
    }
    if (read->e != NetError::kOk) break;
  }
  stream->Close();
  (void)c;
}

}  // namespace lmc::simnet::internal
