#include <gtest/gtest.h>
#include <poll.h>
#include <rapidcheck/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "l2/backends.h"
#include "l2/config.h"
#include "l2/kv_testdata.h"
#include "l2/resp_backend.h"
#include "l2/serde_wrapper.h"
#include "net/asio_transport.h"
#include "resp/mini_server.h"
#include "runtime/testing.h"
#include "serde/fp8.h"
#include "serde/registry.h"
#include "server/server.h"
#include "wire/text.h"

namespace lmc::l2 {
namespace {

namespace fs = std::filesystem;
using serde::DType;
using serde::Layout;

// A fresh folder under the build's temp dir, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lmc_l2_XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

ObjectKey Key(std::uint8_t last, std::string model = "test-model") {
  ObjectKey k;
  k.chunk_hash.assign(32, std::byte{0});
  k.chunk_hash[31] = std::byte{last};
  k.model_name = std::move(model);
  return k;
}

using runtime::TestEnv;

// Waits until `fd` (an adapter's completion fd) is readable or `timeout_ms`
// passes, then clears its count: what a caller outside the kit does.
bool WaitEventFd(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  std::uint64_t count;
  return ::read(fd, &count, sizeof count) == sizeof count;
}

std::vector<std::byte> Bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

// Waits (bounded) for a store task of `a` and returns its result.
bool StoreResult(L2Adapter& a, TaskId id) {
  for (int i = 0; i < 200; ++i) {
    auto done = a.PopCompletedStores();
    if (auto it = done.find(id); it != done.end()) return it->second;
    WaitEventFd(a.store_event_fd(), 50);
  }
  ADD_FAILURE() << "store task " << id << " did not complete in 10 s";
  return false;
}

LoadResult Load(L2Adapter& a, std::vector<LoadItem> items) {
  const TaskId id = a.SubmitLoad(std::move(items));
  for (int i = 0; i < 200; ++i) {
    if (auto r = a.QueryLoad(id)) return *r;
    WaitEventFd(a.load_event_fd(), 50);
  }
  ADD_FAILURE() << "load task " << id << " did not complete in 10 s";
  return {};
}

Bitmap Lookup(L2Adapter& a, std::vector<ObjectKey> keys) {
  const TaskId id = a.SubmitLookupAndLock(std::move(keys));
  for (int i = 0; i < 200; ++i) {
    if (auto r = a.QueryLookupAndLock(id)) return *r;
    WaitEventFd(a.lookup_event_fd(), 50);
  }
  ADD_FAILURE() << "lookup did not complete";
  return {};
}

std::shared_ptr<L2Adapter> Make(const nlohmann::json& config) {
  std::string error;
  auto a = MakeAdapter(config, TestEnv(), &error);
  EXPECT_TRUE(a) << error;
  return a;
}

Layout Bf16(std::vector<std::int64_t> shape) { return Layout{{{std::move(shape), DType::kBFloat16}}}; }

// ---- file names (serde.md §6.3) ----

TEST(FsFileName, MatchesLmcacheCodec) {
  EXPECT_EQ(FsFileName(Key(1)).value(),
            "test-model@0x00000000@0@0000000000000000000000000000000000000000000000000000000000000001.data");
  ObjectKey k = Key(2, "org/model");
  k.kv_rank = (2 << 24) | (1 << 16) | (1 << 8);
  k.object_group_id = 26;
  k.cache_salt = "tenant-a";
  EXPECT_EQ(
      FsFileName(k).value(),
      "org-SEP-model@0x02010100@1a@0000000000000000000000000000000000000000000000000000000000000002@tenant-a.data");
  k.kv_rank = 0x123456789;  // more than eight digits: "%#010x" widens
  EXPECT_EQ(FsFileName(k).value().substr(0, 26), "org-SEP-model@0x123456789@");
}

TEST(FsFileName, RefusesKeysThatCouldEscapeOrCollide) {
  for (std::string model : {std::string("a@b"), std::string("a\0b", 3), std::string("a\nb")})
    EXPECT_FALSE(FsFileName(Key(1, model))) << model;
  for (std::string salt :
       {std::string("../x"), std::string("a/b"), std::string("a\\b"), std::string("a@b"), std::string(129, 's')}) {
    ObjectKey k = Key(1);
    k.cache_salt = salt;
    EXPECT_FALSE(FsFileName(k)) << salt;
  }
  ObjectKey k = Key(1, std::string(200, 'm'));
  EXPECT_FALSE(FsFileName(k));  // over NAME_MAX once ".tmp" is added
  k = Key(1);
  k.kv_rank = -1;
  EXPECT_FALSE(FsFileName(k));
  // A model name of dots stays one file name inside the folder.
  EXPECT_EQ(FsFileName(Key(1, "..")).value().find('/'), std::string::npos);
}

TEST(FsFileName, ParsesBackWhatItWrites) {
  ObjectKey k = Key(7, "org/model");
  k.kv_rank = (2 << 24) | 5;
  k.object_group_id = 26;
  k.cache_salt = "run-1f";
  const std::string name = FsFileName(k).value();
  const std::optional<ObjectKey> back = ParseFsFileName(name);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->model_name, "org/model");
  EXPECT_EQ(back->kv_rank, k.kv_rank);
  EXPECT_EQ(back->object_group_id, 26);
  EXPECT_EQ(back->chunk_hash, k.chunk_hash);
  EXPECT_EQ(back->cache_salt, "run-1f");
  EXPECT_EQ(FsFileName(*back).value(), name);
  EXPECT_TRUE(ParseFsFileName(FsFileName(Key(1)).value()));  // no salt
  // Temp files, other files and names FsFileName would spell otherwise.
  for (const std::string& bad : {name + ".3.tmp", std::string("notes.txt"), std::string(".data"),
                                 std::string("m@0x00000000@0@0g.data"), std::string("m@0x0000000@0@01.data"),
                                 std::string("m@0X00000000@0@01.data"), std::string("m@0x00000000@00@01.data"),
                                 std::string("m@0x00000000@0@0A.data"), std::string("m@0x00000000@0@01@.data"),
                                 std::string("m@0x00000000@0@01@a@b.data"), std::string("m@0x00000000@0@001.data")}) {
    EXPECT_FALSE(ParseFsFileName(bad)) << bad;
  }
  EXPECT_TRUE(ParseFsFileName("m@0x00000000@0@01.data"));
}

RC_GTEST_PROP(FsFileName, EveryNameItWritesParsesBackToItsKey, ()) {
  ObjectKey k;
  k.model_name = *rc::gen::container<std::string>(rc::gen::elementOf(std::string("abcXYZ019-_./")));
  k.kv_rank = *rc::gen::inRange<std::int64_t>(0, std::int64_t{1} << 40);
  k.object_group_id = *rc::gen::inRange<std::int64_t>(0, 1 << 20);
  k.chunk_hash = *rc::gen::container<std::vector<std::byte>>(
      rc::gen::map(rc::gen::arbitrary<std::uint8_t>(), [](std::uint8_t b) { return static_cast<std::byte>(b); }));
  k.cache_salt = *rc::gen::container<std::string>(rc::gen::elementOf(std::string("abc-019")));
  const std::optional<std::string> name = FsFileName(k);
  RC_PRE(name.has_value() && k.model_name.find("-SEP-") == std::string::npos);
  const std::optional<ObjectKey> back = ParseFsFileName(*name);
  RC_ASSERT(back.has_value());
  RC_ASSERT(back->model_name == k.model_name);
  RC_ASSERT(back->kv_rank == k.kv_rank);
  RC_ASSERT(back->object_group_id == k.object_group_id);
  RC_ASSERT(back->chunk_hash == k.chunk_hash);
  RC_ASSERT(back->cache_salt == k.cache_salt);
}

// ---- the fs adapter ----

TEST(FsAdapter, StoresLoadsNeverOverwritesAndLeavesNoTempFiles) {
  TempDir dir;
  auto a = Make({{"type", "fs"}, {"base_path", dir.path.string()}, {"relative_tmp_dir", "tmp"}});
  const auto v1 = Bytes(1000, 1), v2 = Bytes(1000, 2);
  EXPECT_TRUE(StoreResult(*a, a->SubmitStore({{Key(1), v1}})));
  EXPECT_TRUE(StoreResult(*a, a->SubmitStore({{Key(1), v2}})));  // skipped, counted a success
  std::vector<std::byte> out(1000);
  LoadResult r = Load(*a, {{Key(1), out}});
  ASSERT_EQ(r.loaded, Bitmap{true});
  EXPECT_EQ(out, v1);
  EXPECT_EQ(fs::file_size(dir.path / FsFileName(Key(1)).value()), 1000u);
  EXPECT_TRUE(fs::is_empty(dir.path / "tmp"));
  EXPECT_EQ(Lookup(*a, {Key(1), Key(2)}), (Bitmap{true, false}));
  // A buffer of another size is a miss for an exact load: short file, long file.
  std::vector<std::byte> big(1001), small(999);
  EXPECT_EQ(Load(*a, {{Key(1), big}, {Key(1), small}, {Key(2), out}}).loaded, (Bitmap{false, false, false}));
  r = Load(*a, {{Key(1), big, nullptr, /*exact=*/false}});
  EXPECT_EQ(r.loaded, Bitmap{true});
  EXPECT_EQ(r.sizes, std::vector<std::size_t>{1000});
}

TEST(FsAdapter, RefusesUnsafeConfigAndDoesNotFollowSymlinks) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(
      MakeAdapter({{"type", "fs"}, {"base_path", dir.path.string()}, {"relative_tmp_dir", "/tmp"}}, TestEnv(), &error));
  EXPECT_NE(error.find("relative"), std::string::npos);
  EXPECT_FALSE(MakeAdapter({{"type", "fs"}, {"base_path", dir.path.string()}, {"relative_tmp_dir", "a/../.."}},
                           TestEnv(), &error));
  EXPECT_FALSE(MakeAdapter({{"type", "fs"}, {"base_path", dir.path.string()}, {"bogus", 1}}, TestEnv(), &error));
  EXPECT_NE(error.find("unknown key 'bogus'"), std::string::npos) << error;
  EXPECT_FALSE(MakeAdapter({{"type", "fs"}}, TestEnv(), &error));
  EXPECT_FALSE(MakeAdapter({{"type", "nope"}}, TestEnv(), &error));
  EXPECT_FALSE(MakeAdapterFromText("{not json", TestEnv(), &error));

