// Uses the installed kit: decodes a golden request fixture with lmc::wire
// and prints its JSON form (lmc::wirejson), then PUTs and GETs an object on
// a running server through lmc::client.
//
//   consumer FIXTURE.bin PORT
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "client/client.h"
#include "runtime/process_env.h"
#include "wire/headers.h"
#include "wirejson/wire_json.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer FIXTURE.bin PORT\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  lmc::wire::RequestHeader h;
  if (lmc::wire::DecodeRequest(std::as_bytes(std::span(raw)), &h) != lmc::wire::WireError::kOk) {
    std::cerr << "consumer: the fixture does not decode\n";
    return 1;
  }
  std::cout << lmc::wirejson::ToJson(h).dump() << "\n";

  lmc::runtime::ProcessEnv env({1, 0});
  lmc::client::ClientOptions options;
  options.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  options.call_timeout = std::chrono::milliseconds(5000);
  int status = 0;
  {
    lmc::client::Client client(env, options);
    const std::string payload = "consumer payload";
    const auto put = client.Put(h.key.view(), {h.fmt, h.dtype, h.shape}, std::as_bytes(std::span(payload)));
    const auto got = client.Get(h.key.view());
    const std::string body(reinterpret_cast<const char*>(got.body.data()), got.body.size());
    if (put.status != lmc::client::CallStatus::kOk || got.status != lmc::client::CallStatus::kOk || body != payload) {
      std::cerr << "consumer: PUT/GET failed: " << lmc::client::CallStatusName(got.status) << "\n";
      status = 1;
    } else {
      std::cout << "GET " << h.key.view() << ": " << body << "\n";
    }
  }
  return status;
}
