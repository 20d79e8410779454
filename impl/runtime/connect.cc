#include "runtime/connect.h"

#include <mutex>

#include "base/mutex.h"

namespace lmc::runtime {

std::unique_ptr<net::Stream> ConnectUntil(Env& env, const std::string& host, std::uint16_t port,
                                          Clock::time_point limit, net::NetError* error) {
  struct Connecting {
    base::Mutex mu;
    bool abandoned = false;
    bool done = false;
    net::NetError error = net::NetError::kOk;
    std::unique_ptr<net::Stream> stream;
    std::unique_ptr<Waiter> ready;
  };
  auto c = std::make_shared<Connecting>();
  c->ready = env.MakeWaiter();
  env.Net().AsyncConnect(host, port, [c](net::NetError e, std::unique_ptr<net::Stream> s) {
    std::lock_guard hold(c->mu);
    c->done = true;
    c->error = e;
    if (e == net::NetError::kOk && !c->abandoned) c->stream = std::move(s);  // else a late stream is dropped here
    c->ready->Notify();
  });
  (void)c->ready->WaitUntil(limit);
  std::lock_guard hold(c->mu);
  if (!c->done) {
    c->abandoned = true;
    *error = net::NetError::kTimedOut;
    return nullptr;
  }
  *error = c->error;
  return std::move(c->stream);
}

}  // namespace lmc::runtime