  auto a = Make({{"type", "fs"}, {"base_path", dir.path.string()}});
  const fs::path secret = dir.path / "secret";
  { std::ofstream(secret) << "secret bytes"; }
  fs::create_symlink(secret, dir.path / FsFileName(Key(7)).value());
  std::vector<std::byte> out(12);
  EXPECT_EQ(Load(*a, {{Key(7), out}}).loaded, Bitmap{false});
}

TEST(BackendAdapter, ResultsAreConsumeOnceAndFdsDistinct) {
  auto a = Make({{"type", "memory"}});
  auto b = Make({{"type", "memory"}});
  std::set<int> fds{a->store_event_fd(), a->lookup_event_fd(), a->load_event_fd(),
                    b->store_event_fd(), b->lookup_event_fd(), b->load_event_fd()};
  EXPECT_EQ(fds.size(), 6u);
  const auto v = Bytes(64, 3);
  EXPECT_TRUE(StoreResult(*a, a->SubmitStore({{Key(1), v}})));
  std::vector<std::byte> out(64);
  const TaskId id = a->SubmitLoad({{Key(1), out}});
  ASSERT_TRUE(WaitEventFd(a->load_event_fd(), 5000));
  EXPECT_TRUE(a->QueryLoad(id));
  EXPECT_FALSE(a->QueryLoad(id));  // consume-once
  EXPECT_FALSE(a->QueryLoad(999));
  a->Close();
  EXPECT_FALSE(a->ReportStatus().is_healthy);
  // After Close a submit completes at once, failed.
  EXPECT_FALSE(StoreResult(*a, a->SubmitStore({{Key(2), v}})));
  EXPECT_EQ(Load(*a, {{Key(1), out}}).loaded, Bitmap{false});
}

