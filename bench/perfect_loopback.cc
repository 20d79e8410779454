// perfect_loopback: the loopback limit for real objects, for
// bench/server_vs_perfect.sh. Two halves, both speaking lm:// framing:
//
// The perfect server does nothing but move objects: it receives each PUT
// into its own buffer of the object's size, taken in turn from a store of
// --store-mb (as a new key per PUT lands in new memory, and a full store
// reuses the oldest), and answers each GET with one stored object, header
// and body in one writev. It reads the command and length of each 186-byte
// header and nothing else: no key, no index, no copies beyond the kernel's.
//
// The perfect client makes the fewest calls an object allows: a PUT's header
// and body in one writev, a GET's reply read with recv(MSG_WAITALL) into one
// buffer. It sends from one payload and receives into one buffer, as
// lmcache-bench --keys 1 does. Without --port it forks the perfect server
// and drives it; with --port it drives any lm:// server on 127.0.0.1 (the
// same client against every server isolates the servers).
//
// Each connection first makes an untimed warm pass of --store-mb / size
// objects (at least two), split over the connections: for PUT, PUTs; for
// GET, the PUTs of the keys it then GETs in turn. The clock starts when
// every connection is warm and stops when every connection's last request
// is answered (an EXIST after the last PUT, as PUT has no reply).
//
//   perfect_loopback put|get --size BYTES [--connections N] [--duration-s S]
//                    [--store-mb MB] [--keys fresh|one] [--port P]
//                    [--send writev|sndbuf|zerocopy|splice]
//
// --send picks how the perfect server sends a GET's body: one writev of
// header and body (the default), the same with SO_SNDBUF set to the reply's
// size, MSG_ZEROCOPY (waiting for each completion), or vmsplice into a pipe
// and splice to the socket.
//
// --keys fresh (the default) PUTs a new key per object, as LMCache writes a
// chunk; one overwrites one key per connection. Prints one JSON object:
// {"op", "size", "connections", "seconds", "objects", "gbps"} (GB/s, 1e9).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kRequestBytes = 186, kReplyBytes = 36, kKeyBytes = 150;
constexpr std::int32_t kPut = 1, kGet = 2, kExist = 3, kSuccess = 200;

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// Sends every byte of the iovecs, in as few calls as the kernel takes.
void SendAll(int fd, iovec* v, int n) {
  while (n > 0) {
    msghdr m{};
    m.msg_iov = v;
    m.msg_iovlen = static_cast<std::size_t>(n);
    const ssize_t k = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (k <= 0) Die("sendmsg");
    auto sent = static_cast<std::size_t>(k);
    while (n > 0 && sent >= v->iov_len) {
      sent -= v->iov_len;
      ++v;
      --n;
    }
    if (n > 0) {
      v->iov_base = static_cast<char*>(v->iov_base) + sent;
      v->iov_len -= sent;
    }
  }
}

// false on a clean EOF before the first byte.
bool RecvAll(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  const std::size_t want = n;
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, MSG_WAITALL);
    if (k == 0 && n == want) return false;
    if (k <= 0) Die("recv");
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

std::int32_t Int32At(const unsigned char* p, std::size_t i) {
  std::int32_t v;
  std::memcpy(&v, p + 4 * i, 4);  // little-endian, as the wire (x86)
  return v;
}

void PutInt32(unsigned char* p, std::size_t i, std::int32_t v) { std::memcpy(p + 4 * i, &v, 4); }

// Slots of `size` bytes in one region of about `store_bytes`, touched now.
struct Store {
  Store(std::size_t size, std::size_t store_bytes)
      : slot(size), slots(std::max<std::size_t>(1, store_bytes / size)), bytes(slot * slots) {
    std::memset(bytes.data(), 0x5A, bytes.size());
  }
  char* Next() { return bytes.data() + slot * (next++ % slots); }
  std::size_t slot, slots, next = 0;
  std::vector<char> bytes;
};

// How the perfect server sends a GET's body (--send): the ways of issue 27,
// measured at the limit, without the kit around them.
enum class Send { kWritev, kSndbuf, kZerocopy, kSplice };
Send g_send = Send::kWritev;

