#include "wire/cache_key.h"

#include <algorithm>
#include <array>
#include <cassert>

#include "wire/text.h"

namespace lmc::wire {
namespace {

// Spec §3.3. The fnuz types exist only on builds of torch that have them,
// but LMCache peers with such a torch send them, so both are accepted.
constexpr std::array<std::string_view, 14> kEraFDtypes = {
    "half",  "bfloat16", "float", "double",     "int8",         "uint8",    "int16",
    "int32", "int64",    "bool",  "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz"};
// Era E mapped both e4m3 types to "fp8_e4m3" and both e5m2 to "fp8_e5m2".
constexpr std::array<std::string_view, 12> kEraEDtypes = {
    "half", "bfloat16", "float", "double", "int8", "uint8", "int16", "int32", "int64", "bool", "fp8_e4m3", "fp8_e5m2"};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

KeyError ParseDecimalField(std::string_view s, std::int64_t* out, KeyError syntax_error) {
  switch (ParsePythonDecimal(s, out)) {
    case IntParseError::kOk: return KeyError::kOk;
    case IntParseError::kOverflow: return KeyError::kIntOutOfRange;
    case IntParseError::kSyntax: break;
  }
  return syntax_error;
}

// request_configs is a dict: a repeated name keeps its first position and
// takes the last value.
KeyError AddTag(std::string_view field, std::vector<KeyTag>* tags) {
  const std::size_t pct = field.find('%');
  if (pct == std::string_view::npos) return KeyError::kTagWithoutPercent;
  const std::string_view name = field.substr(0, pct);
  const std::string_view value = field.substr(pct + 1);
  for (KeyTag& t : *tags) {
    if (t.first == name) {
      t.second = value;
      return KeyError::kOk;
    }
  }
  tags->emplace_back(name, value);
  return KeyError::kOk;
}

}  // namespace

std::string_view KeyErrorMessage(KeyError e) {
  switch (e) {
    case KeyError::kOk: return "ok";
    case KeyError::kNotUtf8: return "key is not valid UTF-8";
    case KeyError::kTooFewParts: return "key has too few '@'-separated fields";
    case KeyError::kBadWorldSize: return "world_size is not a decimal integer";
    case KeyError::kBadWorkerId: return "worker_id is not a decimal integer";
    case KeyError::kBadHash: return "chunk_hash is not a hexadecimal integer";
    case KeyError::kUnknownDtype: return "unknown dtype string";
    case KeyError::kBadLayerId: return "layer_id is not a decimal integer";
    case KeyError::kTagWithoutPercent: return "tag field without '%'";
    case KeyError::kIntOutOfRange: return "integer field outside int64";
    case KeyError::kReservedChar: return "'@' in a field or '%' in a tag name";
    case KeyError::kNegativeLayer: return "negative layer_id";
    case KeyError::kDuplicateTag: return "duplicate tag name";
  }
  return "unknown error";
}

bool ChunkHash::Parse(std::string_view text, ChunkHash* out) {
  bool negative = false;
  std::string digits;
  if (ParsePythonHex(text, &negative, &digits) != IntParseError::kOk) return false;
  out->negative_ = negative;
  out->digits_ = std::move(digits);
  return true;
}

ChunkHash ChunkHash::FromInt(std::int64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  ChunkHash h;
  h.negative_ = v < 0;
  std::uint64_t mag = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  std::string d;
  do {
    d.push_back(kHex[mag & 0xF]);
    mag >>= 4;
  } while (mag != 0);
  std::reverse(d.begin(), d.end());
  h.digits_ = std::move(d);
  return h;
}

std::string ChunkHash::ToString() const { return negative_ ? "-" + digits_ : digits_; }

std::vector<std::string_view> KeyDtypeStrings(KeyEra era) {
  if (era == KeyEra::kE) return {kEraEDtypes.begin(), kEraEDtypes.end()};
  return {kEraFDtypes.begin(), kEraFDtypes.end()};
}

bool IsKeyDtype(KeyEra era, std::string_view s) {
  if (era == KeyEra::kE) return std::find(kEraEDtypes.begin(), kEraEDtypes.end(), s) != kEraEDtypes.end();
  return std::find(kEraFDtypes.begin(), kEraFDtypes.end(), s) != kEraFDtypes.end();
}

KeyError ParseCacheKey(std::string_view text, CacheKey* out, KeyParseOptions options) {
  if (!IsValidUtf8(text)) return KeyError::kNotUtf8;
  const std::vector<std::string_view> all = Split(text, '@');
  const bool era_e = options.era == KeyEra::kE;
  // Era E: one leading fmt field, then the same layout as era F.
  const std::size_t skip = era_e ? 1 : 0;
  const std::size_t n = all.size() - std::min(all.size(), skip);
  const std::string_view* p = all.data() + skip;
  if (n < 5) return KeyError::kTooFewParts;

  // parse_cache_key decides the key class on text.strip().split("@"): only the
  // last field can differ from the unstripped split, so strip it alone. A
  // field str.isdigit() accepts but int() does not fails on either branch.
  bool layer = false;
  if (!era_e || !options.era_e_layer_bug) {
    if (n >= 6) layer = AllDecimalDigits(n == 6 ? PythonRStrip(p[5]) : p[5]);
  }
  // (Era E with the bug: parts[5] of the whole string is the dtype, which is
  // never all digits, so every key parses as a plain key.)

  CacheKey k;
  if (era_e) k.fmt = all[0];
  k.model = p[0];
  if (KeyError e = ParseDecimalField(p[1], &k.world_size, KeyError::kBadWorldSize); e != KeyError::kOk) {
    return e;
  }
  if (KeyError e = ParseDecimalField(p[2], &k.worker_id, KeyError::kBadWorkerId); e != KeyError::kOk) {
    return e;
  }
  if (!ChunkHash::Parse(p[3], &k.chunk_hash)) return KeyError::kBadHash;
  if (!IsKeyDtype(options.era, p[4])) return KeyError::kUnknownDtype;
  k.dtype = p[4];
  std::size_t first_tag = 5;
  if (layer) {
    std::int64_t id = 0;
    if (KeyError e = ParseDecimalField(p[5], &id, KeyError::kBadLayerId); e != KeyError::kOk) {
      return e;
    }
    k.layer_id = id;
    first_tag = 6;
  }
  for (std::size_t i = first_tag; i < n; ++i) {
    if (KeyError e = AddTag(p[i], &k.tags); e != KeyError::kOk) return e;
  }
  *out = std::move(k);
  return KeyError::kOk;
}

KeyError RenderCacheKey(const CacheKey& key, std::string* out, KeyEra era) {
  const auto has = [](std::string_view s, char c) { return s.find(c) != std::string_view::npos; };
  if (has(key.model, '@') || (era == KeyEra::kE && has(key.fmt, '@'))) {
    return KeyError::kReservedChar;
  }
  if (!IsKeyDtype(era, key.dtype)) return KeyError::kUnknownDtype;
  if (key.layer_id && *key.layer_id < 0) return KeyError::kNegativeLayer;
  for (std::size_t i = 0; i < key.tags.size(); ++i) {
    const KeyTag& t = key.tags[i];
    if (has(t.first, '@') || has(t.first, '%') || has(t.second, '@')) {
      return KeyError::kReservedChar;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (key.tags[j].first == t.first) return KeyError::kDuplicateTag;
    }
  }
  std::string s;
  s.reserve(64 + key.model.size() + key.chunk_hash.digits().size());
  if (era == KeyEra::kE) {
    s += key.fmt;
    s += '@';
  }
  s += key.model;
  s += '@';
  s += std::to_string(key.world_size);
  s += '@';
  s += std::to_string(key.worker_id);
  s += '@';
  s += key.chunk_hash.ToString();
  s += '@';
  s += key.dtype;
  if (key.layer_id) {
    s += '@';
    s += std::to_string(*key.layer_id);
  }
  for (const KeyTag& t : key.tags) {
    s += '@';
    s += t.first;
    s += '%';
    s += t.second;
  }
  *out = std::move(s);
  return KeyError::kOk;
}

}  // namespace lmc::wire