// ---- the lm:// adapter, against the kit's own server ----

TEST(LmAdapter, StoresLooksUpAndLoadsThroughAServer) {
  net::AsioTransport transport;
  transport.Start(2);
  auto store = std::make_shared<store::L1Store>(store::L1Store::Options{16 << 20, 16 << 20});
  server::ServerOptions so;
  so.port = 0;
  server::Server srv(transport, store, so);
  std::uint16_t port = 0;
  ASSERT_EQ(srv.Start(&port), net::NetError::kOk);
  std::string error;
  const nlohmann::json config = {{"type", "lm"},
                                 {"url", "lm://127.0.0.1:" + std::to_string(port)},
                                 {"timeout_ms", 5000},
                                 {"serde", {{"type", "lz4"}}}};
  runtime::ProcessEnv env(transport, {2, 0});
  auto w = MakeAdapter(config, env, &error);
  ASSERT_TRUE(w) << error;
  const Layout layout = Bf16({3, 100});
  const auto v = Bytes(600, 12);
  ObjectKey salted = Key(2);
  salted.cache_salt = "tenant%1";
  salted.kv_rank = (4 << 24) | (3 << 16);
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(1), v, &layout}, {salted, v, &layout}})));
  // PUT has no reply: the lookup below is on the same connection, after it.
  EXPECT_EQ(Lookup(*w, {Key(1), Key(3), salted}), (Bitmap{true, false, true}));
  std::vector<std::byte> o1(600), o2(600), o3(600);
  const LoadResult r = Load(*w, {{Key(1), o1, &layout}, {Key(3), o3, &layout}, {salted, o2, &layout}});
  EXPECT_EQ(r.loaded, (Bitmap{true, false, true}));
  EXPECT_EQ(o1, v);
  EXPECT_EQ(o2, v);
  EXPECT_EQ(store->Stats().objects, 2u);
  EXPECT_EQ(LmWireKey(salted).value(), "test-model@4@3@2@uint8@r%4030000@g%0@s%tenant%1");
  // Not UTF-8: no wire key (found by fuzz_fs_name; it rendered one that no
  // era F parser reads and the client refused to send).
  ObjectKey bad_model = Key(4), bad_salt = Key(4);
  bad_model.model_name = "m\xff";
  bad_salt.cache_salt = "\xc3";
  EXPECT_FALSE(LmWireKey(bad_model).has_value());
  EXPECT_FALSE(LmWireKey(bad_salt).has_value());
  w->Close();
  srv.Stop();
  transport.Stop();
  transport.Join();
}

