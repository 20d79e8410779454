#include "serde/fp8_serde.h"

#include "serde/fp8_kernels.h"

namespace lmc::serde {
namespace {

bool Castable(DType t) { return t == DType::kBFloat16 || t == DType::kFloat16 || t == DType::kFloat32; }

// The layout's total elements (the fp8 blob's size) and bytes (its own
// size), or an error for a layout fp8 cannot take.
struct Sizes {
  std::uint64_t elements = 0;
  std::uint64_t bytes = 0;
};
SerdeError Measure(const Layout& layout, Sizes* sizes) {
  if (layout.groups.empty()) return SerdeError::kBadLayout;
  for (const Group& g : layout.groups) {
    const auto n = NumElements(g.shape);
    if (!n || !Castable(g.dtype) || __builtin_add_overflow(sizes->elements, *n, &sizes->elements)) {
      return SerdeError::kBadLayout;
    }
  }
  const auto bytes = LayoutBytes(layout);
  if (!bytes) return SerdeError::kBadLayout;
  sizes->bytes = *bytes;
  return SerdeError::kOk;
}

// Calls fn(group, elements, wide_offset, fp8_offset) for each group in order
// of a layout Measure() accepted.
template <typename Fn>
void ForEachGroup(const Layout& layout, Fn fn) {
  std::size_t wide = 0, narrow = 0;
  for (const Group& g : layout.groups) {
    const auto n = static_cast<std::size_t>(*NumElements(g.shape));
    fn(g, n, wide, narrow);
    wide += n * DTypeBytes(g.dtype);
    narrow += n;
  }
}

}  // namespace

void CastToFp8(DType from, std::span<const std::byte> src, std::span<std::uint8_t> dst, Fp8Format f) {
  detail::ActiveKernels().encode(from, src.data(), dst.data(), dst.size(), f);
}

void CastFromFp8(std::span<const std::uint8_t> src, DType to, std::span<std::byte> dst, Fp8Format f) {
  detail::ActiveKernels().decode(src.data(), to, dst.data(), src.size(), f);
}

std::uint64_t Fp8Serde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  Sizes sizes;
  *error = Measure(layout, &sizes);
  return *error == SerdeError::kOk ? sizes.elements : 0;
}

SerdeError Fp8Serde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                               const ObjectKey*, std::size_t* written) const {
  *written = 0;
  Sizes sizes;
  if (const SerdeError e = Measure(layout, &sizes); e != SerdeError::kOk) return e;
  if (src.size() != sizes.bytes) return SerdeError::kSizeMismatch;
  if (dst.size() < sizes.elements) return SerdeError::kTooSmall;
  auto* out = reinterpret_cast<std::uint8_t*>(dst.data());
  ForEachGroup(layout, [&](const Group& g, std::size_t n, std::size_t wide, std::size_t narrow) {
    CastToFp8(g.dtype, src.subspan(wide, n * DTypeBytes(g.dtype)), std::span(out + narrow, n), format_);
  });
  *written = static_cast<std::size_t>(sizes.elements);
  return SerdeError::kOk;
}

SerdeError Fp8Serde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                 const ObjectKey*) const {
  Sizes sizes;
  if (const SerdeError e = Measure(layout, &sizes); e != SerdeError::kOk) return e;
  if (dst.size() != sizes.bytes) return SerdeError::kSizeMismatch;
  // As LMCache: the first numel bytes are used; a longer blob loads, a
  // shorter one is an error.
  if (blob.size() < sizes.elements) return SerdeError::kCorrupt;
  const auto* in = reinterpret_cast<const std::uint8_t*>(blob.data());
  ForEachGroup(layout, [&](const Group& g, std::size_t n, std::size_t wide, std::size_t narrow) {
    CastFromFp8(std::span(in + narrow, n), g.dtype, dst.subspan(wide, n * DTypeBytes(g.dtype)), format_);
  });
  return SerdeError::kOk;
}

}  // namespace lmc::serde
