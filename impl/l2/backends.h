// The kit's L2 back ends (run behind BackendAdapter):
// - MemoryBackend: a map in this process (tests, and a tier without disk).
// - FsBackend: LMCache's fs adapter (serde.md §6.3): one file per key, raw
//   bytes with no header, LMCache's file names, temp file + fsync + atomic
//   rename, never an overwrite.
// - LmBackend: objects on another lm:// server, through the kit's client.
// - FaultBackend: any back end with failures injected by a seeded schedule.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "client/client.h"
#include "l2/backend_adapter.h"
#include "runtime/env.h"

namespace lmc::l2 {

class MemoryBackend final : public Backend {
 public:
  std::string type() const override { return "memory"; }
  [[nodiscard]] bool Store(const ObjectKey& key, std::span<const std::byte> bytes) override;
  bool Exists(const ObjectKey& key) override;
  [[nodiscard]] std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) override;
  void Delete(const ObjectKey& key) override;
  std::optional<std::vector<ObjectKey>> List() override;
  std::size_t object_count() const;

 private:
  mutable base::Mutex mu_;
  // By FsFileName-like identity: the key, and its bytes.
  std::map<std::string, std::pair<ObjectKey, std::vector<std::byte>>> objects_;
};

// LMCache's current fs key codec: <model>@<kv_rank %#010x>@<group %x>@<hash
// hex>[@<salt>].data, with '/' in the model written "-SEP-". Returns nullopt
// for a key no file name can hold safely (see docs/L2.md): a model or salt
// with '@', '\', NUL or another control byte, a salt with '/' or over 128
// bytes, a negative rank or group, or a name over 250 bytes.
[[nodiscard]] std::optional<std::string> FsFileName(const ObjectKey& key);
// The inverse, for a scan of base_path: the key a file name stands for, or
// nullopt for any name FsFileName does not write (temp files, other files,
// malformed fields). "-SEP-" reads back as '/', as LMCache's decoder does
// (so a model spelt with "-SEP-" itself does not round-trip; the server's
// tier writes the model "lmcache-server").
[[nodiscard]] std::optional<ObjectKey> ParseFsFileName(std::string_view name);

struct FsOptions {
  std::string base_path;
  std::string relative_tmp_dir;  // "" = temp files beside the final ones
  bool fsync = true;             // file and folder, before and after the rename
};

class FsBackend final : public Backend {
 public:
  // Creates the folders; nullopt with *error set if that fails or the
  // options are unsafe (an absolute or '..' temp folder). Every file call
  // goes through `files` (the Env's), which must outlive the back end.
  static std::unique_ptr<FsBackend> Open(runtime::FileSystem& files, FsOptions options, std::string* error);
  std::string type() const override { return "fs"; }
  [[nodiscard]] bool Store(const ObjectKey& key, std::span<const std::byte> bytes) override;
  bool Exists(const ObjectKey& key) override;
  [[nodiscard]] std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) override;
  void Delete(const ObjectKey& key) override;
  // The keys of the files in base_path whose names FsFileName writes (temp
  // files and anything else are not listed).
  std::optional<std::vector<ObjectKey>> List() override;
  std::string Detail() const override { return options_.base_path; }

 private:
  FsBackend(runtime::FileSystem& files, FsOptions options) : files_(files), options_(std::move(options)) {}
  std::string PathOf(const std::string& name) const { return options_.base_path + "/" + name; }
  runtime::FileSystem& files_;
  FsOptions options_;
  std::atomic<std::uint64_t> tmp_seq_{0};
};

// ObjectKey -> lm:// wire key (era F): "<model>@<ws>@<wid>@<hash hex>@uint8"
// plus tags r%<kv_rank hex>, g%<group hex> and s%<salt> (when not empty);
// ws and wid are the rank's top two bytes. nullopt if the key cannot render:
// a negative rank or group, or a model or salt that is not UTF-8.
[[nodiscard]] std::optional<std::string> LmWireKey(const ObjectKey& key);

class LmBackend final : public Backend {
 public:
  LmBackend(runtime::Env& env, const client::ClientOptions& options);
  std::string type() const override { return "lm"; }
  [[nodiscard]] bool Store(const ObjectKey& key, std::span<const std::byte> bytes) override;
  bool Exists(const ObjectKey& key) override;
  [[nodiscard]] std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) override;
  // lm:// has no delete; objects age out of the remote server's LRU.
  void Delete(const ObjectKey& /*key*/) override {}
  bool Healthy() const override { return healthy_.load(); }
  std::string Detail() const override { return detail_; }
  void Close() override { client_.Close(); }

 private:
  client::Client client_;
  std::string detail_;
  std::atomic<bool> healthy_{true};
};

// Rates are per operation, in [0, 1]. Each operation's fate is a pure
// function of (seed, operation, key, how many times this operation has run
// on this key), so a schedule replays from its seed whatever the thread
// interleaving.
struct FaultOptions {
  std::uint64_t seed = 0;
  double fail_rate = 0;     // store/load/exists fail; nothing is written
  double short_rate = 0;    // store writes a truncated object / load reports one byte short
  double corrupt_rate = 0;  // store or load flips one byte
  double delay_rate = 0;    // the operation waits delay first (on the Env's clock)
  std::chrono::milliseconds delay{5};
};

class FaultBackend final : public Backend {
 public:
  enum class Fault : std::uint8_t { kNone, kFail, kShort, kCorrupt, kDelay };
  FaultBackend(runtime::Env& env, std::unique_ptr<Backend> inner, FaultOptions options);
  std::string type() const override { return "fault(" + inner_->type() + ")"; }
  [[nodiscard]] bool Store(const ObjectKey& key, std::span<const std::byte> bytes) override;
  bool Exists(const ObjectKey& key) override;
  [[nodiscard]] std::optional<std::size_t> Load(const ObjectKey& key, std::span<std::byte> dst) override;
  void Delete(const ObjectKey& key) override { inner_->Delete(key); }
  std::optional<std::vector<ObjectKey>> List() override { return inner_->List(); }
  void Close() override { inner_->Close(); }
  std::string Detail() const override;
  // Faults injected so far, by kind (index = Fault).
  std::array<std::uint64_t, 5> injected() const;

 private:
  Fault Next(char op, const ObjectKey& key, std::uint64_t* entropy);
  runtime::Env& env_;
  std::unique_ptr<Backend> inner_;
  FaultOptions options_;
  mutable base::Mutex mu_;
  std::map<std::string, std::uint64_t> counts_;
  std::array<std::uint64_t, 5> injected_{};
};

}  // namespace lmc::l2