// ---- the Redis adapters (resp, valkey) ----

TEST(RespAdapter, KeysAreLmcacheNativeConnectorStrings) {
  ObjectKey k = Key(1);
  k.kv_rank = 0x1a;
  k.object_group_id = 0x2b;
  // f"{model}@{kv_rank:08x}@{group:x}@{chunk_hash.hex()}" [+ "@" + salt]
  EXPECT_EQ(RespKey(k).value(), "test-model@0000001a@2b@" + wire::ToHex(k.chunk_hash));
  k.cache_salt = "tenant-1";
  EXPECT_EQ(RespKey(k, "prod").value(), "prod@test-model@0000001a@2b@" + wire::ToHex(k.chunk_hash) + "@tenant-1");
  ObjectKey at = Key(1), negative = Key(1);
  at.model_name = "a@b";
  negative.kv_rank = -1;
  EXPECT_FALSE(RespKey(at).has_value());
  EXPECT_FALSE(RespKey(negative).has_value());
}

TEST(RespAdapter, StoresLoadsAndKeepsMaxCapacityAsLmcacheCountsIt) {
  resp::MiniServer node(TestEnv().Net(), {});
  std::uint16_t port = 0;
  ASSERT_EQ(node.Start("127.0.0.1", 0, &port), net::NetError::kOk);
  // 2000 / 2^30 GB: room for two objects of 800 bytes, not three.
  const nlohmann::json config = {{"type", "resp"},
                                 {"host", "127.0.0.1"},
                                 {"port", port},
                                 {"num_workers", 2},
                                 {"max_capacity_gb", 2000.0 / 1073741824.0}};
  std::string error;
  auto w = MakeAdapter(config, TestEnv(), &error);
  ASSERT_TRUE(w) << error;
  const auto v = Bytes(800, 3);
  for (std::uint8_t i = 1; i <= 3; ++i) EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(i), v, nullptr}})));
  // The least recently used (key 1) was deleted before the third store.
  EXPECT_EQ(Lookup(*w, {Key(1), Key(2), Key(3)}), (Bitmap{false, true, true}));
  EXPECT_EQ(node.size(), 2u);
  std::vector<std::byte> out(800);
  EXPECT_EQ(Load(*w, {{Key(2), out, nullptr}}).loaded, Bitmap{true});
  EXPECT_EQ(out, v);
  // Key 2 was used last: a fourth store deletes key 3.
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(4), v, nullptr}})));
  EXPECT_EQ(Lookup(*w, {Key(2), Key(3), Key(4)}), (Bitmap{true, false, true}));
  // Larger than the capacity: refused, nothing deleted for it.
  EXPECT_FALSE(StoreResult(*w, w->SubmitStore({{Key(5), Bytes(2001, 1), nullptr}})));
  EXPECT_EQ(node.size(), 2u);
  w->Close();
}

