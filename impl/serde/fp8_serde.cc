#include "serde/fp8_serde.h"

#include "serde/fp8_kernels.h"

#include <cstring>

namespace lmc::serde {
namespace {

bool Castable(DType t) { return t == DType::kBFloat16 || t == DType::kFloat16 || t == DType::kFloat32; }

// Element counts per group, or an error for a layout fp8 cannot take.
SerdeError Counts(const Layout& layout, std::vector<std::uint64_t>* counts) {
  if (layout.groups.empty()) return SerdeError::kBadLayout;
  std::uint64_t total = 0;
  for (const Group& g : layout.groups) {
    const auto n = NumElements(g.shape);
    if (!n || !Castable(g.dtype) || __builtin_add_overflow(total, *n, &total)) return SerdeError::kBadLayout;
    counts->push_back(*n);
  }
  if (!LayoutBytes(layout)) return SerdeError::kBadLayout;
  return SerdeError::kOk;
}

// Calls fn(group, elements, wide_offset, fp8_offset) for each group in order.
template <typename Fn>
void ForEachGroup(const Layout& layout, const std::vector<std::uint64_t>& counts, Fn fn) {
  std::size_t wide = 0, narrow = 0;
  for (std::size_t g = 0; g < counts.size(); ++g) {
    const auto n = static_cast<std::size_t>(counts[g]);
    fn(layout.groups[g], n, wide, narrow);
    wide += n * DTypeBytes(layout.groups[g].dtype);
    narrow += n;
  }
}

std::uint64_t Sum(const std::vector<std::uint64_t>& counts) {
  std::uint64_t total = 0;
  for (const std::uint64_t n : counts) total += n;  // Counts() checked the sum
  return total;
}

}  // namespace


void CastToFp8(DType from, std::span<const std::byte> src, std::span<std::uint8_t> dst, Fp8Format f) {
  detail::ActiveKernels().encode(from, src.data(), dst.data(), dst.size(), f);
}

void CastFromFp8(std::span<const std::uint8_t> src, DType to, std::span<std::byte> dst, Fp8Format f) {
  detail::ActiveKernels().decode(src.data(), to, dst.data(), src.size(), f);
}

std::uint64_t Fp8Serde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  std::vector<std::uint64_t> counts;
  *error = Counts(layout, &counts);
  return *error == SerdeError::kOk ? Sum(counts) : 0;
}

SerdeError Fp8Serde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                               const ObjectKey*, std::size_t* written) const {
  *written = 0;
  std::vector<std::uint64_t> counts;
  if (const SerdeError e = Counts(layout, &counts); e != SerdeError::kOk) return e;
  if (src.size() != *LayoutBytes(layout)) return SerdeError::kSizeMismatch;
  const std::uint64_t out_bytes = Sum(counts);
  if (dst.size() < out_bytes) return SerdeError::kTooSmall;
  auto* out = reinterpret_cast<std::uint8_t*>(dst.data());
  ForEachGroup(layout, counts, [&](const Group& g, std::size_t n, std::size_t wide, std::size_t narrow) {
    CastToFp8(g.dtype, src.subspan(wide, n * DTypeBytes(g.dtype)), std::span(out + narrow, n), format_);
  });
  *written = static_cast<std::size_t>(out_bytes);
  return SerdeError::kOk;
}

SerdeError Fp8Serde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                 const ObjectKey*) const {
  std::vector<std::uint64_t> counts;
  if (const SerdeError e = Counts(layout, &counts); e != SerdeError::kOk) return e;
  if (dst.size() != *LayoutBytes(layout)) return SerdeError::kSizeMismatch;
  // As LMCache: the first numel bytes are used; a longer blob loads, a
  // shorter one is an error.
  if (blob.size() < Sum(counts)) return SerdeError::kCorrupt;
  const auto* in = reinterpret_cast<const std::uint8_t*>(blob.data());
  ForEachGroup(layout, counts, [&](const Group& g, std::size_t n, std::size_t wide, std::size_t narrow) {
    CastFromFp8(std::span(in + narrow, n), g.dtype, dst.subspan(wide, n * DTypeBytes(g.dtype)), format_);
  });
  return SerdeError::kOk;
}

}  // namespace lmc::serde
