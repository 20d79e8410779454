// LMCache's cache-key grammar (spec §3), newest era F by default:
//
//   model@world_size@worker_id@hash@dtype[@layer_id][@name%value...]
//
// and era E (a leading serving-engine `fmt` field) as an option. Parsing
// follows LMCache's parse_cache_key/from_string exactly, including Python's
// lenient int() (sign, 0x, '_', surrounding and Unicode whitespace, Unicode
// digits), dict semantics for repeated tag names, and layer-key detection.
// Rendering follows to_string; the hash is the canonical f"{h:x}" form.
// Two keys are equal exactly when LMCache's key objects compare equal, so a
// store keyed by CacheKey behaves like the Python server's (spec §3.5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmc::wire {

enum class KeyEra : std::uint8_t {
  kF,  // newest main line: no fmt field
  kE,  // #1859: leading fmt field ("vllm", "huggingface", "" in probes)
};

enum class [[nodiscard]] KeyError : std::uint8_t{
    kOk = 0,
    kNotUtf8,            // the text is not valid UTF-8
    kTooFewParts,        // fewer '@'-separated fields than the era needs
    kBadWorldSize,       // int() rejects it
    kBadWorkerId,        // int() rejects it
    kBadHash,            // int(x, 16) rejects it
    kUnknownDtype,       // not in the era's dtype table
    kBadLayerId,         // a layer field int() rejects
    kTagWithoutPercent,  // a field after the dtype (or layer) without '%'
    kIntOutOfRange,      // a decimal field beyond int64 (Python has no limit)
    // Rendering refuses objects whose string would not parse back to them:
    kReservedChar,   // '@' in model/fmt/tag, or '%' in a tag name
    kNegativeLayer,  // a negative layer id would not read back as a layer
    kDuplicateTag,   // two tags with one name (Python keeps them in a dict)
};

std::string_view KeyErrorMessage(KeyError e);

// An integer chunk hash held as canonical text, so hashes of any size
// (sha256 and beyond) compare and render exactly as Python's int does.
class ChunkHash {
 public:
  ChunkHash() = default;

  // int(text, 16) with Python's rules; false (and unchanged) on error.
  [[nodiscard]] static bool Parse(std::string_view text, ChunkHash* out);
  // From a signed 64-bit value (convenience for tests and tools).
  static ChunkHash FromInt(std::int64_t v);

  [[nodiscard]] bool negative() const { return negative_; }
  // Lowercase hex magnitude, no leading zeros, "0" for zero.
  [[nodiscard]] const std::string& digits() const { return digits_; }
  // f"{h:x}": digits with a leading '-' when negative.
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const ChunkHash&, const ChunkHash&) = default;

 private:
  bool negative_ = false;
  std::string digits_ = "0";
};

using KeyTag = std::pair<std::string, std::string>;

struct CacheKey {
  std::string fmt;  // era E only; empty and ignored in era F
  std::string model;
  std::int64_t world_size = 0;
  std::int64_t worker_id = 0;
  ChunkHash chunk_hash;
  std::string dtype;                     // the era's dtype string, e.g. "bfloat16", "half"
  std::optional<std::int64_t> layer_id;  // set for a LayerCacheEngineKey
  std::vector<KeyTag> tags;              // in order; names are unique

  friend bool operator==(const CacheKey&, const CacheKey&) = default;
};

struct KeyParseOptions {
  KeyEra era = KeyEra::kF;
  // Era E's parse_cache_key tests parts[5] (the dtype) for a layer id, so a
  // layer key never parses (spec §3.9, #2135). false applies the #2138 fix.
  bool era_e_layer_bug = true;
};

// Parses `text` (already stripped of wire padding; not stripped again) into
// `*out`. On error `*out` is unspecified.
KeyError ParseCacheKey(std::string_view text, CacheKey* out, KeyParseOptions options = {});

// Renders `key` as to_string does. Fails (and leaves `*out` unspecified) for
// keys that would not parse back to an equal key.
KeyError RenderCacheKey(const CacheKey& key, std::string* out, KeyEra era = KeyEra::kF);

// The dtype strings of an era's table (spec §3.3), e.g. for generators.
std::vector<std::string_view> KeyDtypeStrings(KeyEra era);
[[nodiscard]] bool IsKeyDtype(KeyEra era, std::string_view s);

}  // namespace lmc::wire