TEST(RespAdapter, ConfigIsLmcachesWithItsEnvironmentOverrides) {
  std::string error;
  for (const char* bad :
       {R"({"type":"resp","port":6379})", R"({"type":"resp","host":"","port":6379})",
        R"({"type":"resp","host":"h","port":0})", R"({"type":"resp","host":"h","port":6379,"num_workers":0})",
        R"({"type":"resp","host":"h","port":6379,"max_capacity_gb":-1})",
        R"({"type":"resp","host":"h","port":6379,"nope":1})", R"({"type":"valkey"})",
        R"({"type":"valkey","startup_nodes":"h"})", R"({"type":"valkey","startup_nodes":"h:1","key_prefix":"a@b"})",
        R"({"type":"valkey","startup_nodes":"h:1","tls_enable":true})"}) {
    error.clear();
    EXPECT_FALSE(MakeAdapterFromText(bad, TestEnv(), &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  // LMCACHE_RESP_HOST and _PORT override the config: the node is reached
  // (and a refused AUTH is an error at start) at the environment's address.
  resp::MiniServerOptions mo;
  mo.password = "pw";
  resp::MiniServer node(TestEnv().Net(), mo);
  std::uint16_t port = 0;
  ASSERT_EQ(node.Start("127.0.0.1", 0, &port), net::NetError::kOk);
  ::setenv("LMCACHE_RESP_HOST", "127.0.0.1", 1);
  ::setenv("LMCACHE_RESP_PORT", std::to_string(port).c_str(), 1);
  ::setenv("LMCACHE_RESP_PASSWORD", "pw", 1);
  auto w =
      MakeAdapterFromText(R"({"type":"resp","host":"nowhere.invalid","port":1,"password":"wrong"})", TestEnv(), &error);
  EXPECT_TRUE(w) << error;
  if (w) w->Close();
  ::setenv("LMCACHE_RESP_PASSWORD", "wrong", 1);
  EXPECT_FALSE(MakeAdapterFromText(R"({"type":"resp","host":"h","port":1})", TestEnv(), &error));
  EXPECT_NE(error.find("WRONGPASS"), std::string::npos) << error;
  ::unsetenv("LMCACHE_RESP_HOST");
  ::unsetenv("LMCACHE_RESP_PORT");
  ::unsetenv("LMCACHE_RESP_PASSWORD");
}

// ---- the serde wrapper (serde.md §5) ----

TEST(SerdeWrapper, RoundTripsAndReleasesEveryTemp) {
  auto inner = Make({{"type", "memory"}});
  std::string error;
  auto serde = serde::SerdeRegistry::WithBuiltins(TestEnv()).Create({{"type", "zstd"}, {"byte_planes", true}}, &error);
  ASSERT_TRUE(serde) << error;
  SerdeL2Wrapper w(TestEnv(), inner, *serde, {});
  const Layout layout = Bf16({4, 256});
  const auto a = Bytes(2048, 4), b = Bytes(2048, 5);
  EXPECT_TRUE(StoreResult(w, w.SubmitStore({{Key(1), a, &layout}, {Key(2), b, &layout}})));
  EXPECT_EQ(w.temps().outstanding(), 0u);
  std::vector<std::byte> oa(2048), ob(2048), oc(2048);
  LoadResult r = Load(w, {{Key(1), oa, &layout}, {Key(3), oc, &layout}, {Key(2), ob, &layout}});
  EXPECT_EQ(r.loaded, (Bitmap{true, false, true}));  // the inner miss stays per key
  EXPECT_EQ(oa, a);
  EXPECT_EQ(ob, b);
  EXPECT_EQ(w.temps().outstanding(), 0u);
  EXPECT_EQ(w.lookup_event_fd(), inner->lookup_event_fd());
}

TEST(SerdeWrapper, AnyCorruptBlobZeroesTheWholeLoad) {
  // LMCache's test_checksum_fs_e2e: flip the last byte of one file, both keys
  // miss together; the good key alone still loads bit-exact.
  TempDir dir;
  auto w = Make({{"type", "fs"}, {"base_path", dir.path.string()}, {"serde", {{"type", "checksum"}}}});
  const Layout layout = Bf16({512});
  const auto a = Bytes(1024, 6), b = Bytes(1024, 7);
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(1), a, &layout}})));
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(2), b, &layout}})));
  {
    std::fstream f(dir.path / FsFileName(Key(2)).value(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    char c;
    f.get(c);
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 1));
  }
  std::vector<std::byte> oa(1024), ob(1024);
  EXPECT_EQ(Load(*w, {{Key(1), oa, &layout}, {Key(2), ob, &layout}}).loaded, (Bitmap{false, false}));
  EXPECT_EQ(Load(*w, {{Key(1), oa, &layout}}).loaded, Bitmap{true});
  EXPECT_EQ(oa, a);
}

