// lmcache-client: one lm:// call from the command line, for people and
// scripts.
//
//   lmcache-client [--url lm://HOST:PORT] [--timeout-ms N] put KEY FILE [--fmt N] [--dtype N] [--shape A,B,C,D]
//   lmcache-client [...] get KEY FILE        (FILE '-' is stdout)
//   lmcache-client [...] exist KEY | list | health
//
// Exit status: 0 success, hit or present; 1 miss or absent; 2 any error
// (connection, deadline, bad reply, bad arguments), with a one-line reason
// on stderr. A PUT has no reply in the protocol, so `put` confirms with an
// EXIST on the same connection and fails if the server did not store it.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>

#include "client/client.h"
#include "runtime/process_env.h"
#include "tools/cli.h"

namespace {

constexpr int kOk = 0, kMiss = 1, kError = 2;

int Fail(const std::string& reason) {
  std::cerr << "lmcache-client: " << reason << "\n";
  return kError;
}

bool ReadAll(const std::string& path, std::vector<std::byte>* out, std::string* error) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = "cannot open " + path;
    return false;
  }
  std::array<char, 1 << 16> buf;
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    const auto* p = reinterpret_cast<const std::byte*>(buf.data());
    out->insert(out->end(), p, p + n);
    if (out->size() > static_cast<std::size_t>(INT32_MAX)) {
      *error = "payload larger than 2^31-1 bytes";
      if (f != stdin) std::fclose(f);
      return false;
    }
  }
  const bool ok = std::ferror(f) == 0;
  if (f != stdin) std::fclose(f);
  if (!ok) *error = "cannot read " + path;
  return ok;
}

bool WriteAll(const std::string& path, std::span<const std::byte> data) {
  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size() && std::fflush(f) == 0;
  if (f != stdout) return std::fclose(f) == 0 && ok;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lmcache-client: one call to an lm:// server"};
  static_assert(kError == lmc::tools::kExitUsage, "a usage error exits as any other error does");
  lmc::tools::SetConventions(app, "lmcache-client",
                             "0 success, hit or present; 1 miss or absent; 2 any error (usage, connection, "
                             "deadline, bad reply), with a one-line reason on stderr.");
  app.require_subcommand(1);
  std::string url = "lm://127.0.0.1:65432";
  std::uint64_t timeout_ms = 10000;
  app.add_option("--url", url, "server address")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "deadline of the whole call, retries included")->capture_default_str();

  std::string key, file;
  std::int32_t fmt = 5, dtype = 0;  // a byte buffer: BINARY_BUFFER, dtype None (spec §2.5)
  std::vector<std::int32_t> shape;
  auto* put = app.add_subcommand("put", "store FILE ('-' for stdin) under KEY");
  put->add_option("key", key, "cache key")->required();
  put->add_option("file", file, "payload file, '-' for stdin")->required();
  put->add_option("--fmt", fmt, "MemoryFormat code (default 5, BINARY_BUFFER)");
  put->add_option("--dtype", dtype, "dtype code (default 0, None)");
  put->add_option("--shape", shape, "up to four dims, padded with zeros (default: [payload bytes,0,0,0])")
      ->delimiter(',')
      ->expected(1, 4);
  auto* get = app.add_subcommand("get", "fetch KEY into FILE ('-' for stdout)");
  get->add_option("key", key, "cache key")->required();
  get->add_option("file", file, "output file, '-' for stdout")->required();
  auto* exist = app.add_subcommand("exist", "is KEY stored? (exit 0 present, 1 absent)");
  exist->add_option("key", key, "cache key")->required();
  auto* list = app.add_subcommand("list", "print every stored key, one per line");
  auto* health = app.add_subcommand("health", "is the server alive? (exit 0 yes)");

  if (const auto status = lmc::tools::Parse(app, argc, argv)) return *status;

  lmc::client::ClientOptions options;
  if (!lmc::client::ParseLmUrl(url, &options.host, &options.port))
    return Fail("bad --url '" + url + "' (want lm://HOST:PORT)");
  options.call_timeout = std::chrono::milliseconds(timeout_ms);
  lmc::runtime::ProcessEnv env({1, 0});  // one loop thread, one worker
  lmc::client::Client client(env, options);
  const auto error = [](const lmc::client::CallResult& r) {
    return Fail(std::string(lmc::client::CallStatusName(r.status)));
  };
  using lmc::client::CallStatus;

  int status = kError;
  if (*put) {
    std::vector<std::byte> payload;
    std::string reason;
    if (!ReadAll(file, &payload, &reason)) return Fail(reason);
    lmc::protocol::PutFields fields{fmt, dtype, {static_cast<std::int32_t>(payload.size()), 0, 0, 0}};
    if (!shape.empty()) {
      fields.shape = {0, 0, 0, 0};
      for (std::size_t i = 0; i < shape.size(); ++i) fields.shape[i] = shape[i];
    }
    const auto r = client.Put(key, fields, payload);
    if (r.status != CallStatus::kOk) return error(r);
    const auto check = client.Exist(key);
    if (check.status == CallStatus::kMiss)
      return Fail("the server did not store the object (a bad key, too large, or no room)");
    status = check.status == CallStatus::kOk ? kOk : error(check);
  } else if (*get) {
    const auto r = client.Get(key);
    if (r.status == CallStatus::kMiss) {
      status = kMiss;
    } else if (r.status != CallStatus::kOk) {
      return error(r);
    } else {
      status = WriteAll(file, r.body) ? kOk : Fail("cannot write " + file);
    }
  } else if (*exist || *health) {
    const auto r = *exist ? client.Exist(key) : client.Health();
    status = r.status == CallStatus::kOk ? kOk : r.status == CallStatus::kMiss ? kMiss : error(r);
  } else if (*list) {
    const auto r = client.List();
    if (r.status == CallStatus::kOk) {
      std::string text(reinterpret_cast<const char*>(r.body.data()), r.body.size());
      if (!text.empty()) std::cout << text << "\n";
      status = kOk;
    } else {
      status = r.status == CallStatus::kMiss ? kMiss : error(r);
    }
  }
  client.Close();
  return status;
}
