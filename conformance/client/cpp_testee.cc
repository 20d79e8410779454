// lmcache-conformance-testee-cpp: this kit's lm:// client (impl/client)
// behind client mode's line protocol (docs/CONFORMANCE.md, client mode), so
// that `lmcache-conformance client -- lmcache-conformance-testee-cpp` checks
// the kit's own client the way any other client is checked.
//
// It reads one JSON request per line on stdin, makes the call against
// LMCACHE_URL and writes one JSON result per line on stdout; it exits 0 when
// stdin closes (2 when LMCACHE_URL is missing or malformed).
//
//   --max-body-bytes N   the largest GET body the client accepts (default:
//                        the client's own, 2 GiB); a reply that claims more
//                        is an invalid reply and allocates nothing.
//   --help, --version    the usage (with the exit statuses), or the kit's
//                        version and protocol revision; exit 0.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/version.h"
#include "client/client.h"
#include "conformance/client/base64.h"
#include "conformance/client/line_json.h"
#include "runtime/process_env.h"

namespace {

using json = nlohmann::json;
using lmc::client::CallResult;
using lmc::client::CallStatus;
namespace b64 = lmc::conformance::base64;

constexpr std::int64_t kDefaultTimeoutMs = 10000;
constexpr std::int64_t kMaxTimeoutMs = 3600 * 1000;
// The client's own default, so the catalogue checks the client as users run
// it (its body buffer grows with the bytes that arrive, so a reply claiming
// 2 GiB - 1 costs only what the peer really sends).
const std::size_t kDefaultMaxBodyBytes = lmc::protocol::ClientLimits{}.body_bytes_max;

// Thrown for a request the adapter cannot make sense of; becomes ok:false.
struct BadRequest {
  std::string why;
};

json Error(const json& id, std::string_view why) { return {{"id", id}, {"ok", false}, {"error", why}}; }

std::string Text(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

const json& Field(const json& request, const char* name) {
  const auto it = request.find(name);
  if (it == request.end()) throw BadRequest{std::string("missing field '") + name + "'"};
  return *it;
}

std::string KeyOf(const json& request) {
  const json& k = Field(request, "key");
  if (!k.is_string()) throw BadRequest{"'key' must be a string"};
  return k.get<std::string>();
}

std::int32_t Int32Of(const json& request, const char* name) {
  const json& v = Field(request, name);
  if (!v.is_number_integer() || v.get<std::int64_t>() < INT32_MIN || v.get<std::int64_t>() > INT32_MAX) {
    throw BadRequest{std::string("'") + name + "' must be an int32"};
  }
  return static_cast<std::int32_t>(v.get<std::int64_t>());
}

// Lines from stdin through read(2) with a large buffer: request lines carry
// bodies of megabytes as base64, and iostreams read them a few KiB at a time.
class LineReader {
 public:
  bool Next(std::string* line) {
    for (;;) {
      const std::size_t nl = buf_.find('\n', scanned_);
      if (nl != std::string::npos) {
        line->assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        scanned_ = 0;
        return true;
      }
      scanned_ = buf_.size();
      if (eof_) {
        if (buf_.empty()) return false;
        *line = std::move(buf_);  // a last line without its newline
        buf_.clear();
        return true;
      }
      const std::size_t have = buf_.size();
      buf_.resize(have + kChunk);
      const ssize_t r = ::read(0, buf_.data() + have, kChunk);
      const int e = errno;
      buf_.resize(have + static_cast<std::size_t>(r > 0 ? r : 0));
      if (r == 0 || (r < 0 && e != EINTR)) eof_ = true;
    }
  }

 private:
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::string buf_;
  std::size_t scanned_ = 0;
  bool eof_ = false;
};

json ShapeJson(const lmc::wire::Shape& s) { return json::array({s[0], s[1], s[2], s[3]}); }

// One Client per call deadline: ClientOptions::call_timeout is fixed per
// Client, so a request with a new timeout_ms gets a new Client (and thus a
// new connection). Requests with the same timeout share one connection.
class Adapter {
 public:
  Adapter(std::string host, std::uint16_t port, std::size_t max_body_bytes)
      : host_(std::move(host)), port_(port), max_body_bytes_(max_body_bytes) {}
  ~Adapter() { client_.reset(); }

  json Handle(const json& request) {
    const json id = request.contains("id") ? request["id"] : json(nullptr);
    try {
      const json& op_field = Field(request, "op");
      if (!op_field.is_string()) throw BadRequest{"'op' must be a string"};
      const std::string op = op_field.get<std::string>();
      std::int64_t timeout_ms = kDefaultTimeoutMs;
      if (request.contains("timeout_ms")) {
        const json& t = request["timeout_ms"];
        if (!t.is_number_integer() || t.get<std::int64_t>() < 0 || t.get<std::int64_t>() > kMaxTimeoutMs) {
          throw BadRequest{"'timeout_ms' must be an integer from 0 to 3600000"};
        }
        timeout_ms = t.get<std::int64_t>();
      }
      if (op == "put") return Put(id, request, timeout_ms);
      if (op == "get") return Get(id, request, timeout_ms);
      if (op == "exist") return Exist(id, request, timeout_ms);
      if (op == "list") return List(id, timeout_ms);
      if (op == "health") return Health(id, timeout_ms);
      return Error(id, "unknown op '" + op + "'");
    } catch (const BadRequest& e) {
      return Error(id, e.why);
    } catch (const json::exception& e) {
      return Error(id, std::string("malformed request: ") + e.what());
    }
  }

 private:
  lmc::client::Client& ClientFor(std::int64_t timeout_ms) {
    if (!client_ || timeout_ms != timeout_ms_) {
      client_.reset();
      lmc::client::ClientOptions o;
      o.host = host_;
      o.port = port_;
      o.call_timeout = std::chrono::milliseconds(timeout_ms);
      o.limits.body_bytes_max = max_body_bytes_;
      client_ = std::make_unique<lmc::client::Client>(env_, o);
      timeout_ms_ = timeout_ms;
    }
    return *client_;
  }

  static json Failed(const json& id, const CallResult& r) {
    return Error(id, std::string(lmc::client::CallStatusName(r.status)));
  }

  json Put(const json& id, const json& request, std::int64_t timeout_ms) {
    const std::string key = KeyOf(request);
    const json& data = Field(request, "data");
    if (!data.is_string()) throw BadRequest{"'data' must be a base64 string"};
    const std::optional<std::string> bytes = b64::Decode(data.get_ref<const std::string&>());
    if (!bytes) throw BadRequest{"'data' is not standard padded base64"};
    lmc::protocol::PutFields fields;
    fields.fmt = Int32Of(request, "fmt");
    fields.dtype = Int32Of(request, "dtype");
    const json& shape = Field(request, "shape");
    if (!shape.is_array() || shape.size() != 4) throw BadRequest{"'shape' must be four int32"};
    for (std::size_t i = 0; i < 4; ++i) {
      if (!shape[i].is_number_integer()) throw BadRequest{"'shape' must be four int32"};
      const auto v = shape[i].get<std::int64_t>();
      if (v < INT32_MIN || v > INT32_MAX) throw BadRequest{"'shape' must be four int32"};
      fields.shape[i] = static_cast<std::int32_t>(v);
    }
    const CallResult r = ClientFor(timeout_ms).Put(key, fields, std::as_bytes(std::span(*bytes)));
    if (r.status != CallStatus::kOk) return Failed(id, r);
    return {{"id", id}, {"ok", true}};
  }

  json Get(const json& id, const json& request, std::int64_t timeout_ms) {
    const CallResult r = ClientFor(timeout_ms).Get(KeyOf(request));
    if (r.status == CallStatus::kMiss) return {{"id", id}, {"ok", true}, {"found", false}};
    if (r.status != CallStatus::kOk) return Failed(id, r);
    json result = {{"id", id},
                   {"ok", true},
                   {"found", true},
                   {"fmt", r.reply.fmt},
                   {"dtype", r.reply.dtype},
                   {"shape", ShapeJson(r.reply.shape)},
                   {"length", r.reply.length}};
    // Moved in: an initializer list would copy a body of megabytes.
    result["data"] = b64::Encode(std::string_view(reinterpret_cast<const char*>(r.body.data()), r.body.size()));
    return result;
  }

  json Exist(const json& id, const json& request, std::int64_t timeout_ms) {
    const CallResult r = ClientFor(timeout_ms).Exist(KeyOf(request));
    if (r.status != CallStatus::kOk && r.status != CallStatus::kMiss) return Failed(id, r);
    return {{"id", id}, {"ok", true}, {"found", r.status == CallStatus::kOk}};
  }

  json List(const json& id, std::int64_t timeout_ms) {
    const CallResult r = ClientFor(timeout_ms).List();
    if (r.status == CallStatus::kMiss) return Error(id, "the server answered LIST with FAIL");
    if (r.status != CallStatus::kOk) return Failed(id, r);
    json keys = json::array();
    const std::string body = Text(r.body);
    // '\n'-joined, no trailing newline; an empty body is an empty list.
    for (std::size_t at = 0; !body.empty();) {
      const std::size_t nl = body.find('\n', at);
      keys.push_back(body.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
    return {{"id", id}, {"ok", true}, {"keys", std::move(keys)}};
  }

  json Health(const json& id, std::int64_t timeout_ms) {
    const CallResult r = ClientFor(timeout_ms).Health();
    if (r.status == CallStatus::kMiss) return Error(id, "the server answered HEALTH with FAIL");
    if (r.status != CallStatus::kOk) return Failed(id, r);
    return {{"id", id}, {"ok", true}};
  }

  lmc::runtime::ProcessEnv env_{lmc::runtime::ProcessEnvOptions{1, 0}};  // one loop thread, one worker
  std::string host_;
  std::uint16_t port_;
  std::size_t max_body_bytes_;
  std::unique_ptr<lmc::client::Client> client_;
  std::int64_t timeout_ms_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  constexpr const char* kUsage =
      "usage: lmcache-conformance-testee-cpp [--max-body-bytes N]  (LMCACHE_URL=lm://HOST:PORT)\n"
      "       lmcache-conformance-testee-cpp --help | --version\n"
      "Client mode's testee for this kit's client (docs/CONFORMANCE.md): JSON requests on stdin, results on "
      "stdout.\n"
      "Exit status: 0 stdin closed; 2 usage error, or LMCACHE_URL missing or malformed.\n";
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << lmc::base::VersionLine("lmcache-conformance-testee-cpp") << "\n";
      return 0;
    } else if (a == "--max-body-bytes" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
        std::cerr << "lmcache-conformance-testee-cpp: --max-body-bytes wants a number of bytes, not '" << v << "'\n"
                  << kUsage;
        return 2;
      }
      max_body_bytes = static_cast<std::size_t>(std::stoull(v));
    } else {
      std::cerr << "lmcache-conformance-testee-cpp: bad argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  const char* url = std::getenv("LMCACHE_URL");
  std::string host;
  std::uint16_t port = 0;
  if (url == nullptr || !lmc::client::ParseLmUrl(url, &host, &port)) {
    std::cerr << "lmcache-conformance-testee-cpp: LMCACHE_URL must be lm://HOST:PORT\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  Adapter adapter(host, port, max_body_bytes);
  LineReader lines;
  for (std::string line; lines.Next(&line);) {
    const json request = lmc::conformance::line_json::Parse(std::move(line));
    const json result = request.is_object() ? adapter.Handle(request) : Error(nullptr, "request is not a JSON object");
    // Replace invalid UTF-8 (a key echoed in an error) rather than throw.
    std::cout << lmc::conformance::line_json::Dump(result) << '\n' << std::flush;
  }
  return 0;
}
