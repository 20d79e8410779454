// The fs back end's file names (impl/l2/backends.h, FsFileName; docs/L2.md,
// fs), and the lm:// key the lm back end gives the same ObjectKey
// (LmWireKey). The target carries its own decoder of the documented format,
// and holds impl/'s (ParseFsFileName, the tier's restart scan) to it.
//
// Input: [kv_rank: i64 LE][object_group_id: i64 LE][hash length: u8][hash
// bytes][model length: u8][model bytes][salt: the rest]. A field cut short
// by the end of the input is read as far as it goes (integers zero-extended,
// lengths capped), so every input is a key.
//
// Oracles for FsFileName:
// - it refuses exactly the keys docs/L2.md lists: a model with '@', NUL or
//   another control byte (< 0x20, 0x7f); a salt with '@', '/', '\', a
//   control byte, or over 128 bytes; a negative rank or group; a name over
//   230 bytes (its length computed here from the fields);
// - a name is one safe path component: not empty, not "." or "..", no '/',
//   NUL or control byte, ends ".data", at most 230 bytes (so the temp name
//   "<name>.<u64 seq>.tmp" stays within NAME_MAX, 255);
// - it encodes the fields as documented, <model with '/' written
//   "-SEP-">@0x<rank, at least 8 lowercase hex digits>@<group hex>@<hash
//   hex, two digits a byte>[@<salt>].data: decoded here, the name gives back
//   the rank, group, hash and salt exactly, and renders again to itself.
//   The model comes back modulo LMCache's "-SEP-" quirk: "a/b" and "a-SEP-b"
//   share a name, so the decoded model (the name's "-SEP-"s read as '/')
//   encodes to the same name field as the original, and equals it whenever
//   the original has neither "-SEP" nor "SEP-" in it (only then can no
//   "-SEP-" be misread).
// Oracles for LmWireKey:
// - it refuses a negative rank or group; a key it renders parses as an era
//   F key (wire/cache_key.h) with the model, the rank's top two bytes as
//   world size and worker id, the hash's value, dtype uint8 and the tags
//   r%<rank hex>, g%<group hex>[, s%<salt>], in that order; a model or
//   salt that is not UTF-8 renders no key.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "input_reader.h"
#include "l2/backends.h"
#include "oracle.h"
#include "serde/serde.h"
#include "wire/cache_key.h"
#include "wire/text.h"

