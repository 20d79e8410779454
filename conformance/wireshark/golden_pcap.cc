// lmcache-golden-pcap: wraps the golden fixtures in TCP streams, so that a
// dissector can be checked against them (conformance/wireshark/
// dissector_test.py):
//
//   lmcache-golden-pcap MANIFEST OUT.pcap
//
// One connection per fixture, in this order, each ending with a FIN from
// either side:
//   - every request header (kind "client"): the client sends it, then a
//     PUT's payload when 0 < length <= 1 MiB (bytes 0x5a);
//   - every reply header (kind "server"): the client sends the golden GET,
//     the server answers with the fixture, then a SUCCESS reply's body when
//     0 < length <= 1 MiB;
//   - every key (kind "key") of at most 150 bytes: a GET whose key field is
//     the key, padded with spaces.
// --help and --version as the kit's tools. Exit status 0, 1 when a file
// cannot be read or written, 2 on a usage error.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/version.h"
#include "pcap/pcap.h"

namespace {

constexpr std::size_t kBodyMax = std::size_t{1} << 20;

std::int32_t I32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return static_cast<std::int32_t>(v);
}

bool Read(const std::filesystem::path& p, std::string* out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr std::string_view kUsage = "usage: lmcache-golden-pcap MANIFEST OUT.pcap\n";
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "lmcache-golden-pcap " << lmc::base::kKitVersion << " (" << lmc::base::kProtocolRevision << ")\n";
    return 0;
  }
  if (argc != 3) {
    std::cerr << kUsage;
    return 2;
  }
  const std::filesystem::path manifest_path = argv[1];
  std::string text;
  if (!Read(manifest_path, &text)) {
    std::cerr << "lmcache-golden-pcap: cannot read " << manifest_path << "\n";
    return 1;
  }
  const nlohmann::json manifest = nlohmann::json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("testGroups")) {
    std::cerr << "lmcache-golden-pcap: " << manifest_path << " is not a golden manifest\n";
    return 1;
  }
  const std::filesystem::path dir = manifest_path.parent_path();
  auto tests_of = [&](const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (const auto& g : manifest["testGroups"]) {
      if (g.value("kind", "") != kind) continue;
      for (const auto& t : g["tests"]) out.push_back(t);
    }
    return out;
  };
  std::string get_request;
  for (const auto& t : tests_of("client")) {
    if (t["id"] == "client-get-dummy" && !Read(dir / t["file"].get<std::string>(), &get_request)) return 1;
  }
  if (get_request.size() != 186) {
    std::cerr << "lmcache-golden-pcap: the manifest has no client-get-dummy fixture\n";
    return 1;
  }

  lmc::pcap::TcpCapture cap;
  std::int64_t t = 1'700'000'000'000'000;  // a fixed start: the file is the same every run
  std::uint16_t port = 30000;
  using lmc::pcap::Side;
  auto stream = [&](const std::string& request, const std::string& reply) {
    const int c = cap.Open({lmc::pcap::Ipv4(127, 0, 0, 1), port++}, {lmc::pcap::Ipv4(127, 0, 0, 2), 65432}, t);
    cap.Data(c, Side::kClient, request, t += 100);
    if (!reply.empty()) cap.Data(c, Side::kServer, reply, t += 100);
    cap.Fin(c, Side::kClient, t += 100);
    cap.Fin(c, Side::kServer, t += 100);
    t += 1000;
  };
  // A header fixture of `size` bytes, then its body when its first int is
  // `with_body` (PUT, SUCCESS) and 0 < length <= 1 MiB.
  auto message = [&](const nlohmann::json& f, std::size_t size, std::int32_t with_body, std::string* out) {
    if (!Read(dir / f["file"].get<std::string>(), out) || out->size() != size) {
      std::cerr << "lmcache-golden-pcap: " << f["file"].get<std::string>() << " is not a " << size << "-byte header\n";
      return false;
    }
    const std::int32_t length = I32(*out, 4);
    if (I32(*out, 0) == with_body && length > 0 && static_cast<std::size_t>(length) <= kBodyMax) {
      out->append(static_cast<std::size_t>(length), '\x5a');
    }
    return true;
  };
  for (const auto& f : tests_of("client")) {
    std::string bytes;
    if (!message(f, 186, 1, &bytes)) return 1;
    stream(bytes, "");
  }
  for (const auto& f : tests_of("server")) {
    std::string bytes;
    if (!message(f, 36, 200, &bytes)) return 1;
    stream(get_request, bytes);
  }
  for (const auto& f : tests_of("key")) {
    std::string key;
    if (!Read(dir / f["file"].get<std::string>(), &key)) return 1;
    if (key.size() > 150) continue;
    std::string request = get_request.substr(0, 36) + key;
    request.resize(186, ' ');
    stream(request, "");
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out << cap.Bytes();
  out.close();
  if (!out) {
    std::cerr << "lmcache-golden-pcap: cannot write " << argv[2] << "\n";
    return 1;
  }
  std::cout << "lmcache-golden-pcap: " << cap.connection_count() << " streams, " << cap.packet_count() << " packets in "
            << argv[2] << "\n";
  return 0;
}
