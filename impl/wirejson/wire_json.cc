#include "wirejson/wire_json.h"

#include <array>
#include <cstdint>
#include <istream>
#include <limits>
#include <ostream>

#include "base/version.h"
#include "wire/text.h"

namespace lmc::wirejson {
namespace {

using wire::CacheKey;
using wire::RemoteMetadata;
using wire::ReplyHeader;
using wire::RequestHeader;

// Reads an integer field within [lo, hi]; "" on success.
std::string GetInt(const Json& j, const char* name, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  const auto it = j.find(name);
  if (it == j.end()) return std::string("missing field \"") + name + "\"";
  if (!it->is_number_integer()) return std::string("field \"") + name + "\" is not an integer";
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(hi)) return std::string("field \"") + name + "\" out of range";
    *out = static_cast<std::int64_t>(v);
    return {};
  }
  const auto v = it->get<std::int64_t>();
  if (v < lo || v > hi) return std::string("field \"") + name + "\" out of range";
  *out = v;
  return {};
}

std::string GetI32(const Json& j, const char* name, std::int32_t* out) {
  std::int64_t v = 0;
  std::string e =
      GetInt(j, name, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max(), &v);
  if (e.empty()) *out = static_cast<std::int32_t>(v);
  return e;
}

std::string GetShape(const Json& j, wire::Shape* out) {
  const auto it = j.find("shape");
  if (it == j.end()) return "missing field \"shape\"";
  if (!it->is_array() || it->size() != wire::kShapeDims) return "\"shape\" is not an array of 4 integers";
  for (std::size_t i = 0; i < wire::kShapeDims; ++i) {
    const Json& d = (*it)[i];
    if (!d.is_number_integer()) return "\"shape\" is not an array of 4 integers";
    if (d.is_number_unsigned() ? d.get<std::uint64_t>() > INT32_MAX
                               : (d.get<std::int64_t>() < INT32_MIN || d.get<std::int64_t>() > INT32_MAX)) {
      return "\"shape\" value out of range";
    }
    (*out)[i] = static_cast<std::int32_t>(d.get<std::int64_t>());
  }
  return {};
}

std::string GetString(const Json& j, const char* name, std::string* out) {
  const auto it = j.find(name);
  if (it == j.end()) return std::string("missing field \"") + name + "\"";
  if (!it->is_string()) return std::string("field \"") + name + "\" is not a string";
  *out = it->get<std::string>();
  return {};
}

Json ShapeJson(const wire::Shape& s) { return Json::array({s[0], s[1], s[2], s[3]}); }

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

std::optional<Kind> ParseKind(std::string_view name) {
  if (name == "client") return Kind::kClient;
  if (name == "server") return Kind::kServer;
  if (name == "metadata") return Kind::kMetadata;
  if (name == "key") return Kind::kKey;
  return std::nullopt;
}

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kClient: return "client";
    case Kind::kServer: return "server";
    case Kind::kMetadata: return "metadata";
    case Kind::kKey: return "key";
  }
  return "?";
}

Json ToJson(const RequestHeader& h) {
  Json j;
  j["command"] = h.command;
  j["length"] = h.length;
  j["fmt"] = h.fmt;
  j["dtype"] = h.dtype;
  j["location"] = h.location;
  j["shape"] = ShapeJson(h.shape);
  j["key"] = std::string(h.key.view());
  return j;
}

Json ToJson(const ReplyHeader& h) {
  Json j;
  j["code"] = h.code;
  j["length"] = h.length;
  j["fmt"] = h.fmt;
  j["dtype"] = h.dtype;
  j["shape"] = ShapeJson(h.shape);
  j["location"] = h.location;
  return j;
}

Json ToJson(const RemoteMetadata& m) {
  Json j;
  j["length"] = m.length;
  j["fmt"] = m.fmt;
  Json groups = Json::array();
  for (const wire::MetadataGroup& g : m.groups) {
    Json gj;
    gj["dtype"] = g.dtype;
    gj["shape"] = ShapeJson(g.shape);
    groups.push_back(std::move(gj));
  }
  j["groups"] = std::move(groups);
  return j;
}

Json ToJson(const CacheKey& k) {
  Json j;
  j["model"] = k.model;
  j["world_size"] = k.world_size;
  j["worker_id"] = k.worker_id;
  j["chunk_hash"] = k.chunk_hash.ToString();
  j["dtype"] = k.dtype;
  j["layer_id"] = k.layer_id ? Json(*k.layer_id) : Json(nullptr);
  Json tags = Json::array();
  for (const wire::KeyTag& t : k.tags) tags.push_back(Json::array({t.first, t.second}));
  j["tags"] = std::move(tags);
  return j;
}

