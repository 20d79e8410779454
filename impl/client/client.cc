#include "client/client.h"

#include <array>
#include <atomic>
#include <map>

#include "base/mutex.h"
#include "base/plant.h"
#include "net/address.h"
#include "runtime/connect.h"

namespace lmc::client {

using net::NetError;
using protocol::ClientStatus;
using protocol::Completion;

std::string_view CallStatusName(CallStatus s) {
  switch (s) {
    case CallStatus::kOk: return "ok";
    case CallStatus::kMiss: return "miss";
    case CallStatus::kInvalidReply: return "invalid reply";
    case CallStatus::kTimedOut: return "deadline exceeded";
    case CallStatus::kUnavailable: return "server unavailable";
    case CallStatus::kBadRequest: return "bad request";
    case CallStatus::kClientClosed: return "client closed";
  }
  return "?";
}

namespace {
CallStatus FromSession(ClientStatus s) {
  switch (s) {
    case ClientStatus::kOk: return CallStatus::kOk;
    case ClientStatus::kMiss: return CallStatus::kMiss;
    case ClientStatus::kInvalidReply: return CallStatus::kInvalidReply;
    case ClientStatus::kClosed: return CallStatus::kUnavailable;
    case ClientStatus::kBadRequest: return CallStatus::kBadRequest;
  }
  return CallStatus::kUnavailable;
}

// A call's answer, handed from the connection's loop to the blocked caller.
struct Answer {
  base::Mutex mu;
  std::optional<CallResult> result;
  std::unique_ptr<runtime::Waiter> ready;
};
}  // namespace

// One connection: a ClientSession pumped on its stream's context. Requests
// arrive from any thread through Submit(); each gets a completion callback,
// run on the stream's context (a blocked call's waiter, or the caller's own).
class Client::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::unique_ptr<net::Stream> stream, protocol::ClientLimits limits)
      : stream_(std::move(stream)), session_(limits) {}

  void Submit(const Request& r, Callback done) {
    auto self = shared_from_this();
    stream_->Dispatch([self, r, done = std::move(done)]() mutable {
      std::uint64_t id = 0;
      switch (r.op) {
        case Op::kPut: id = self->session_.Put(r.key, r.fields, r.payload); break;
        case Op::kGet: id = self->session_.Get(r.key, r.into, r.on_body); break;
        case Op::kExist: id = self->session_.Exist(r.key); break;
        case Op::kList: id = self->session_.List(); break;
        case Op::kHealth: id = self->session_.Health(); break;
      }
      self->callbacks_.emplace(id, std::move(done));
      self->Deliver();
      self->Pump();
    });
  }

  // Discards the connection: pending calls complete as unavailable.
  void Close() {
    broken_ = true;
    auto self = shared_from_this();
    stream_->Dispatch([self] { self->Fail(); });
  }

  bool broken() const { return broken_; }

 private:
  void Pump() {
    if (finished_) return;
    if (!writing_ && session_.HasOutput()) {
      std::array<std::span<const std::byte>, 16> iov;
      const std::size_t k = session_.GatherWrites(iov);
      writing_ = true;
      auto self = shared_from_this();
      stream_->AsyncWrite(std::span(iov).first(k), [self](NetError e, std::size_t n) {
        self->writing_ = false;
        // Failed meanwhile (a read that ran first): its calls are answered.
        if (self->finished_) return;
        if (e != NetError::kOk) return self->Fail();
        self->session_.OnWritten(n);
        self->Deliver();
        self->Pump();
      });
    }
    if (!reading_) {
      const std::span<std::byte> buf = session_.ReadBuffer();
      if (!buf.empty()) {
        reading_ = true;
        stream_->SetReadLowWater(session_.CertainInputBytes());
        auto self = shared_from_this();
        stream_->AsyncReadSome(buf, [self](NetError e, std::size_t n) {
          self->reading_ = false;
          if (e != NetError::kOk) return self->Fail();
          self->session_.OnRead(n);
          self->Deliver();
          self->Pump();
        });
      }
    }
  }

  void Deliver() {
    while (std::optional<Completion> c = session_.PopCompletion()) {
      if (c->status == ClientStatus::kInvalidReply) Discard();
      const auto it = callbacks_.find(c->id);
      if (it == callbacks_.end()) continue;
      CallResult r;
      r.status = FromSession(c->status);
      r.reply = c->reply;
      r.body = std::move(c->body);
      r.in_place_bytes = c->in_place ? c->in_place_bytes : 0;
      if (c->status == ClientStatus::kInvalidReply) r.detail = session_.failure_detail();
      // Taken out first: the callback may submit more calls right here.
      Callback done = std::move(it->second);
      callbacks_.erase(it);
      done(std::move(r));
    }
  }

  void Discard() {
    broken_ = true;
    if (!finished_) {
      finished_ = true;
      stream_->Close();
    }
  }

  void Fail() {
    Discard();
    session_.OnClose();
    Deliver();
  }

  std::unique_ptr<net::Stream> stream_;
  protocol::ClientSession session_;
  std::map<std::uint64_t, Callback> callbacks_;
  bool reading_ = false;
  bool writing_ = false;
  bool finished_ = false;
  std::atomic<bool> broken_{false};
};

bool ParseLmUrl(std::string_view url, std::string* host, std::uint16_t* port) {
  constexpr std::string_view kScheme = "lm://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string h;
  std::uint16_t p = 0;
  if (!net::ParseHostPort(url.substr(kScheme.size()), &h, &p) || h.empty()) return false;
  *host = std::move(h);
  *port = p;
  return true;
}

