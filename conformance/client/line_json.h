// One JSON object per line, with a fast path for the one large member of
// client mode's line protocol: "data", the base64 of a body that may run to
// tens of megabytes. nlohmann's lexer and serializer go character by
// character with UTF-8 checks; for a base64 string (plain ASCII, nothing to
// escape) that is the bulk of a large case's time. So a "data" string is
// spliced in after dumping the rest, and cut out before parsing the rest.
// Everything else, and any "data" that is not plain base64 text, goes
// through nlohmann unchanged. Shared by the runner and the C++ testee.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lmc::conformance::line_json {

// Below this a line takes the ordinary path: the fast one only pays off for bodies.
inline constexpr std::size_t kFastPathBytes = 4096;

inline bool IsBase64Text(std::string_view s) {
  for (const char c : s) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!ok) return false;
  }
  return true;
}

// Compact JSON of the object `j` (no newline). Invalid UTF-8 is replaced,
// never thrown on.
inline std::string Dump(nlohmann::json j) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  const auto it = j.find("data");
  if (!j.is_object() || it == j.end() || !it->is_string() ||
      it->get_ref<const std::string&>().size() < kFastPathBytes || !IsBase64Text(it->get_ref<const std::string&>())) {
    return j.dump(-1, ' ', false, kReplace);
  }
  std::string data = std::move(it->get_ref<std::string&>());
  j.erase(it);
  std::string line = j.dump(-1, ' ', false, kReplace);
  line.pop_back();  // the closing '}'
  line.reserve(line.size() + data.size() + 12);
  if (line.size() > 1) line += ',';
  line += "\"data\":\"";
  line += data;
  line += "\"}";
  return line;
}

namespace detail {

inline std::size_t SkipSpace(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

// s[i] is '"': the index after the closing quote, or npos.
inline std::size_t SkipString(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// The index after the value at s[i], or npos. Only finds the value's end;
// nlohmann validates it afterwards.
inline std::size_t SkipValue(std::string_view s, std::size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
    return i;
  }
  int depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      if (i == std::string_view::npos) return i;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return std::string_view::npos;
}

// Cuts the plain base64 value of the top-level member "data" out of the
// object in *line (leaving "data":""); nullopt, and *line untouched, when
// there is none.
inline std::optional<std::string> CutData(std::string* line) {
  const std::string_view s = *line;
  std::size_t i = SkipSpace(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  for (i = SkipSpace(s, i + 1); i < s.size() && s[i] == '"';) {
    const std::size_t key_end = SkipString(s, i);
    if (key_end == std::string_view::npos) return std::nullopt;
    const bool is_data = s.substr(i, key_end - i) == "\"data\"";
    i = SkipSpace(s, key_end);
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    i = SkipSpace(s, i + 1);
    if (is_data && i < s.size() && s[i] == '"') {
      const std::size_t close = s.find('"', i + 1);
      if (close == std::string_view::npos || !IsBase64Text(s.substr(i + 1, close - i - 1))) return std::nullopt;
      std::string data(s.substr(i + 1, close - i - 1));
      line->erase(i + 1, close - i - 1);
      return data;
    }
    i = SkipValue(s, i);
    if (i == std::string_view::npos) return std::nullopt;
    i = SkipSpace(s, i);
    if (i >= s.size() || s[i] != ',') return std::nullopt;
    i = SkipSpace(s, i + 1);
  }
  return std::nullopt;
}

}  // namespace detail

// Parses one line; a discarded value (is_discarded()) when it is not JSON.
// Never throws.
inline nlohmann::json Parse(std::string line) {
  std::optional<std::string> data;
  if (line.size() >= kFastPathBytes) data = detail::CutData(&line);
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (data && j.is_object()) j["data"] = std::move(*data);
  return j;
}

}  // namespace lmc::conformance::line_json
