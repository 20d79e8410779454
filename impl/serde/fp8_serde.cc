#include "serde/fp8_serde.h"

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

}  // namespace

std::string_view SerdeErrorName(SerdeError e) {
  switch (e) {
    case SerdeError::kOk: return "ok";
    case SerdeError::kBadLayout: return "layout not supported by this serde";
    case SerdeError::kSizeMismatch: return "source size does not match the layout";
    case SerdeError::kTooSmall: return "destination too small";
    case SerdeError::kCorrupt: return "corrupt or truncated blob";
  }
  return "?";
}

void CastToFp8(DType from, std::span<const std::byte> src, std::span<std::uint8_t> dst, Fp8Format f) {
  const std::size_t n = dst.size();
  switch (from) {
    case DType::kBFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src.data() + 2 * i, 2);
        dst[i] = FloatToFp8(BFloat16ToFloat(b), f);
      }
      break;
    case DType::kFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src.data() + 2 * i, 2);
        dst[i] = FloatToFp8(HalfToFloat(b), f);
      }
      break;
    case DType::kFloat32:
      for (std::size_t i = 0; i < n; ++i) {
        float x;
        std::memcpy(&x, src.data() + 4 * i, 4);
        dst[i] = FloatToFp8(x, f);
      }
      break;
    default: break;
  }
}

void CastFromFp8(std::span<const std::uint8_t> src, DType to, std::span<std::byte> dst, Fp8Format f) {
  const std::size_t n = src.size();
  switch (to) {
    case DType::kBFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t b = FloatToBFloat16Exact(Fp8ToFloat(src[i], f));
        std::memcpy(dst.data() + 2 * i, &b, 2);
      }
      break;
    case DType::kFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t b = FloatToHalfExact(Fp8ToFloat(src[i], f));
        std::memcpy(dst.data() + 2 * i, &b, 2);
      }
      break;
    case DType::kFloat32:
      for (std::size_t i = 0; i < n; ++i) {
        const float x = Fp8ToFloat(src[i], f);
        std::memcpy(dst.data() + 4 * i, &x, 4);
      }
      break;
    default: break;
  }
}

std::uint64_t Fp8Serde::EstimateSerializedSize(const Layout& layout, SerdeError* error) const {
  std::vector<std::uint64_t> counts;
  *error = Counts(layout, &counts);
  if (*error != SerdeError::kOk) return 0;
  std::uint64_t total = 0;
  for (const std::uint64_t n : counts) total += n;  // cannot overflow: Counts checked the sum
  return total;
}

SerdeError Fp8Serde::Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                               const ObjectKey*, std::size_t* written) const {
  *written = 0;
  std::vector<std::uint64_t> counts;
  if (const SerdeError e = Counts(layout, &counts); e != SerdeError::kOk) return e;
  if (src.size() != *LayoutBytes(layout)) return SerdeError::kSizeMismatch;
  std::uint64_t out_bytes = 0;
  for (const std::uint64_t n : counts) out_bytes += n;
  if (dst.size() < out_bytes) return SerdeError::kTooSmall;
  std::size_t in = 0, out = 0;
  for (std::size_t g = 0; g < counts.size(); ++g) {
    const auto n = static_cast<std::size_t>(counts[g]);
    const std::size_t in_bytes = n * DTypeBytes(layout.groups[g].dtype);
    CastToFp8(layout.groups[g].dtype, src.subspan(in, in_bytes),
              std::span(reinterpret_cast<std::uint8_t*>(dst.data()) + out, n), format_);
    in += in_bytes;
    out += n;
  }
  *written = out;
  return SerdeError::kOk;
}

SerdeError Fp8Serde::Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                 const ObjectKey*) const {
  std::vector<std::uint64_t> counts;
  if (const SerdeError e = Counts(layout, &counts); e != SerdeError::kOk) return e;
  if (dst.size() != *LayoutBytes(layout)) return SerdeError::kSizeMismatch;
  std::uint64_t need = 0;
  for (const std::uint64_t n : counts) need += n;
  // As LMCache: the first numel bytes are used; a longer blob loads, a
  // shorter one is an error.
  if (blob.size() < need) return SerdeError::kCorrupt;
  std::size_t in = 0, out = 0;
  for (std::size_t g = 0; g < counts.size(); ++g) {
    const auto n = static_cast<std::size_t>(counts[g]);
    const std::size_t out_bytes = n * DTypeBytes(layout.groups[g].dtype);
    CastFromFp8(std::span(reinterpret_cast<const std::uint8_t*>(blob.data()) + in, n), layout.groups[g].dtype,
                dst.subspan(out, out_bytes), format_);
    in += n;
    out += out_bytes;
  }
  return SerdeError::kOk;
}

}  // namespace lmc::serde
