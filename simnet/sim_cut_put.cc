#include "simnet/sim.h"

namespace lmc::simnet::internal {

void Sim::DoCutPut(SimEnv& env, int c, const Op& op) {
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

}  // namespace lmc::simnet::internal
