#include "serde/dtype.h"

#include <array>
#include <utility>

namespace lmc::serde {
namespace {

struct Entry {
  std::string_view name;
  DType type;
};

// Canonical names first (DTypeName returns the first match).
constexpr std::array<Entry, 17> kNames = {{
    {"float32", DType::kFloat32},
    {"float16", DType::kFloat16},
    {"bfloat16", DType::kBFloat16},
    {"float8_e4m3fn", DType::kFloat8E4M3FN},
    {"float8_e5m2", DType::kFloat8E5M2},
    {"uint8", DType::kUInt8},
    {"int8", DType::kInt8},
    {"int16", DType::kInt16},
    {"int32", DType::kInt32},
    {"int64", DType::kInt64},
    {"float64", DType::kFloat64},
    {"float", DType::kFloat32},
    {"half", DType::kFloat16},
    {"double", DType::kFloat64},
    {"short", DType::kInt16},
    {"int", DType::kInt32},
    {"long", DType::kInt64},
}};

}  // namespace

std::optional<DType> ParseDType(std::string_view name) {
  if (name.substr(0, 6) == "torch.") name.remove_prefix(6);
  for (const Entry& e : kNames) {
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

std::string_view DTypeName(DType t) {
  for (const Entry& e : kNames) {
    if (e.type == t) return e.name;
  }
  return "?";
}

std::size_t DTypeBytes(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kFloat16: return 2;
    case DType::kBFloat16: return 2;
    case DType::kFloat8E4M3FN: return 1;
    case DType::kFloat8E5M2: return 1;
    case DType::kUInt8: return 1;
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kFloat64: return 8;
  }
  return 0;
}

std::optional<std::uint64_t> NumElements(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (const std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

std::optional<std::uint64_t> LayoutBytes(const Layout& layout) {
  std::uint64_t total = 0;
  for (const Group& g : layout.groups) {
    const auto n = NumElements(g.shape);
    std::uint64_t bytes = 0;
    if (!n || __builtin_mul_overflow(*n, DTypeBytes(g.dtype), &bytes)) return std::nullopt;
    if (__builtin_add_overflow(total, bytes, &total)) return std::nullopt;
  }
  return total;
}

}  // namespace lmc::serde
