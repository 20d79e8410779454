#include "l2/backends.h"

#include <algorithm>
#include <cstring>

#include <xxhash.h>

#include "base/check.h"
#include "base/plant.h"
#include "wire/cache_key.h"
#include "wire/text.h"

namespace lmc::l2 {
namespace {

// Every field of the key, unambiguously (lengths first).
std::string Identity(const ObjectKey& k) {
  std::string s;
  auto put = [&s](std::string_view part) {
    s += std::to_string(part.size());
    s += ':';
    s += part;
  };
  put({reinterpret_cast<const char*>(k.chunk_hash.data()), k.chunk_hash.size()});
  put(k.model_name);
  put(std::to_string(k.kv_rank));
  put(std::to_string(k.object_group_id));
  put(k.cache_salt);
  return s;
}

bool HasControlOrNul(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::uint64_t Mix(std::uint64_t x) {  // SplitMix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

// ---- MemoryBackend ----

bool MemoryBackend::Store(const ObjectKey& key, std::span<const std::byte> bytes) {
  std::lock_guard lock(mu_);
  objects_.try_emplace(Identity(key), key, std::vector<std::byte>(bytes.begin(), bytes.end()));  // no overwrite, as fs
  return true;
}

bool MemoryBackend::Exists(const ObjectKey& key) {
  std::lock_guard lock(mu_);
  return objects_.count(Identity(key)) != 0;
}

std::optional<std::size_t> MemoryBackend::Load(const ObjectKey& key, std::span<std::byte> dst) {
  std::lock_guard lock(mu_);
  const auto it = objects_.find(Identity(key));
  if (it == objects_.end() || it->second.second.size() > dst.size()) return std::nullopt;
  const std::vector<std::byte>& bytes = it->second.second;
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  return bytes.size();
}

void MemoryBackend::Delete(const ObjectKey& key) {
  std::lock_guard lock(mu_);
  objects_.erase(Identity(key));
}

std::optional<std::vector<ObjectKey>> MemoryBackend::List() {
  std::lock_guard lock(mu_);
  std::vector<ObjectKey> keys;
  keys.reserve(objects_.size());
  for (const auto& [unused, entry] : objects_) keys.push_back(entry.first);
  return keys;
}

std::size_t MemoryBackend::object_count() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

// ---- FsBackend ----

std::optional<std::string> FsFileName(const ObjectKey& key) {
  const std::string& model = key.model_name;
  const std::string& salt = key.cache_salt;
  if (model.find('@') != std::string::npos || HasControlOrNul(model)) return std::nullopt;
  if (salt.size() > 128 || salt.find_first_of("@/\\") != std::string::npos || HasControlOrNul(salt))
    return std::nullopt;
  if (key.kv_rank < 0 || key.object_group_id < 0) return std::nullopt;
  std::string name;
  for (char c : model) {
    if (c == '/')
      name += "-SEP-";
    else
      name += c;
  }
  // Python's "%#010x": 0x and at least eight digits.
  name += "@0x" + wire::ToHex(static_cast<std::uint64_t>(key.kv_rank), 8) + "@" +
          wire::ToHex(static_cast<std::uint64_t>(key.object_group_id)) + "@" + wire::ToHex(key.chunk_hash);
  if (!salt.empty()) name += "@" + salt;
  name += ".data";
  if (name.size() > 230) return std::nullopt;  // room for ".<seq>.tmp" under NAME_MAX
  return name;
}

namespace {

// Lowercase hex digits only (what FsFileName writes), as a number; nullopt
// for anything else or over 16 digits.
std::optional<std::uint64_t> HexNumber(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

}  // namespace

std::optional<ObjectKey> ParseFsFileName(std::string_view name) {
  constexpr std::string_view kSuffix = ".data";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  name.remove_suffix(kSuffix.size());
  std::vector<std::string_view> fields;
  for (std::size_t begin = 0;;) {
    const std::size_t at = name.find('@', begin);
    fields.push_back(name.substr(begin, at == std::string_view::npos ? std::string_view::npos : at - begin));
    if (at == std::string_view::npos) break;
    begin = at + 1;
  }
  if (fields.size() != 4 && fields.size() != 5) return std::nullopt;
  ObjectKey key;
  for (std::size_t i = 0; i < fields[0].size();) {
    if (fields[0].substr(i, 5) == "-SEP-") {
      key.model_name += '/';
      i += 5;
    } else {
      key.model_name += fields[0][i++];
    }
  }
  const std::string_view rank = fields[1];
  if (rank.size() < 10 || rank.substr(0, 2) != "0x") return std::nullopt;
  const auto r = HexNumber(rank.substr(2));
  const auto g = HexNumber(fields[2]);
  if (!r || !g || *r > static_cast<std::uint64_t>(INT64_MAX) || *g > static_cast<std::uint64_t>(INT64_MAX)) {
    return std::nullopt;
  }
  key.kv_rank = static_cast<std::int64_t>(*r);
  key.object_group_id = static_cast<std::int64_t>(*g);
  const std::string_view hash = fields[3];
  if (hash.size() % 2 != 0) return std::nullopt;
  for (std::size_t i = 0; i < hash.size(); i += 2) {
    const auto b = HexNumber(hash.substr(i, 2));
    if (!b) return std::nullopt;
    key.chunk_hash.push_back(static_cast<std::byte>(*b));
  }
  if (fields.size() == 5) {
    if (fields[4].empty()) return std::nullopt;
    key.cache_salt = std::string(fields[4]);
  }
  // Only names FsFileName writes: anything it would spell otherwise (upper
  // case, a short rank, leading zeros in the group, a refused key) is not one.
  const std::optional<std::string> again = FsFileName(key);
  if (!again || *again != std::string(name) + std::string(kSuffix)) return std::nullopt;
  return key;
}

std::unique_ptr<FsBackend> FsBackend::Open(runtime::FileSystem& files, FsOptions options, std::string* error) {
  if (options.base_path.empty()) {
    *error = "fs: base_path is required";
    return nullptr;
  }
  const std::string& tmp = options.relative_tmp_dir;
  if (!tmp.empty() && tmp.front() == '/') {
    *error = "fs: relative_tmp_dir must be relative";
    return nullptr;
  }
  for (std::size_t begin = 0; begin <= tmp.size();) {
    const std::size_t end = std::min(tmp.find('/', begin), tmp.size());
    if (tmp.compare(begin, end - begin, "..") == 0) {
      *error = "fs: relative_tmp_dir must not contain '..'";
      return nullptr;
    }
    begin = end + 1;
  }
  while (options.base_path.size() > 1 && options.base_path.back() == '/') options.base_path.pop_back();
  runtime::FsError e = files.CreateDirectories(options.base_path);
  if (e == runtime::FsError::kOk && !tmp.empty()) e = files.CreateDirectories(options.base_path + "/" + tmp);
  if (e != runtime::FsError::kOk) {
    *error = "fs: cannot create " + options.base_path + ": " + std::string(runtime::FsErrorName(e));
    return nullptr;
  }
  return std::unique_ptr<FsBackend>(new FsBackend(files, std::move(options)));
}

bool FsBackend::Store(const ObjectKey& key, std::span<const std::byte> bytes) {
  using runtime::FsError;
  const std::optional<std::string> name = FsFileName(key);
  if (!name) return false;
  const std::string final_path = PathOf(*name);
  std::uint64_t size = 0;
  const FsError existing = files_.FileSize(final_path, &size);
  if (existing == FsError::kOk || existing == FsError::kNotFile) return true;  // never overwrite (§6.3 store step 1)
  if (existing != FsError::kNotFound) return false;
  const std::string tmp_dir =
      options_.relative_tmp_dir.empty() ? options_.base_path : PathOf(options_.relative_tmp_dir);
  // A unique temp name, so two writers of one key never share a temp file.
  const std::string tmp_path = tmp_dir + "/" + *name + "." + wire::ToHex(tmp_seq_.fetch_add(1)) + ".tmp";
  std::unique_ptr<runtime::WritableFile> file;
  if (files_.NewWritableFile(tmp_path, &file) != FsError::kOk) return false;
  const bool sync = options_.fsync && !plant::Active(plant::Bug::kFsSkipsFsync);
  bool ok = file->Append(bytes) == FsError::kOk && (!sync || file->Sync() == FsError::kOk);
  ok = file->Close() == FsError::kOk && ok;
  if (ok) {
    // Atomic, and a file that appeared meanwhile is kept.
    const FsError renamed = files_.RenameNoReplace(tmp_path, final_path);
    if (renamed == FsError::kOk) return !options_.fsync || files_.SyncDirectory(options_.base_path) == FsError::kOk;
    ok = renamed == FsError::kExists;  // another writer won: that object stays
  }
  (void)files_.Remove(tmp_path);
  return ok;
}

bool FsBackend::Exists(const ObjectKey& key) {
  const std::optional<std::string> name = FsFileName(key);
  std::uint64_t size = 0;
  return name && files_.FileSize(PathOf(*name), &size) == runtime::FsError::kOk;
}

std::optional<std::size_t> FsBackend::Load(const ObjectKey& key, std::span<std::byte> dst) {
  const std::optional<std::string> name = FsFileName(key);
  if (!name) return std::nullopt;
  std::size_t size = 0;
  if (files_.ReadFile(PathOf(*name), dst, &size, runtime::Links::kRefuse) != runtime::FsError::kOk) return std::nullopt;
  return size;
}

std::optional<std::vector<ObjectKey>> FsBackend::List() {
  std::vector<std::string> names;
  if (files_.List(options_.base_path, &names) != runtime::FsError::kOk) return std::nullopt;
  std::vector<ObjectKey> keys;
  keys.reserve(names.size());
  for (const std::string& name : names) {
    if (std::optional<ObjectKey> key = ParseFsFileName(name)) keys.push_back(std::move(*key));
  }
  return keys;
}

void FsBackend::Delete(const ObjectKey& key) {
  if (const std::optional<std::string> name = FsFileName(key)) (void)files_.Remove(PathOf(*name));
}

// ---- LmBackend ----

std::optional<std::string> LmWireKey(const ObjectKey& key) {
  if (key.kv_rank < 0 || key.object_group_id < 0) return std::nullopt;
  // A wire key is UTF-8 (protocol.md §1); RenderCacheKey does not check.
  if (!wire::IsValidUtf8(key.model_name) || !wire::IsValidUtf8(key.cache_salt)) return std::nullopt;
  wire::CacheKey k;
  k.model = key.model_name;
  k.world_size = (key.kv_rank >> 24) & 0xff;
  k.worker_id = (key.kv_rank >> 16) & 0xff;
  if (!wire::ChunkHash::Parse(key.chunk_hash.empty() ? "0" : wire::ToHex(key.chunk_hash), &k.chunk_hash))
    return std::nullopt;
  k.dtype = "uint8";
  k.tags.emplace_back("r", wire::ToHex(static_cast<std::uint64_t>(key.kv_rank)));
  k.tags.emplace_back("g", wire::ToHex(static_cast<std::uint64_t>(key.object_group_id)));
  if (!key.cache_salt.empty()) k.tags.emplace_back("s", key.cache_salt);
  std::string out;
  if (wire::RenderCacheKey(k, &out) != wire::KeyError::kOk) return std::nullopt;
  return out;
}

LmBackend::LmBackend(runtime::Env& env, const client::ClientOptions& options)
    : client_(env, options), detail_("lm://" + options.host + ":" + std::to_string(options.port)) {}

bool LmBackend::Store(const ObjectKey& key, std::span<const std::byte> bytes) {
  const std::optional<std::string> wire_key = LmWireKey(key);
  if (!wire_key || bytes.size() > static_cast<std::size_t>(INT32_MAX)) return false;
  const auto n = static_cast<std::int32_t>(bytes.size());
  // BINARY_BUFFER, as LMCache's byte-buffer PUT (protocol.md §2).
  const client::CallResult r = client_.Put(*wire_key, protocol::PutFields{5, 0, {n, 0, 0, 0}}, bytes);
  healthy_ = r.status != client::CallStatus::kUnavailable;
  return r.status == client::CallStatus::kOk;
}

bool LmBackend::Exists(const ObjectKey& key) {
  const std::optional<std::string> wire_key = LmWireKey(key);
  if (!wire_key) return false;
  const client::CallResult r = client_.Exist(*wire_key);
  healthy_ = r.status != client::CallStatus::kUnavailable;
  return r.status == client::CallStatus::kOk;
}

std::optional<std::size_t> LmBackend::Load(const ObjectKey& key, std::span<std::byte> dst) {
  const std::optional<std::string> wire_key = LmWireKey(key);
  if (!wire_key) return std::nullopt;
  const client::CallResult r = client_.Get(*wire_key, dst);
  healthy_ = r.status != client::CallStatus::kUnavailable;
  if (r.status != client::CallStatus::kOk || !r.body.empty()) return std::nullopt;  // missing or too large
  LMC_DCHECK(r.in_place_bytes <= dst.size(), "a GET placed ", r.in_place_bytes, " bytes into ", dst.size());
  return r.in_place_bytes;
}

// ---- FaultBackend ----

FaultBackend::FaultBackend(runtime::Env& env, std::unique_ptr<Backend> inner, FaultOptions options)
    : env_(env), inner_(std::move(inner)), options_(options) {}

FaultBackend::Fault FaultBackend::Next(char op, const ObjectKey& key, std::uint64_t* entropy) {
  std::string id = Identity(key);
  id.insert(id.begin(), op);
  std::uint64_t nth;
  {
    std::lock_guard lock(mu_);
    nth = counts_[id]++;
  }
  const std::uint64_t h = Mix(options_.seed ^ Mix(XXH3_64bits(id.data(), id.size()) ^ Mix(nth)));
  *entropy = Mix(h);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  Fault f = Fault::kNone;
  double edge = options_.fail_rate;
  if (u < edge) {
    f = Fault::kFail;
  } else if (u < (edge += options_.short_rate)) {
    f = Fault::kShort;
  } else if (u < (edge += options_.corrupt_rate)) {
    f = Fault::kCorrupt;
  } else if (u < (edge += options_.delay_rate)) {
    f = Fault::kDelay;
  }
  if (f != Fault::kNone) {
    std::lock_guard lock(mu_);
    ++injected_[static_cast<std::size_t>(f)];
  }
  if (f == Fault::kDelay) env_.SleepUntil(env_.Now() + options_.delay);  // on a worker, never a loop
  return f;
}

bool FaultBackend::Store(const ObjectKey& key, std::span<const std::byte> bytes) {
  std::uint64_t entropy;
  switch (Next('s', key, &entropy)) {
    case Fault::kFail: return false;
    case Fault::kShort:  // a torn write that claims success
      return inner_->Store(key, bytes.first(bytes.empty() ? 0 : bytes.size() - 1));
    case Fault::kCorrupt: {
      std::vector<std::byte> copy(bytes.begin(), bytes.end());
      if (!copy.empty()) copy[entropy % copy.size()] ^= std::byte{1} << (entropy >> 61);
      return inner_->Store(key, copy);
    }
    default: return inner_->Store(key, bytes);
  }
}

bool FaultBackend::Exists(const ObjectKey& key) {
  std::uint64_t entropy;
  if (Next('e', key, &entropy) == Fault::kFail) return false;
  return inner_->Exists(key);
}

std::optional<std::size_t> FaultBackend::Load(const ObjectKey& key, std::span<std::byte> dst) {
  std::uint64_t entropy;
  const Fault f = Next('l', key, &entropy);
  if (f == Fault::kFail) return std::nullopt;
  std::optional<std::size_t> n = inner_->Load(key, dst);
  if (!n || *n == 0) return n;
  if (f == Fault::kShort) return *n - 1;
  if (f == Fault::kCorrupt) dst[entropy % *n] ^= std::byte{1} << (entropy >> 61);
  return n;
}

std::string FaultBackend::Detail() const {
  const auto n = injected();
  return inner_->Detail() + " seed=" + std::to_string(options_.seed) + " fail=" + std::to_string(n[1]) +
         " short=" + std::to_string(n[2]) + " corrupt=" + std::to_string(n[3]) + " delay=" + std::to_string(n[4]);
}

std::array<std::uint64_t, 5> FaultBackend::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

}  // namespace lmc::l2