TEST(SerdeWrapper, FailedSerialisationStoresNothing) {
  auto inner = Make({{"type", "memory"}});
  std::string error;
  auto serde = serde::SerdeRegistry::WithBuiltins(TestEnv()).Create({{"type", "fp8"}}, &error);
  ASSERT_TRUE(serde) << error;
  SerdeL2Wrapper w(TestEnv(), inner, *serde, {});
  const Layout good = Bf16({16});
  const Layout wrong_size = Bf16({17});  // the bytes below do not match it
  const auto v = Bytes(32, 8);
  EXPECT_FALSE(StoreResult(w, w.SubmitStore({{Key(1), v, &good}, {Key(2), v, &wrong_size}})));
  EXPECT_EQ(Lookup(*inner, {Key(1), Key(2)}), (Bitmap{false, false}));  // not even key 1
  EXPECT_EQ(w.temps().outstanding(), 0u);
}

TEST(SerdeWrapper, TempReservationFailureReleasesTheOthers) {
  auto inner = Make({{"type", "memory"}});
  std::string error;
  auto serde = serde::SerdeRegistry::WithBuiltins(TestEnv()).Create({{"type", "fp8"}}, &error);
  ASSERT_TRUE(serde);
  SerdeL2Wrapper w(TestEnv(), inner, *serde, {.temp_budget_bytes = 100});
  const Layout layout = Bf16({60});  // 60 fp8 bytes each: two do not fit in 100
  const auto v = Bytes(120, 9);
  EXPECT_TRUE(StoreResult(w, w.SubmitStore({{Key(1), v, &layout}})));
  EXPECT_FALSE(StoreResult(w, w.SubmitStore({{Key(2), v, &layout}, {Key(3), v, &layout}})));
  std::vector<std::byte> o1(120), o2(120);
  EXPECT_EQ(Load(w, {{Key(1), o1, &layout}, {Key(1), o2, &layout}}).loaded, (Bitmap{false, false}));
  EXPECT_EQ(Load(w, {{Key(1), o1, &layout}}).loaded, Bitmap{true});
  EXPECT_EQ(w.temps().outstanding(), 0u);
  EXPECT_EQ(w.temps().reserve_failures(), 2u);
}

