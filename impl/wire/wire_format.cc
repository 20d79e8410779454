#include "wire/wire_format.h"

#include <array>

namespace lmc::wire {

std::string_view MemoryFormatName(MemoryFormatEra era, std::int32_t value) {
  static constexpr std::array<std::string_view, 9> kNewest = {
      "UNDEFINED", "KV_2LTD", "KV_T2D", "KV_2TD", "BINARY", "BINARY_BUFFER", "KV_MLA_FMT", "EC_TD", "HS_TD"};
  static constexpr std::array<std::string_view, 4> kEarly = {"UNDEFINED", "KV_BLOB", "BINARY", "BINARY_BUFFER"};
  static constexpr std::array<std::string_view, 8> kAscend = {
      "UNDEFINED", "KV_2LTD", "KV_T2D", "KV_2TD", "BINARY", "BINARY_BUFFER", "KV_MLA_FMT", "KV_DSA_INDEX_FMT"};
  if (value < 0) return {};
  const auto i = static_cast<std::size_t>(value);
  switch (era) {
    case MemoryFormatEra::kEarlyV1a: return i < 3 ? kEarly[i] : std::string_view{};
    case MemoryFormatEra::kEarlyV1b: return i < 4 ? kEarly[i] : std::string_view{};
    case MemoryFormatEra::kRenumbered: return i < 7 ? kNewest[i] : std::string_view{};
    case MemoryFormatEra::kNewestMain: return i < 9 ? kNewest[i] : std::string_view{};
    case MemoryFormatEra::kAscendFork: return i < 8 ? kAscend[i] : std::string_view{};
  }
  return {};
}

std::string_view CommandName(std::int32_t v) {
  switch (v) {
    case 1: return "PUT";
    case 2: return "GET";
    case 3: return "EXIST";
    case 4: return "LIST";
    case 5: return "HEALTH";
    default: return "?";
  }
}

std::string_view DtypeCodeName(std::int32_t v) {
  static constexpr std::array<std::string_view, 9> kNames = {
      "None", "half", "float16", "bfloat16", "float32", "float64", "uint8", "float8_e4m3fn", "float8_e5m2"};
  return IsKnownDtypeCode(v) ? kNames[static_cast<std::size_t>(v)] : std::string_view{"?"};
}

}  // namespace lmc::wire
