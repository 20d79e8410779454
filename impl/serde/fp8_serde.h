// The fp8 serde (serde.md §3): each group cast to fp8 (torch's CPU cast,
// fp8.h), one byte per element, groups back to back, no header. The
// estimate is exact: the layout's element count. Deserialising casts back to
// each destination group's dtype. Source and destination dtypes: bfloat16,
// float16, float32.
#pragma once

#include "serde/fp8.h"
#include "serde/serde.h"

namespace lmc::serde {

// Batch casts, one element type to fp8 and back. `src` and `dst` hold
// exactly `n` elements each.
void CastToFp8(DType from, std::span<const std::byte> src, std::span<std::uint8_t> dst, Fp8Format f);
void CastFromFp8(std::span<const std::uint8_t> src, DType to, std::span<std::byte> dst, Fp8Format f);

class Fp8Serde final : public Serializer, public Deserializer {
 public:
  explicit Fp8Serde(Fp8Format format) : format_(format) {}
  [[nodiscard]] std::uint64_t EstimateSerializedSize(const Layout& layout, SerdeError* error) const override;
  bool FixedSize() const override { return true; }
  [[nodiscard]] SerdeError Serialize(const Layout& layout, std::span<const std::byte> src, std::span<std::byte> dst,
                                     const ObjectKey* key, std::size_t* written) const override;
  [[nodiscard]] SerdeError Deserialize(std::span<const std::byte> blob, const Layout& layout, std::span<std::byte> dst,
                                       const ObjectKey* key) const override;
  Fp8Format format() const { return format_; }

 private:
  Fp8Format format_;
};

}  // namespace lmc::serde
