// The JSON form of wire objects defined in docs/WIRE-JSON.md (the kit's copy
// of ../shared/spec/wire-json.md), and the line-oriented `lmcache-wire` tool
// built on it. Shared by the tool and the golden-fixture tests.
//
// Nothing here throws on bad input: every conversion returns an error string
// (empty on success). JSON is parsed with exceptions disabled.
#pragma once

#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wire/cache_key.h"
#include "wire/headers.h"
#include "wire/text.h"

namespace lmc::wirejson {

using Json = nlohmann::ordered_json;

enum class Kind : std::uint8_t { kClient, kServer, kMetadata, kKey };

std::optional<Kind> ParseKind(std::string_view name);
std::string_view KindName(Kind k);

// Objects to JSON, fields in the order of the spec's table.
Json ToJson(const wire::RequestHeader& h);
Json ToJson(const wire::ReplyHeader& h);
Json ToJson(const wire::RemoteMetadata& m);
Json ToJson(const wire::CacheKey& k);

// JSON to objects. Unknown fields are ignored; a missing field, a value of
// the wrong type, or an integer outside int32 (int64 for key fields) is an
// error. Returns "" on success, else a short reason.
std::string FromJson(const Json& j, wire::RequestHeader* out);
std::string FromJson(const Json& j, wire::ReplyHeader* out);
std::string FromJson(const Json& j, wire::RemoteMetadata* out);
std::string FromJson(const Json& j, wire::CacheKey* out);

// Lowercase hex of bytes (wire::ToHex), and its inverse (either case; false
// on odd length or a non-hex character).
using wire::ToHex;
bool FromHex(std::string_view hex, std::string* bytes);

// One line of the tool: the output line without its newline. On failure
// `*output` starts with "error: " and the function returns false.
bool EncodeLine(Kind kind, std::string_view input, std::string* output);
bool DecodeLine(Kind kind, std::string_view input, std::string* output);

// Longest input line the tool accepts; longer lines produce an error line.
inline constexpr std::size_t kLineBytesMax = 1 << 20;

// `lmcache-wire encode|decode KIND`: reads `in` line by line and writes one
// line per input line to `out`. Returns the exit status: 0 when every line
// succeeded, 1 when any failed, 2 for a usage error (reported on `err`).
// `--help` (the usage, with the exit statuses) and `--version` (the kit's
// version and protocol revision, base/version.h) write to `out` and return 0.
int RunWireTool(std::span<const std::string_view> args, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace lmc::wirejson