TEST(SerdeWrapper, AtMostDriversStoresHoldTempsBehindASlowInnerAdapter) {
  // Every inner store waits 100 ms: stores queue in the wrapper, unserialised,
  // instead of filling the temp budget while they wait (which would fail the
  // later stores and every load).
  auto inner = std::make_shared<BackendAdapter>(
      TestEnv(),
      std::make_unique<FaultBackend>(
          TestEnv(), std::make_unique<MemoryBackend>(),
          FaultOptions{.seed = 1, .delay_rate = 1.0, .delay = std::chrono::milliseconds(100)}),
      4);
  std::string error;
  auto serde = serde::SerdeRegistry::WithBuiltins(TestEnv()).Create({{"type", "fp8"}}, &error);
  ASSERT_TRUE(serde) << error;
  SerdeL2Wrapper w(TestEnv(), inner, *serde, {.temp_budget_bytes = 1000, .drivers = 2});
  const Layout layout = Bf16({100});  // 100 fp8 bytes each: 6 would fit the budget at once
  const auto v = Bytes(200, 10);
  std::vector<TaskId> ids;
  for (std::uint8_t k = 1; k <= 6; ++k) ids.push_back(w.SubmitStore({{Key(k), v, &layout}}));
  std::size_t peak = 0;
  for (int i = 0; i < 40; ++i) {  // 400 ms of the ~300 the six take
    peak = std::max(peak, w.temps().outstanding());
    TestEnv().SleepUntil(TestEnv().Now() + std::chrono::milliseconds(10));
  }
  std::map<TaskId, bool> done;  // PopCompletedStores hands out every completion once
  for (int i = 0; i < 200 && done.size() < ids.size(); ++i) {
    done.merge(w.PopCompletedStores());
    if (done.size() < ids.size()) WaitEventFd(w.store_event_fd(), 50);
  }
  ASSERT_EQ(done.size(), ids.size()) << "stores did not complete in 10 s";
  for (const auto& [id, ok] : done) EXPECT_TRUE(ok) << id;
  EXPECT_LE(peak, 2u) << "more wrapped stores than drivers held temps";
  EXPECT_GE(peak, 1u);
  EXPECT_EQ(w.temps().outstanding(), 0u);
  EXPECT_EQ(w.temps().reserve_failures(), 0u);
}

TEST(SerdeWrapper, Fp8FileOfAnotherSizeIsAPerKeyMiss) {
  // fp8 blobs have a fixed size: a short file misses alone (as LMCache's
  // short read), it does not zero the batch.
  TempDir dir;
  auto w = Make({{"type", "fs"}, {"base_path", dir.path.string()}, {"serde", {{"type", "fp8"}}}});
  const Layout layout = Bf16({64});
  const auto v = Bytes(128, 10);
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(1), v, &layout}, {Key(2), v, &layout}})));
  fs::resize_file(dir.path / FsFileName(Key(2)).value(), 63);
  std::vector<std::byte> o1(128), o2(128);
  EXPECT_EQ(Load(*w, {{Key(1), o1, &layout}, {Key(2), o2, &layout}}).loaded, (Bitmap{true, false}));
}

// ---- LMCache's fs end-to-end (serde.md §7) ----

TEST(FsEndToEnd, Fp8E4M3FnTwoBf16ChunksReloadWithCorrelationAbove099) {
  TempDir dir;
  std::string error;
  auto w = MakeAdapter({{"type", "fs"},
                        {"base_path", dir.path.string()},
                        {"relative_tmp_dir", nullptr},
                        {"read_ahead_size", nullptr},
                        {"use_odirect", false},
                        {"serde", {{"type", "fp8"}, {"fp8_dtype", "float8_e4m3fn"}}}},
                       TestEnv(), &error);
  ASSERT_TRUE(w) << error;
  auto* wrapper = dynamic_cast<SerdeL2Wrapper*>(w.get());
  ASSERT_NE(wrapper, nullptr);
  const Layout layout = Bf16({2, 4, 256, 128});
  constexpr std::size_t kElems = 2 * 4 * 256 * 128;
  std::mt19937_64 rng(0);
  std::vector<std::vector<std::uint16_t>> data;
  for (int i = 0; i < 2; ++i) data.push_back(testing::RandnBf16(kElems, rng));
  auto bytes = [](std::vector<std::uint16_t>& v) { return std::as_writable_bytes(std::span(v)); };
  EXPECT_TRUE(StoreResult(*w, w->SubmitStore({{Key(1), bytes(data[0]), &layout}, {Key(2), bytes(data[1]), &layout}})));
  // Two final files, fp8 is one byte per element, no temp file left.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(e.path().extension(), ".data") << e.path();
    EXPECT_EQ(e.file_size(), kElems);
    ++files;
  }
  EXPECT_EQ(files, 2u);
  EXPECT_EQ(wrapper->temps().outstanding(), 0u);

  std::vector<std::vector<std::uint16_t>> back(2, std::vector<std::uint16_t>(kElems));
  const LoadResult r = Load(*w, {{Key(1), bytes(back[0]), &layout}, {Key(2), bytes(back[1]), &layout}});
  ASSERT_EQ(r.loaded, (Bitmap{true, true}));  // two leading hits
  for (std::size_t i = 0; i < 2; ++i) {
    const double c = testing::Bf16Correlation(data[i], std::as_bytes(std::span(back[i])));
    EXPECT_GT(c, 0.99) << "chunk " << i;
    EXPECT_LT(c, 1.0) << "fp8 must lose precision: the data went through the serde";
  }
  EXPECT_EQ(wrapper->temps().outstanding(), 0u);  // staging memory back to zero
  EXPECT_EQ(wrapper->temps().outstanding_bytes(), 0u);
  w->Close();
}