// MSG_ZEROCOPY: the header with a plain send, the body with MSG_ZEROCOPY,
// then wait for the kernel's completion (the body's pages are the kernel's
// until then); counts the sends the kernel copied all the same.
std::atomic<std::uint64_t> g_zerocopy_copied{0}, g_zerocopy_sends{0};
void SendZerocopy(int fd, const void* header, std::size_t hbytes, const char* body, std::size_t size) {
  iovec h{const_cast<void*>(header), hbytes};
  SendAll(fd, &h, 1);
  std::uint32_t sends = 0;
  for (std::size_t off = 0; off < size;) {
    const ssize_t k = ::send(fd, body + off, size - off, MSG_ZEROCOPY | MSG_NOSIGNAL);
    if (k < 0 && errno == ENOBUFS) continue;  // out of optmem: try again
    if (k <= 0) Die("send(MSG_ZEROCOPY)");
    off += static_cast<std::size_t>(k);
    ++sends;
  }
  // Every completion of this body's sends (ids run on per socket).
  static thread_local std::uint32_t next_id = 0;
  const std::uint32_t last = next_id + sends - 1;
  next_id += sends;
  for (bool done = false; !done;) {
    pollfd p{fd, 0, 0};
    ::poll(&p, 1, 1000);
    char control[128];
    msghdr m{};
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (::recvmsg(fd, &m, MSG_ERRQUEUE) < 0) continue;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      const auto* e = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
      if (e->ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
      g_zerocopy_sends += e->ee_data - e->ee_info + 1;
      if (e->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) g_zerocopy_copied += e->ee_data - e->ee_info + 1;
      done = e->ee_data >= last;
    }
  }
}

// vmsplice the body into a pipe (1 MiB), splice the pipe into the socket.
void SendSplice(int fd, const void* header, std::size_t hbytes, const char* body, std::size_t size, int pipe_r,
                int pipe_w) {
  iovec h{const_cast<void*>(header), hbytes};
  SendAll(fd, &h, 1);
  for (std::size_t off = 0; off < size;) {
    iovec v{const_cast<char*>(body + off), size - off};
    const ssize_t in = ::vmsplice(pipe_w, &v, 1, 0);
    if (in <= 0) Die("vmsplice");
    for (ssize_t left = in; left > 0;) {
      const ssize_t out = ::splice(pipe_r, nullptr, fd, nullptr, static_cast<std::size_t>(left), SPLICE_F_MORE);
      if (out <= 0) Die("splice");
      left -= out;
    }
    off += static_cast<std::size_t>(in);
  }
}

void Serve(int fd, std::size_t size, std::size_t store_bytes) {
  Store store(size, store_bytes);
  int pipe_fds[2] = {-1, -1};
  if (g_send == Send::kSndbuf) {
    const int bytes = static_cast<int>(std::min<std::size_t>(size + kReplyBytes, INT32_MAX / 2));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  } else if (g_send == Send::kZerocopy) {
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) != 0) Die("SO_ZEROCOPY");
  } else if (g_send == Send::kSplice) {
    if (::pipe(pipe_fds) != 0) Die("pipe");
    ::fcntl(pipe_fds[1], F_SETPIPE_SZ, 1 << 20);
  }
  unsigned char request[kRequestBytes];
  unsigned char reply[kReplyBytes] = {};
  while (RecvAll(fd, request, sizeof request)) {
    const std::int32_t command = Int32At(request, 0);
    if (command == kPut) {
      if (static_cast<std::size_t>(Int32At(request, 1)) != size) Die("put size");
      RecvAll(fd, store.Next(), size);
    } else if (command == kGet) {
      PutInt32(reply, 0, kSuccess);
      PutInt32(reply, 1, static_cast<std::int32_t>(size));
      if (g_send == Send::kZerocopy) {
        SendZerocopy(fd, reply, sizeof reply, store.Next(), size);
      } else if (g_send == Send::kSplice) {
        SendSplice(fd, reply, sizeof reply, store.Next(), size, pipe_fds[0], pipe_fds[1]);
      } else {
        iovec v[2] = {{reply, sizeof reply}, {store.Next(), size}};
        SendAll(fd, v, 2);
      }
    } else {
      PutInt32(reply, 0, kSuccess);
      PutInt32(reply, 1, 0);
      iovec v[1] = {{reply, sizeof reply}};
      SendAll(fd, v, 1);
    }
  }
  ::close(fd);
}