std::string FromJson(const Json& j, RequestHeader* out) {
  if (!j.is_object()) return "not a JSON object";
  std::string e;
  std::string key;
  if (!(e = GetI32(j, "command", &out->command)).empty()) return e;
  if (!(e = GetI32(j, "length", &out->length)).empty()) return e;
  if (!(e = GetI32(j, "fmt", &out->fmt)).empty()) return e;
  if (!(e = GetI32(j, "dtype", &out->dtype)).empty()) return e;
  if (!(e = GetI32(j, "location", &out->location)).empty()) return e;
  if (!(e = GetShape(j, &out->shape)).empty()) return e;
  if (!(e = GetString(j, "key", &key)).empty()) return e;
  if (wire::WireError we = out->key.Assign(key); we != wire::WireError::kOk) {
    return std::string(wire::WireErrorMessage(we));
  }
  return {};
}

std::string FromJson(const Json& j, ReplyHeader* out) {
  if (!j.is_object()) return "not a JSON object";
  std::string e;
  if (!(e = GetI32(j, "code", &out->code)).empty()) return e;
  if (!(e = GetI32(j, "length", &out->length)).empty()) return e;
  if (!(e = GetI32(j, "fmt", &out->fmt)).empty()) return e;
  if (!(e = GetI32(j, "dtype", &out->dtype)).empty()) return e;
  if (!(e = GetShape(j, &out->shape)).empty()) return e;
  if (!(e = GetI32(j, "location", &out->location)).empty()) return e;
  return {};
}

std::string FromJson(const Json& j, RemoteMetadata* out) {
  if (!j.is_object()) return "not a JSON object";
  std::string e;
  if (!(e = GetI32(j, "length", &out->length)).empty()) return e;
  if (!(e = GetI32(j, "fmt", &out->fmt)).empty()) return e;
  const auto it = j.find("groups");
  if (it == j.end()) return "missing field \"groups\"";
  if (!it->is_array()) return "\"groups\" is not an array";
  if (it->empty()) return "\"groups\" is empty";
  if (it->size() > wire::kMetadataGroupsMax) return "too many groups";
  out->groups.assign(it->size(), {});
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& g = (*it)[i];
    if (!g.is_object()) return "a group is not a JSON object";
    if (!(e = GetI32(g, "dtype", &out->groups[i].dtype)).empty()) return e;
    if (!(e = GetShape(g, &out->groups[i].shape)).empty()) return e;
  }
  return {};
}

std::string FromJson(const Json& j, CacheKey* out) {
  if (!j.is_object()) return "not a JSON object";
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::string e;
  std::string hash;
  CacheKey k;
  if (!(e = GetString(j, "model", &k.model)).empty()) return e;
  if (!(e = GetInt(j, "world_size", kMin, kMax, &k.world_size)).empty()) return e;
  if (!(e = GetInt(j, "worker_id", kMin, kMax, &k.worker_id)).empty()) return e;
  if (!(e = GetString(j, "chunk_hash", &hash)).empty()) return e;
  if (!wire::ChunkHash::Parse(hash, &k.chunk_hash)) return "\"chunk_hash\" is not a hexadecimal integer";
  if (!(e = GetString(j, "dtype", &k.dtype)).empty()) return e;
  if (const auto it = j.find("layer_id"); it != j.end() && !it->is_null()) {
    std::int64_t layer = 0;
    if (!(e = GetInt(j, "layer_id", kMin, kMax, &layer)).empty()) return e;
    k.layer_id = layer;
  }
  if (const auto it = j.find("tags"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return "\"tags\" is not an array";
    for (const Json& t : *it) {
      if (!t.is_array() || t.size() != 2 || !t[0].is_string() || !t[1].is_string()) {
        return "a tag is not a [name, value] pair of strings";
      }
      k.tags.emplace_back(t[0].get<std::string>(), t[1].get<std::string>());
    }
  }
  *out = std::move(k);
  return {};
}

bool FromHex(std::string_view hex, std::string* bytes) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return false;
  bytes->assign(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < bytes->size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*bytes)[i] = static_cast<char>((hi << 4) | lo);
  }
  return true;
}

