// Element types of KV tensors, named as PyTorch spells them, and the layout
// descriptor of a memory object (one shape and dtype per group), as LMCache's
// MemoryLayoutDesc (serde.md §1.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace lmc::serde {

enum class DType : std::uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat8E4M3FN,
  kFloat8E5M2,
  kUInt8,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat64,
};

// PyTorch's name ("bfloat16", "float16", "float32", "uint8", ...); aliases
// PyTorch also accepts ("half", "float", "double", ...) parse too.
[[nodiscard]] std::optional<DType> ParseDType(std::string_view name);
std::string_view DTypeName(DType t);
std::size_t DTypeBytes(DType t);

struct Group {
  std::vector<std::int64_t> shape;
  DType dtype = DType::kUInt8;
};

// One entry per group; ordinary KV chunks have one group.
struct Layout {
  std::vector<Group> groups;
};

// The number of elements of a shape; nullopt if a dimension is negative or
// the product overflows (hostile shapes never wrap).
[[nodiscard]] std::optional<std::uint64_t> NumElements(const std::vector<std::int64_t>& shape);
// Bytes of all groups in their own dtypes; nullopt on overflow.
[[nodiscard]] std::optional<std::uint64_t> LayoutBytes(const Layout& layout);

}  // namespace lmc::serde