// ---- fault injection (RapidCheck) ----

struct Outcome {
  std::vector<bool> stored;
  std::vector<Bitmap> loaded;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// Stores `batches` of random objects through a lossless serde over a
// fault-injecting memory adapter, then loads every batch back; checks the
// invariants after every task and returns what happened.
Outcome RunFaultScenario(std::uint64_t seed, const std::string& serde_type, std::size_t batches, std::size_t per_batch,
                         double rate) {
  auto w = Make({{"type", "fault"},
                 {"seed", seed},
                 {"fail_rate", rate},
                 {"short_rate", rate},
                 {"corrupt_rate", rate},
                 {"delay_rate", rate / 4},
                 {"delay_ms", 1},
                 {"inner", {{"type", "memory"}}},
                 {"num_workers", 2},
                 {"serde", {{"type", serde_type}}}});
  auto& wrapper = dynamic_cast<SerdeL2Wrapper&>(*w);
  std::mt19937_64 rng(seed);
  const Layout layout = Bf16({8, 33});
  Outcome out;
  std::vector<std::vector<std::vector<std::byte>>> data(batches);
  for (std::size_t b = 0; b < batches; ++b) {
    std::vector<StoreItem> items;
    for (std::size_t i = 0; i < per_batch; ++i) {
      data[b].push_back(Bytes(8 * 33 * 2, rng()));
      items.push_back({Key(static_cast<std::uint8_t>(b * per_batch + i)), data[b].back(), &layout});
    }
    out.stored.push_back(StoreResult(*w, w->SubmitStore(std::move(items))));
    RC_ASSERT(wrapper.temps().outstanding() == 0u);
  }
  for (std::size_t b = 0; b < batches; ++b) {
    std::vector<std::vector<std::byte>> dst(per_batch, std::vector<std::byte>(8 * 33 * 2));
    std::vector<LoadItem> items;
    for (std::size_t i = 0; i < per_batch; ++i)
      items.push_back({Key(static_cast<std::uint8_t>(b * per_batch + i)), dst[i], &layout});
    const LoadResult r = Load(*w, std::move(items));
    RC_ASSERT(r.loaded.size() == per_batch);
    for (std::size_t i = 0; i < per_batch; ++i)
      if (r.loaded[i]) RC_ASSERT(dst[i] == data[b][i]);  // a hit is never wrong data
    RC_ASSERT(wrapper.temps().outstanding() == 0u);
    out.loaded.push_back(r.loaded);
  }
  return out;
}

RC_GTEST_PROP(FaultInjection, HitsAreExactNothingLeaksAndRunsReplayFromTheSeed, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const auto serde_type = *rc::gen::element<std::string>("zstd", "lz4", "checksum");
  const auto batches = *rc::gen::inRange<std::size_t>(1, 4);
  const auto per_batch = *rc::gen::inRange<std::size_t>(1, 6);
  const Outcome a = RunFaultScenario(seed, serde_type, batches, per_batch, 0.1);
  const Outcome b = RunFaultScenario(seed, serde_type, batches, per_batch, 0.1);
  RC_ASSERT(a == b);
}

TEST(FaultInjection, WithoutFaultsEverythingLoadsAndFaultsDoFire) {
  const Outcome clean = RunFaultScenario(1, "zstd", 3, 5, 0.0);
  for (bool s : clean.stored) EXPECT_TRUE(s);
  for (const Bitmap& b : clean.loaded) EXPECT_EQ(b, Bitmap(5, true));
  int failures = 0;
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const Outcome o = RunFaultScenario(seed, "checksum", 3, 5, 0.2);
    for (bool s : o.stored) failures += !s;
    for (const Bitmap& b : o.loaded) failures += b != Bitmap(5, true);
  }
  EXPECT_GT(failures, 0) << "the schedule injected nothing";
}

}  // namespace
}  // namespace lmc::l2