namespace {

using lmc::serde::ObjectKey;

constexpr std::size_t kNameBytesMax = 230;
constexpr std::size_t kSaltBytesMax = 128;
constexpr std::size_t kNameMax = 255;            // NAME_MAX on Linux
constexpr std::size_t kTempSuffixBytesMax = 25;  // ".<up to 20 digits>.tmp"
constexpr std::string_view kSep = "-SEP-";
constexpr std::string_view kSuffix = ".data";

bool IsControl(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == 0x7f;
}

bool HasControl(std::string_view s) {
  for (const char c : s) {
    if (IsControl(c)) return true;
  }
  return false;
}

bool Has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

std::size_t HexDigits(std::uint64_t v) {
  std::size_t n = 1;
  while (v >>= 4) ++n;
  return n;
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, from.size()) == from) {
      out += to;
      i += from.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

// The name's length, from the fields alone.
std::size_t NameBytes(const ObjectKey& k) {
  std::size_t slashes = 0;
  for (const char c : k.model_name) slashes += c == '/' ? 1 : 0;
  return k.model_name.size() + slashes * (kSep.size() - 1) + 3 +
         std::max<std::size_t>(8, HexDigits(static_cast<std::uint64_t>(k.kv_rank))) + 1 +
         HexDigits(static_cast<std::uint64_t>(k.object_group_id)) + 1 + 2 * k.chunk_hash.size() +
         (k.cache_salt.empty() ? 0 : 1 + k.cache_salt.size()) + kSuffix.size();
}

bool Refused(const ObjectKey& k) {
  const std::string& model = k.model_name;
  const std::string& salt = k.cache_salt;
  if (Has(model, "@") || HasControl(model)) return true;
  if (salt.size() > kSaltBytesMax || salt.find_first_of("@/\\") != std::string::npos || HasControl(salt)) return true;
  if (k.kv_rank < 0 || k.object_group_id < 0) return true;
  return NameBytes(k) > kNameBytesMax;
}

bool IsLowerHex(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// Lowercase hex of at most 16 digits into *out.
bool ParseHex64(std::string_view s, std::uint64_t* out) {
  if (!IsLowerHex(s) || s.size() > 16) return false;
  *out = 0;
  for (const char c : s) *out = *out << 4 | static_cast<std::uint64_t>(HexValue(c));
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t begin = 0;;) {
    const std::size_t end = s.find(sep, begin);
    parts.push_back(s.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

// The key a name encodes (the model with every "-SEP-" read as '/'), or
// nullopt when the name is not in the documented format.
std::optional<ObjectKey> DecodeName(std::string_view name) {
  if (name.size() < kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  const std::vector<std::string_view> parts = Split(name.substr(0, name.size() - kSuffix.size()), '@');
  if (parts.size() != 4 && parts.size() != 5) return std::nullopt;
  ObjectKey k;
  k.model_name = ReplaceAll(parts[0], kSep, "/");
  // "%#010x": "0x", then at least eight digits, zeros only to pad to eight.
  const std::string_view rank = parts[1];
  std::uint64_t v = 0;
  if (rank.substr(0, 2) != "0x" || rank.size() < 10 || (rank.size() > 10 && rank[2] == '0') ||
      !ParseHex64(rank.substr(2), &v) || v > INT64_MAX) {
    return std::nullopt;
  }
  k.kv_rank = static_cast<std::int64_t>(v);
  const std::string_view group = parts[2];
  if ((group.size() > 1 && group[0] == '0') || !ParseHex64(group, &v) || v > INT64_MAX) return std::nullopt;
  k.object_group_id = static_cast<std::int64_t>(v);
  const std::string_view hash = parts[3];
  if (hash.size() % 2 != 0 || (!hash.empty() && !IsLowerHex(hash))) return std::nullopt;
  for (std::size_t i = 0; i < hash.size(); i += 2) {
    k.chunk_hash.push_back(static_cast<std::byte>(HexValue(hash[i]) << 4 | HexValue(hash[i + 1])));
  }
  if (parts.size() == 5) {
    if (parts[4].empty()) return std::nullopt;  // an empty salt writes no field
    k.cache_salt = std::string(parts[4]);
  }
  return k;
}

void CheckFsName(const ObjectKey& key) {
  const std::optional<std::string> name = lmc::l2::FsFileName(key);
  if (name.has_value() == Refused(key))
    LMC_ORACLE_FAIL(name ? "named a key docs/L2.md refuses" : "refused a key docs/L2.md allows");
  if (!name) return;
  const std::string& n = *name;
  if (n.empty() || n == "." || n == ".." || Has(n, "/") || HasControl(n))
    LMC_ORACLE_FAIL("a name that is no safe path component");
  if (n.size() > kNameBytesMax || n.size() + kTempSuffixBytesMax > kNameMax)
    LMC_ORACLE_FAIL("a name too long for its temp name");
  if (n.size() != NameBytes(key)) LMC_ORACLE_FAIL("a name of another length than its fields");
  const std::optional<ObjectKey> back = DecodeName(n);
  if (!back) LMC_ORACLE_FAIL("a name not in the documented format");
  if (back->kv_rank != key.kv_rank || back->object_group_id != key.object_group_id ||
      back->chunk_hash != key.chunk_hash || back->cache_salt != key.cache_salt) {
    LMC_ORACLE_FAIL("a name decodes to another rank, group, hash or salt");
  }
  const std::string sep_free = ReplaceAll(key.model_name, "/", kSep);
  if (ReplaceAll(back->model_name, "/", kSep) != sep_free) LMC_ORACLE_FAIL("the decoded model encodes otherwise");
  if (!Has(key.model_name, "-SEP") && !Has(key.model_name, "SEP-") && back->model_name != key.model_name) {
    LMC_ORACLE_FAIL("a model without \"-SEP\" or \"SEP-\" does not come back");
  }
  const std::optional<std::string> again = lmc::l2::FsFileName(*back);
  if (!again || *again != n) LMC_ORACLE_FAIL("the decoded key names another file");
  const std::optional<ObjectKey> parsed = lmc::l2::ParseFsFileName(n);
  if (!parsed || parsed->model_name != back->model_name || parsed->kv_rank != back->kv_rank ||
      parsed->object_group_id != back->object_group_id || parsed->chunk_hash != back->chunk_hash ||
      parsed->cache_salt != back->cache_salt) {
    LMC_ORACLE_FAIL("ParseFsFileName reads a name otherwise than the documented format");
  }
}

void CheckLmWireKey(const ObjectKey& key) {
  namespace wire = lmc::wire;
  const std::optional<std::string> text = lmc::l2::LmWireKey(key);
  if (key.kv_rank < 0 || key.object_group_id < 0) {
    if (text) LMC_ORACLE_FAIL("LmWireKey rendered a negative rank or group");
    return;
  }
  const bool utf8 = wire::IsValidUtf8(key.model_name) && wire::IsValidUtf8(key.cache_salt);
  if (text && !utf8) LMC_ORACLE_FAIL("LmWireKey rendered a model or salt that is not UTF-8");
  if (!text) return;
  wire::CacheKey k;
  if (wire::ParseCacheKey(*text, &k) != wire::KeyError::kOk)
    LMC_ORACLE_FAIL("LmWireKey rendered a key that does not parse");
  const auto rank = static_cast<std::uint64_t>(key.kv_rank);
  std::vector<wire::KeyTag> tags{{"r", wire::ToHex(rank)},
                                 {"g", wire::ToHex(static_cast<std::uint64_t>(key.object_group_id))}};
  if (!key.cache_salt.empty()) tags.emplace_back("s", key.cache_salt);
  wire::ChunkHash hash;
  if (!wire::ChunkHash::Parse(key.chunk_hash.empty() ? "0" : wire::ToHex(key.chunk_hash), &hash))
    LMC_ORACLE_FAIL("a bad hash");
  if (k.model != key.model_name || k.world_size != static_cast<std::int64_t>((rank >> 24) & 0xff) ||
      k.worker_id != static_cast<std::int64_t>((rank >> 16) & 0xff) || !(k.chunk_hash == hash) || k.dtype != "uint8" ||
      k.layer_id || k.tags != tags) {
    LMC_ORACLE_FAIL("LmWireKey's key parses to other fields");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lmc::fuzzing::InputReader in({data, size});
  ObjectKey key;
  key.kv_rank = in.I64();
  key.object_group_id = in.I64();
  const std::string_view hash = in.Bytes(in.U8());
  for (const char c : hash) key.chunk_hash.push_back(static_cast<std::byte>(c));
  key.model_name = in.Bytes(in.U8());
  key.cache_salt = in.Rest();
  CheckFsName(key);
  CheckLmWireKey(key);
  return 0;
}