int Listen(std::uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) Die("bind/listen");
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) Die("getsockname");
  *port = ntohs(a.sin_port);
  return fd;
}

void NoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int Connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("connect");
  NoDelay(fd);
  return fd;
}

// One connection's client.
class Driver {
 public:
  Driver(int fd, std::size_t conn, std::size_t size, bool fresh) : fd_(fd), conn_(conn), size_(size), fresh_(fresh) {
    payload_.assign(size, 0x33);
    buffer_.assign(size, 0);
  }

  void Put(std::uint64_t key) {
    Header(kPut, size_, key);
    iovec v[2] = {{header_, sizeof header_}, {payload_.data(), size_}};
    SendAll(fd_, v, 2);
  }

  void Get(std::uint64_t key) {
    Header(kGet, 0, key);
    iovec v[1] = {{header_, sizeof header_}};
    SendAll(fd_, v, 1);
    unsigned char reply[kReplyBytes];
    if (!RecvAll(fd_, reply, sizeof reply) || Int32At(reply, 0) != kSuccess ||
        static_cast<std::size_t>(Int32At(reply, 1)) != size_) {
      std::fprintf(stderr, "perfect_loopback: GET of key %llu did not return %zu bytes\n",
                   static_cast<unsigned long long>(key), size_);
      std::exit(1);
    }
    RecvAll(fd_, buffer_.data(), size_);
  }

  // An EXIST, answered after every request before it.
  void Sync() {
    Header(kExist, 0, 0);
    iovec v[1] = {{header_, sizeof header_}};
    SendAll(fd_, v, 1);
    unsigned char reply[kReplyBytes];
    if (!RecvAll(fd_, reply, sizeof reply)) Die("sync");
  }

  // `warm` objects untimed, then objects until `until`; returns the timed count.
  std::uint64_t Drive(bool put, std::uint64_t warm, std::atomic<std::size_t>* warmed, const std::atomic<bool>& go,
                      const Clock::time_point* until) {
    std::uint64_t next_key = 0;
    if (!put) {
      for (std::uint64_t k = 0; k < warm; ++k) Put(k);  // the keys to GET
    } else {
      for (std::uint64_t i = 0; i < warm; ++i) Put(fresh_ ? next_key++ : 0);
    }
    Sync();
    warmed->fetch_add(1);
    while (!go.load()) std::this_thread::yield();
    std::uint64_t timed = 0;
    while (Clock::now() < *until) {
      if (put) {
        Put(fresh_ ? next_key++ : 0);
      } else {
        Get(timed % warm);
      }
      ++timed;
    }
    Sync();
    return timed;
  }

 private:
  // A header as LMCache's client writes it: fmt 5, dtype 0, shape [size].
  void Header(std::int32_t command, std::size_t length, std::uint64_t key) {
    std::memset(header_, 0, 36);
    PutInt32(header_, 0, command);
    PutInt32(header_, 1, static_cast<std::int32_t>(length));
    PutInt32(header_, 2, 5);
    PutInt32(header_, 5, static_cast<std::int32_t>(size_));
    char text[kKeyBytes + 1];
    const int n = std::snprintf(text, sizeof text, "bench@%zu@%d@%llu@uint8", conn_, fresh_ ? 1 : 0,
                                static_cast<unsigned long long>(key));
    std::memset(header_ + 36, ' ', kKeyBytes);
    std::memcpy(header_ + 36, text, static_cast<std::size_t>(n));
  }

  int fd_;
  std::size_t conn_, size_;
  bool fresh_;
  unsigned char header_[kRequestBytes];
  std::vector<char> payload_, buffer_;
};

