#include "resp/mini_server.h"

#include <mutex>
#include <utility>

namespace lmc::resp {

using net::NetError;

struct MiniServer::Conn {
  std::unique_ptr<net::Stream> stream;
  ReplyReader reader{ReaderLimits{std::size_t{64} << 20, 16, (std::size_t{64} << 20) + 4096}};
  std::vector<std::byte> buffer = std::vector<std::byte>(std::size_t{64} << 10);
  std::string out;
  std::unique_ptr<net::Timer> timer;
  bool authed = false;
  bool asking = false;  // ASKING was the previous command
};

MiniServer::MiniServer(net::Transport& net, MiniServerOptions options) : net_(net), options_(std::move(options)) {}

MiniServer::~MiniServer() { Stop(); }

NetError MiniServer::Start(const std::string& host, std::uint16_t port, std::uint16_t* bound) {
  NetError e = NetError::kOk;
  std::unique_ptr<net::Listener> l = net_.Listen(host, port, &e);
  if (!l) return e;
  *bound = l->port();
  {
    std::lock_guard lock(mu_);
    listener_ = std::move(l);
  }
  Accept();
  return NetError::kOk;
}

void MiniServer::Accept() {
  std::lock_guard lock(mu_);
  if (!listener_) return;
  std::weak_ptr<bool> alive = alive_;
  listener_->AsyncAccept([this, alive](NetError e, std::unique_ptr<net::Stream> s) {
    if (!alive.lock() || e == NetError::kCancelled) return;
    if (e == NetError::kOk && s) {
      auto c = std::make_shared<Conn>();
      c->stream = std::move(s);
      c->timer = c->stream->MakeTimer();
      {
        std::lock_guard lock2(mu_);
        c->authed = options_.password.empty();
        conns_.push_back(c);
      }
      Serve(c);
    }
    Accept();
  });
}

void MiniServer::Serve(const std::shared_ptr<Conn>& c) {
  std::weak_ptr<bool> alive = alive_;
  c->stream->AsyncReadSome(c->buffer, [this, c, alive](NetError e, std::size_t n) {
    if (!alive.lock()) return;
    if (e != NetError::kOk || !c->reader.Feed(std::span(c->buffer).first(n))) return c->stream->Close();
    Reply request;
    for (;;) {
      const ReplyReader::Status s = c->reader.Next(&request);
      if (s == ReplyReader::Status::kError) {
        c->out += "-ERR Protocol error: " + c->reader.error() + "\r\n";
        break;
      }
      if (s == ReplyReader::Status::kNeedMore) break;
      c->out += Execute(*c, request);
    }
    const bool broken = c->reader.error().size() > 0;
    auto write = [this, c, alive, broken] {
      if (!alive.lock()) return;
      if (c->out.empty()) return Serve(c);
      auto out = std::make_shared<std::string>(std::move(c->out));
      c->out.clear();
      const std::span<const std::byte> one[] = {std::as_bytes(std::span(*out))};
      c->stream->AsyncWrite(one, [this, c, out, alive, broken](NetError we, std::size_t) {
        if (!alive.lock()) return;
        if (we != NetError::kOk || broken) return c->stream->Close();
        Serve(c);
      });
    };
    std::chrono::microseconds delay;
    {
      std::lock_guard lock(mu_);
      delay = options_.reply_delay;
    }
    if (delay.count() == 0 || c->out.empty()) return write();
    c->timer->AsyncWait(delay, [c, write](NetError te) {
      if (te != NetError::kOk) return c->stream->Close();
      write();
    });
  });
}

namespace {
std::string Bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
std::string Int(long long v) { return ":" + std::to_string(v) + "\r\n"; }
}  // namespace

std::string MiniServer::Execute(Conn& c, const Reply& request) {
  if (request.type != Reply::Type::kArray || request.elements.empty()) return "-ERR Protocol error\r\n";
  std::vector<const std::string*> args;
  for (const Reply& a : request.elements) {
    if (a.type != Reply::Type::kString) return "-ERR Protocol error: expected a bulk string\r\n";
    args.push_back(&a.str);
  }
  std::string cmd = *args[0];
  for (char& ch : cmd) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
  std::lock_guard lock(mu_);
  ++commands_;
  auto arity = [&](std::size_t n) { return args.size() == n; };
  if (cmd == "AUTH") {
    if (!arity(2) && !arity(3)) return "-ERR wrong number of arguments for 'auth' command\r\n";
    if (options_.password.empty()) return "-ERR AUTH called without any password configured\r\n";
    const bool user_ok = arity(2) || *args[1] == "default";
    c.authed = user_ok && *args.back() == options_.password;
    return c.authed ? "+OK\r\n" : "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
  }
  if (!c.authed) return "-NOAUTH Authentication required.\r\n";
  const bool asking = std::exchange(c.asking, false);
  if (cmd == "PING") return "+PONG\r\n";
  if (cmd == "ASKING") {
    c.asking = true;
    return "+OK\r\n";
  }
  if (cmd == "CLUSTER") {
    if (options_.cluster_slots.empty()) return "-ERR This instance has cluster support disabled\r\n";
    return options_.cluster_slots;
  }
  const bool key_command = cmd == "SET" || cmd == "GET" || cmd == "EXISTS" || cmd == "DEL";
  if (key_command && !options_.redirect.empty() && !(asking && options_.redirect.rfind("ASK ", 0) == 0))
    return "-" + options_.redirect + "\r\n";
  if (cmd == "DBSIZE") return Int(static_cast<long long>(data_.size()));
  if (cmd == "FLUSHALL") {
    data_.clear();
    return "+OK\r\n";
  }
  if (cmd == "SET") {
    if (!arity(3)) return "-ERR wrong number of arguments for 'set' command\r\n";
    if (args[2]->size() > options_.max_value_bytes) return "-ERR value over the node's limit\r\n";
    data_[*args[1]] = *args[2];
    return "+OK\r\n";
  }
  if (cmd == "GET") {
    if (!arity(2)) return "-ERR wrong number of arguments for 'get' command\r\n";
    const auto it = data_.find(*args[1]);
    return it == data_.end() ? "$-1\r\n" : Bulk(it->second);
  }
  if (cmd == "EXISTS" || cmd == "DEL") {
    if (args.size() < 2) return "-ERR wrong number of arguments\r\n";
    long long n = 0;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (cmd == "DEL") {
        n += static_cast<long long>(data_.erase(*args[i]));
      } else {
        n += static_cast<long long>(data_.count(*args[i]));
      }
    }
    return Int(n);
  }
  return "-ERR unknown command '" + *args[0] + "'\r\n";
}

void MiniServer::Stop() {
  std::vector<std::weak_ptr<Conn>> conns;
  std::unique_ptr<net::Listener> l;
  {
    std::lock_guard lock(mu_);
    l = std::move(listener_);
    conns.swap(conns_);
  }
  if (l) l->Close();
  for (const auto& w : conns)
    if (auto c = w.lock()) c->stream->Close();
}

void MiniServer::Save() {
  std::lock_guard lock(mu_);
  saved_ = data_;
}

void MiniServer::Restart() {
  std::vector<std::weak_ptr<Conn>> conns;
  {
    std::lock_guard lock(mu_);
    data_ = saved_;
    conns.swap(conns_);
  }
  for (const auto& w : conns)
    if (auto c = w.lock()) c->stream->Close();
}

void MiniServer::SetReplyDelay(std::chrono::microseconds d) {
  std::lock_guard lock(mu_);
  options_.reply_delay = d;
}

std::size_t MiniServer::size() const {
  std::lock_guard lock(mu_);
  return data_.size();
}

std::uint64_t MiniServer::commands() const {
  std::lock_guard lock(mu_);
  return commands_;
}

}  // namespace lmc::resp