Client::Client(runtime::Env& env, ClientOptions options) : env_(env), options_(std::move(options)) {}

Client::~Client() { Close(); }

void Client::Close() {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    c = std::move(connection_);
    connected_.NotifyAllLocked();  // callers waiting for a connect give up now
  }
  if (c) c->Close();
}

std::shared_ptr<Client::Connection> Client::Connected(net::Clock::time_point deadline, CallStatus* error) {
  std::unique_lock lock(mu_);
  // One caller connects at a time; the others wait for its outcome (each
  // within its own deadline), with mu_ released, so that Close() and calls
  // on a good connection are never held up by a reconnect.
  while (connecting_ && !closed_) {
    if (!connected_.Wait(env_, lock, deadline) && connecting_ && !closed_) {
      *error = CallStatus::kTimedOut;
      return nullptr;
    }
  }
  if (closed_) {
    *error = CallStatus::kClientClosed;
    return nullptr;
  }
  if (connection_ && (!connection_->broken() || plant::Active(plant::Bug::kClientKeepsBrokenConnection)))
    return connection_;
  connection_.reset();
  connecting_ = true;
  lock.unlock();

  const auto limit = std::min(deadline, env_.Now() + options_.connect_timeout);
  NetError connect_error = NetError::kOk;
  std::unique_ptr<net::Stream> stream =
      runtime::ConnectUntil(env_, options_.host, options_.port, limit, &connect_error);
  CallStatus failure = CallStatus::kUnavailable;
  if (!stream && connect_error == NetError::kTimedOut && env_.Now() >= deadline) failure = CallStatus::kTimedOut;

  lock.lock();
  connecting_ = false;
  connected_.NotifyAllLocked();
  if (closed_) {
    if (stream) stream->Close();
    *error = CallStatus::kClientClosed;
    return nullptr;
  }
  if (!stream) {
    *error = failure;
    return nullptr;
  }
  connection_ = std::make_shared<Connection>(std::move(stream), options_.limits);
  return connection_;
}

void Client::Start(const Request& r, net::Clock::time_point deadline, Callback done) {
  CallStatus error = CallStatus::kUnavailable;
  std::shared_ptr<Connection> c = Connected(deadline, &error);
  if (!c) {
    CallResult result;
    result.status = error;
    done(std::move(result));
    return;
  }
  c->Submit(r, std::move(done));
}

CallResult Client::Call(const Request& r) {
  const auto deadline = env_.Now() + options_.call_timeout;
  CallResult result;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    if (attempt > 1) {
      const std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(attempt - 2), options_.backoff.size() - 1);
      env_.SleepUntil(std::min(deadline, env_.Now() + options_.backoff[i]));
    }
    CallStatus error = CallStatus::kUnavailable;
    std::shared_ptr<Connection> c = Connected(deadline, &error);
    if (!c) {
      result.status = error;
    } else {
      auto answer = std::make_shared<Answer>();
      answer->ready = env_.MakeWaiter();
      c->Submit(r, [answer](CallResult got) {
        {
          std::lock_guard lock(answer->mu);
          answer->result = std::move(got);
        }
        answer->ready->Notify();
      });
      std::optional<CallResult> got;
      if (answer->ready->WaitUntil(deadline)) {
        std::lock_guard lock(answer->mu);
        got = std::move(answer->result);
      }
      if (!got) {
        c->Close();  // a reply may still come: the connection is out of step
        result.status = CallStatus::kTimedOut;
      } else {
        result = std::move(*got);
      }
    }
    result.attempts = attempt;
    {
      std::lock_guard lock(mu_);
      if (closed_) result.status = CallStatus::kClientClosed;
    }
    const bool retry = result.status == CallStatus::kUnavailable && env_.Now() < deadline;
    if (!retry) break;
  }
  return result;
}

CallResult Client::Put(std::string_view key, const protocol::PutFields& fields, std::span<const std::byte> payload) {
  return Call({Op::kPut, std::string(key), fields, payload, {}, {}});
}
CallResult Client::Get(std::string_view key) { return Call({Op::kGet, std::string(key), {}, {}, {}, {}}); }
CallResult Client::Get(std::string_view key, std::span<std::byte> into) {
  return Call({Op::kGet, std::string(key), {}, {}, into, {}});
}
CallResult Client::Exist(std::string_view key) { return Call({Op::kExist, std::string(key), {}, {}, {}, {}}); }
CallResult Client::List() { return Call({Op::kList, "", {}, {}, {}, {}}); }
CallResult Client::Health() { return Call({Op::kHealth, "@0@0@0@half", {}, {}, {}, {}}); }

void Client::GetAsync(std::string_view key, std::span<std::byte> into, protocol::BodyObserver on_body, Callback done) {
  Start({Op::kGet, std::string(key), {}, {}, into, std::move(on_body)}, env_.Now() + options_.call_timeout,
        std::move(done));
}
void Client::ExistAsync(std::string_view key, Callback done) {
  Start({Op::kExist, std::string(key), {}, {}, {}, {}}, env_.Now() + options_.call_timeout, std::move(done));
}
void Client::PutAsync(std::string_view key, const protocol::PutFields& fields, std::span<const std::byte> payload,
                      Callback done) {
  Start({Op::kPut, std::string(key), fields, payload, {}, {}}, env_.Now() + options_.call_timeout, std::move(done));
}

}  // namespace lmc::client