std::size_t ParseSize(std::string_view s) {
  char* end = nullptr;
  const std::string str(s);
  const double v = std::strtod(str.c_str(), &end);
  const std::string_view unit(end);
  const double mult = unit == "K" ? 1024.0 : unit == "M" ? 1048576.0 : unit == "G" ? 1073741824.0 : 1.0;
  if (v <= 0 || (!unit.empty() && mult == 1.0) || v * mult > 2147483647.0) {
    std::fprintf(stderr, "perfect_loopback: bad size '%s'\n", str.c_str());
    std::exit(2);
  }
  return static_cast<std::size_t>(v * mult);
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: perfect_loopback put|get --size BYTES [--connections N] [--duration-s S] [--store-mb MB]\n"
               "                        [--keys fresh|one] [--port P] [--send writev|sndbuf|zerocopy|splice]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string_view(argv[1]) != "put" && std::string_view(argv[1]) != "get")) Usage();
  const bool put = std::string_view(argv[1]) == "put";
  std::size_t size = 4 << 20, connections = 1, store_mb = 1024;
  unsigned long port_arg = 0;
  bool fresh = true;
  double duration_s = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i], value = argv[i + 1];
    if (flag == "--size") {
      size = ParseSize(value);
    } else if (flag == "--connections") {
      connections = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (flag == "--duration-s") {
      duration_s = std::strtod(argv[i + 1], nullptr);
    } else if (flag == "--store-mb") {
      store_mb = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (flag == "--port") {
      port_arg = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (flag == "--send" &&
               (value == "writev" || value == "sndbuf" || value == "zerocopy" || value == "splice")) {
      g_send = value == "sndbuf"     ? Send::kSndbuf
               : value == "zerocopy" ? Send::kZerocopy
               : value == "splice"   ? Send::kSplice
                                     : Send::kWritev;
    } else if (flag == "--keys" && (value == "fresh" || value == "one")) {
      fresh = value == "fresh";
    } else {
      Usage();
    }
  }
  if (argc % 2 != 0 || connections == 0 || connections > 64 || duration_s <= 0 || port_arg > 65535) Usage();
  const std::size_t store_bytes = (store_mb << 20) / connections;  // the server's store, shared out

  std::uint16_t port = static_cast<std::uint16_t>(port_arg);
  pid_t server = -1;
  if (port == 0) {
    const int listener = Listen(&port);
    server = ::fork();
    if (server < 0) Die("fork");
    if (server == 0) {
      std::vector<std::thread> threads;
      for (std::size_t c = 0; c < connections; ++c) {
        const int fd = ::accept(listener, nullptr, nullptr);
        if (fd < 0) Die("accept");
        NoDelay(fd);
        threads.emplace_back(Serve, fd, size, store_bytes);
      }
      for (auto& t : threads) t.join();
      if (g_send == Send::kZerocopy) {
        std::fprintf(stderr, "perfect server: %llu MSG_ZEROCOPY sends, %llu of them copied by the kernel\n",
                     static_cast<unsigned long long>(g_zerocopy_sends.load()),
                     static_cast<unsigned long long>(g_zerocopy_copied.load()));
      }
      std::_Exit(0);
    }
    ::close(listener);
  }

  const std::uint64_t warm = std::max<std::uint64_t>(2, store_bytes / size);
  std::atomic<bool> go{false};
  std::atomic<std::size_t> warmed{0};
  Clock::time_point until = Clock::time_point::max();
  std::vector<std::uint64_t> counts(connections);
  std::vector<std::thread> clients;
  std::vector<int> fds;
  for (std::size_t c = 0; c < connections; ++c) fds.push_back(Connect(port));
  for (std::size_t c = 0; c < connections; ++c) {
    clients.emplace_back([&, c] {
      Driver driver(fds[c], c, size, fresh);
      counts[c] = driver.Drive(put, warm, &warmed, go, &until);
    });
  }
  // The clock starts once every connection has finished its warm pass.
  while (warmed.load() != connections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = Clock::now();
  until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  go.store(true);
  for (auto& t : clients) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  for (const int fd : fds) ::close(fd);
  int status = 0;
  if (server > 0) ::waitpid(server, &status, 0);
  std::uint64_t objects = 0;
  for (const auto n : counts) objects += n;
  std::printf(
      "{\"op\": \"%s\", \"size\": %zu, \"connections\": %zu, \"seconds\": %.3f, \"objects\": %llu, \"gbps\": %.4f}\n",
      put ? "put" : "get", size, connections, secs, static_cast<unsigned long long>(objects),
      static_cast<double>(objects) * static_cast<double>(size) / secs / 1e9);
  return server < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : 1;
}