namespace {

bool Fail(std::string_view reason, std::string* output) {
  *output = "error: ";
  output->append(reason);
  return false;
}

std::string_view TrimAsciiSpace(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::span<const std::byte> AsBytes(std::string_view s) { return std::as_bytes(std::span<const char>(s)); }

}  // namespace

bool EncodeLine(Kind kind, std::string_view input, std::string* output) {
  const Json j = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail("invalid JSON", output);
  std::string e;
  switch (kind) {
    case Kind::kClient: {
      RequestHeader h;
      if (!(e = FromJson(j, &h)).empty()) return Fail(e, output);
      std::array<std::byte, wire::kRequestHeaderBytes> buf{};
      wire::EncodeRequest(h, buf);
      *output = ToHex(buf);
      return true;
    }
    case Kind::kServer: {
      ReplyHeader h;
      if (!(e = FromJson(j, &h)).empty()) return Fail(e, output);
      std::array<std::byte, wire::kReplyHeaderBytes> buf{};
      wire::EncodeReply(h, buf);
      *output = ToHex(buf);
      return true;
    }
    case Kind::kMetadata: {
      RemoteMetadata m;
      if (!(e = FromJson(j, &m)).empty()) return Fail(e, output);
      std::vector<std::byte> buf(wire::MetadataBytes(m.groups.size()));
      if (wire::WireError we = wire::EncodeMetadata(m, buf); we != wire::WireError::kOk) {
        return Fail(wire::WireErrorMessage(we), output);
      }
      *output = ToHex(buf);
      return true;
    }
    case Kind::kKey: {
      CacheKey k;
      if (!(e = FromJson(j, &k)).empty()) return Fail(e, output);
      if (wire::KeyError ke = wire::RenderCacheKey(k, output); ke != wire::KeyError::kOk) {
        return Fail(wire::KeyErrorMessage(ke), output);
      }
      return true;
    }
  }
  return Fail("unknown kind", output);
}

bool DecodeLine(Kind kind, std::string_view input, std::string* output) {
  if (kind == Kind::kKey) {
    // The line is the key string itself, whitespace and all.
    CacheKey k;
    if (wire::KeyError ke = wire::ParseCacheKey(input, &k); ke != wire::KeyError::kOk) {
      return Fail(wire::KeyErrorMessage(ke), output);
    }
    *output = Dump(ToJson(k));
    return true;
  }
  std::string bytes;
  if (!FromHex(TrimAsciiSpace(input), &bytes)) return Fail("invalid hex", output);
  wire::WireError we = wire::WireError::kOk;
  switch (kind) {
    case Kind::kClient: {
      RequestHeader h;
      if ((we = wire::DecodeRequest(AsBytes(bytes), &h)) != wire::WireError::kOk) break;
      *output = Dump(ToJson(h));
      return true;
    }
    case Kind::kServer: {
      ReplyHeader h;
      if ((we = wire::DecodeReply(AsBytes(bytes), &h)) != wire::WireError::kOk) break;
      *output = Dump(ToJson(h));
      return true;
    }
    case Kind::kMetadata: {
      RemoteMetadata m;
      if ((we = wire::DecodeMetadata(AsBytes(bytes), &m)) != wire::WireError::kOk) break;
      *output = Dump(ToJson(m));
      return true;
    }
    case Kind::kKey: break;
  }
  return Fail(wire::WireErrorMessage(we), output);
}

namespace {

constexpr std::string_view kUsage =
    "usage: lmcache-wire encode|decode client|server|metadata|key < lines > lines\n"
    "       lmcache-wire --help | --version\n"
    "  encode: one JSON object per input line -> lowercase hex (key: the key string)\n"
    "  decode: hex (key: the key string) per input line -> one JSON object\n"
    "  A failed line prints 'error: <reason>'; processing goes on with the next line.\n"
    "  The JSON forms are those of the kit's wire-json specification.\n"
    "Exit status: 0 every line succeeded; 1 a line failed; 2 usage error.\n";

// Reads one line of at most kLineBytesMax bytes (the rest of a longer line is
// skipped). Returns false at end of input.
bool ReadLine(std::istream& in, std::string* line, bool* too_long) {
  line->clear();
  *too_long = false;
  bool any = false;
  std::streambuf* sb = in.rdbuf();
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) return any;
    any = true;
    if (c == '\n') return true;
    if (line->size() < kLineBytesMax) {
      line->push_back(static_cast<char>(c));
    } else {
      *too_long = true;
    }
  }
}

}  // namespace

int RunWireTool(std::span<const std::string_view> args, std::istream& in, std::ostream& out, std::ostream& err) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    out << kUsage;
    return 0;
  }
  if (args.size() == 1 && args[0] == "--version") {
    out << base::VersionLine("lmcache-wire") << '\n';
    return 0;
  }
  const std::optional<Kind> kind = args.size() == 2 ? ParseKind(args[1]) : std::nullopt;
  const bool encode = args.size() == 2 && args[0] == "encode";
  const bool decode = args.size() == 2 && args[0] == "decode";
  if (!kind || !(encode || decode)) {
    err << kUsage;
    return 2;
  }
  int status = 0;
  std::string line;
  std::string output;
  bool too_long = false;
  while (ReadLine(in, &line, &too_long)) {
    bool ok = false;
    if (too_long) {
      ok = Fail("input line longer than 1 MiB", &output);
    } else {
      ok = encode ? EncodeLine(*kind, line, &output) : DecodeLine(*kind, line, &output);
    }
    if (!ok) status = 1;
    out << output << '\n';
  }
  out.flush();
  return status;
}

}  // namespace lmc::wirejson
