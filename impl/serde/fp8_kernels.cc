// fp8 batch casts: the portable form and the AVX2 / AVX-512 forms, each
// compiled for its instruction set with target attributes and picked at run
// time. The vector forms compute the scalar reference's steps lane by lane:
//   encode: float bits -> (NaN | overflow | normal | subnormal) code | sign,
//     where the normal code is the round-to-nearest-even of the float's bits
//     and the subnormal code the float's value in smallest subnormals,
//     rounded by the FPU's default round-to-nearest-even conversion;
//   decode: code -> the float's bits (exponent rebias, or the subnormal's
//     value from an int conversion), then narrowed exactly to the dtype.
#include "serde/fp8_kernels.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32(), which its
// own -Wmaybe-uninitialized then reports (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <array>
#include <cstring>

namespace lmc::serde::detail {
namespace {

// ---- portable ------------------------------------------------------------

void EncodePortable(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n, Fp8Format f) {
  for (std::size_t i = 0; i < n; ++i) {
    float x = 0;
    if (from == DType::kFloat32) {
      std::memcpy(&x, src + 4 * i, 4);
    } else {
      std::uint16_t b;
      std::memcpy(&b, src + 2 * i, 2);
      x = from == DType::kBFloat16 ? BFloat16ToFloat(b) : HalfToFloat(b);
    }
    dst[i] = FloatToFp8(x, f);
  }
}

void DecodePortable(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n, Fp8Format f) {
  for (std::size_t i = 0; i < n; ++i) {
    const float x = Fp8ToFloat(src[i], f);
    if (to == DType::kFloat32) {
      std::memcpy(dst + 4 * i, &x, 4);
    } else {
      const std::uint16_t b = to == DType::kBFloat16 ? FloatToBFloat16Exact(x) : FloatToHalfExact(x);
      std::memcpy(dst + 2 * i, &b, 2);
    }
  }
}

// Per-format constants, as template parameters so shifts are immediates.
template <Fp8Format F>
struct P;
template <>
struct P<Fp8Format::kE4M3FN> {
  static constexpr int kDrop = 20;                         // 23 - 3 mantissa bits
  static constexpr std::uint32_t kMinNormal = 121u << 23;  // 2^-6
  static constexpr std::uint32_t kOverflowAt = 0x43E80001u;
  static constexpr std::uint32_t kOverflowCode = 0x7F;
  static constexpr std::uint32_t kRebias = 120u << 3;
  static constexpr float kSubScale = 512.0f;  // 2^9
  static constexpr float kSubUnit = 1.0f / 512.0f;
  static constexpr std::uint32_t kSubBelow = 8;  // codes below: subnormal
  // bf16 inputs whose exponent field is below this are under half the
  // smallest subnormal: code 0. From it up to the smallest normal, the
  // subnormal codes (see EncodeBf16Lanes16).
  static constexpr int kSubLowExp = 117;
};
template <>
struct P<Fp8Format::kE5M2> {
  static constexpr int kDrop = 21;
  static constexpr std::uint32_t kMinNormal = 113u << 23;  // 2^-14
  static constexpr std::uint32_t kOverflowAt = 0x47700000u;
  static constexpr std::uint32_t kOverflowCode = 0x7C;
  static constexpr std::uint32_t kRebias = 112u << 2;
  static constexpr float kSubScale = 65536.0f;  // 2^16
  static constexpr float kSubUnit = 1.0f / 65536.0f;
  static constexpr std::uint32_t kSubBelow = 4;
  static constexpr int kSubLowExp = 110;
};

#define LMC_AVX2 __attribute__((target("avx2,f16c,fma,bmi,bmi2")))
#define LMC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c,fma,bmi,bmi2")))

// ---- AVX2: 8 lanes -------------------------------------------------------

template <Fp8Format F>
LMC_AVX2 inline __m256i EncodeLanes8(__m256i u) {
  using K = P<F>;
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
  const __m256i a = _mm256_and_si256(u, abs_mask);
  const __m256i sign = _mm256_srli_epi32(_mm256_andnot_si256(abs_mask, u), 24);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, K::kDrop), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32((1 << (K::kDrop - 1)) - 1)), lsb);
  const __m256i normal = _mm256_sub_epi32(_mm256_srli_epi32(rounded, K::kDrop), _mm256_set1_epi32(K::kRebias));
  const __m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(K::kSubScale)));
  // a has no sign bit, so signed compares order it correctly.
  const __m256i is_normal = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(static_cast<int>(K::kMinNormal - 1)));
  __m256i code = _mm256_blendv_epi8(sub, normal, is_normal);
  const __m256i over = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(static_cast<int>(K::kOverflowAt - 1)));
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32(K::kOverflowCode), over);
  const __m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7F800000));
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32(0x7F), nan);
  return _mm256_or_si256(code, sign);
}

// The low byte of each of the 8 lanes, as 8 bytes.
LMC_AVX2 inline void Store8Bytes(std::uint8_t* dst, __m256i code) {
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i packed =
      _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(code, pick), _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(packed));
}

// Codes of 32 lanes (four vectors of 8, each code at most 0xFF) as 32
// bytes in order: two packs narrow them, a permute undoes the packs'
// interleaving of 128-bit halves.
LMC_AVX2 inline void Store32Bytes(std::uint8_t* dst, __m256i c0, __m256i c1, __m256i c2, __m256i c3) {
  const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// Element i.. i+7 of `src` as float bits.
LMC_AVX2 inline __m256i LoadFloatBits8(DType from, const std::byte* src, std::size_t i) {
  if (from == DType::kBFloat16) {
    return _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))), 16);
  }
  if (from == DType::kFloat16) {
    return _mm256_castps_si256(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  }
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4 * i));
}

// bf16 to fp8 in 16-bit lanes, 16 at a time: the same steps as
// EncodeLanes8 on the bf16's own bits (a float's top half), except the
// subnormal codes, which have no float conversion here. For a bf16 of
// exponent field e and significand X = 128 + mantissa (8 bits), the code is
// the round-to-nearest-even of X * 2^(e - 127 - 7) / smallest subnormal,
// which for the exponents that matter is RNE(Y / 256) with
// Y = X * 2^(e - kSubLowExp), Y < 2^11: one multiply by a table entry, then
// the normal path's rounding with a shift of 8. Below kSubLowExp the table
// gives 0 (the value is under half the smallest subnormal).
template <Fp8Format F>
LMC_AVX2 inline __m256i EncodeBf16Lanes16(__m256i x) {
  using K = P<F>;
  constexpr int kDrop = K::kDrop - 16;
  constexpr auto kMinNormal = static_cast<std::int16_t>(K::kMinNormal >> 16);
  constexpr auto kOverflowAt = static_cast<std::int16_t>((K::kOverflowAt + 0xFFFF) >> 16);  // first bf16 over
  const __m256i abs_mask = _mm256_set1_epi16(0x7FFF);
  const __m256i a = _mm256_and_si256(x, abs_mask);
  const __m256i sign = _mm256_srli_epi16(_mm256_andnot_si256(abs_mask, x), 8);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi16(a, kDrop), _mm256_set1_epi16(1));
  const __m256i rounded = _mm256_add_epi16(_mm256_add_epi16(a, _mm256_set1_epi16((1 << (kDrop - 1)) - 1)), lsb);
  const __m256i normal =
      _mm256_sub_epi16(_mm256_srli_epi16(rounded, kDrop), _mm256_set1_epi16(static_cast<std::int16_t>(K::kRebias)));
  // The table index: e - kSubLowExp in the low byte (0..3 matter; a negative
  // one has bit 7 set, which selects 0), bit 7 set in the high byte (0).
  const __m256i e = _mm256_srli_epi16(a, 7);
  const __m256i index = _mm256_or_si256(_mm256_sub_epi16(e, _mm256_set1_epi16(K::kSubLowExp)),
                                        _mm256_set1_epi16(static_cast<std::int16_t>(0x8000)));
  const __m256i powers = _mm256_setr_epi8(1, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                          1, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i significand = _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi16(0x7F)), _mm256_set1_epi16(0x80));
  const __m256i y = _mm256_mullo_epi16(significand, _mm256_shuffle_epi8(powers, index));
  const __m256i sub =
      _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(y, _mm256_set1_epi16(127)),
                                         _mm256_and_si256(_mm256_srli_epi16(y, 8), _mm256_set1_epi16(1))),
                        8);
  // a has no sign bit, so signed compares order it correctly.
  __m256i code = _mm256_blendv_epi8(sub, normal, _mm256_cmpgt_epi16(a, _mm256_set1_epi16(kMinNormal - 1)));
  code = _mm256_blendv_epi8(code, _mm256_set1_epi16(static_cast<std::int16_t>(K::kOverflowCode)),
                            _mm256_cmpgt_epi16(a, _mm256_set1_epi16(kOverflowAt - 1)));
  if constexpr (K::kOverflowCode != 0x7F) {  // e4m3fn's overflow code is already its NaN
    code = _mm256_blendv_epi8(code, _mm256_set1_epi16(0x7F), _mm256_cmpgt_epi16(a, _mm256_set1_epi16(0x7F80)));
  }
  return _mm256_or_si256(code, sign);
}

// 32 bf16 (two vectors of 16 codes) to 32 bytes: the pack interleaves
// 128-bit halves, the permute puts them in order.
template <Fp8Format F>
LMC_AVX2 inline void EncodeBf16x32(const std::byte* src, std::uint8_t* dst) {
  const auto* in = reinterpret_cast<const __m256i*>(src);
  const __m256i lo = EncodeBf16Lanes16<F>(_mm256_loadu_si256(in));
  const __m256i hi = EncodeBf16Lanes16<F>(_mm256_loadu_si256(in + 1));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0xD8));
}

template <Fp8Format F>
LMC_AVX2 void EncodeAvx2T(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n) {
  std::size_t i = 0;
  if (from == DType::kBFloat16) {
    for (; i + 64 <= n; i += 64) {  // two at a time: about 2% faster than one
      EncodeBf16x32<F>(src + 2 * i, dst + i);
      EncodeBf16x32<F>(src + 2 * i + 64, dst + i + 32);
    }
    if (i + 32 <= n) {
      EncodeBf16x32<F>(src + 2 * i, dst + i);
      i += 32;
    }
  }
  for (; i + 32 <= n; i += 32) {
    Store32Bytes(dst + i, EncodeLanes8<F>(LoadFloatBits8(from, src, i)),
                 EncodeLanes8<F>(LoadFloatBits8(from, src, i + 8)), EncodeLanes8<F>(LoadFloatBits8(from, src, i + 16)),
                 EncodeLanes8<F>(LoadFloatBits8(from, src, i + 24)));
  }
  for (; i + 8 <= n; i += 8) Store8Bytes(dst + i, EncodeLanes8<F>(LoadFloatBits8(from, src, i)));
  EncodePortable(from, src + i * DTypeBytes(from), dst + i, n - i, F);
}

template <Fp8Format F>
LMC_AVX2 inline __m256i DecodeLanes8(__m256i c) {
  using K = P<F>;
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x80)), 24);
  const __m256i body = _mm256_and_si256(c, _mm256_set1_epi32(0x7F));
  const __m256i normal = _mm256_slli_epi32(_mm256_add_epi32(body, _mm256_set1_epi32(K::kRebias)), K::kDrop);
  const __m256i sub = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(body), _mm256_set1_ps(K::kSubUnit)));
  const __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(K::kSubBelow), body);
  __m256i bits = _mm256_blendv_epi8(normal, sub, is_sub);
  if constexpr (F == Fp8Format::kE4M3FN) {
    const __m256i nan = _mm256_cmpeq_epi32(body, _mm256_set1_epi32(0x7F));
    bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x7FC00000), nan);
  } else {
    const __m256i special = _mm256_cmpgt_epi32(body, _mm256_set1_epi32(0x7B));
    const __m256i inf = _mm256_cmpeq_epi32(body, _mm256_set1_epi32(0x7C));
    bits = _mm256_blendv_epi8(
        bits, _mm256_blendv_epi8(_mm256_set1_epi32(0x7FC00000), _mm256_set1_epi32(0x7F800000), inf), special);
  }
  return _mm256_or_si256(bits, sign);
}

template <Fp8Format F>
LMC_AVX2 void DecodeAvx2T(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i bits =
        DecodeLanes8<F>(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i))));
    if (to == DType::kFloat32) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4 * i), bits);
    } else if (to == DType::kBFloat16) {
      const __m256i hi = _mm256_srli_epi32(bits, 16);
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(hi, hi), 0x08);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_castsi256_si128(packed));
    } else {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i),
                       _mm256_cvtps_ph(_mm256_castsi256_ps(bits), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
  DecodePortable(src + i, to, dst + i * DTypeBytes(to), n - i, F);
}

LMC_AVX2 void EncodeAvx2(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n, Fp8Format f) {
  f == Fp8Format::kE4M3FN ? EncodeAvx2T<Fp8Format::kE4M3FN>(from, src, dst, n)
                          : EncodeAvx2T<Fp8Format::kE5M2>(from, src, dst, n);
}
LMC_AVX2 void DecodeAvx2(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n, Fp8Format f) {
  f == Fp8Format::kE4M3FN ? DecodeAvx2T<Fp8Format::kE4M3FN>(src, to, dst, n)
                          : DecodeAvx2T<Fp8Format::kE5M2>(src, to, dst, n);
}

// ---- AVX-512: 16 lanes, masked tails -------------------------------------

// Masks of the lanes still in the input, `left` elements from the end.
inline __mmask16 TailMask16(std::size_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}
inline __mmask32 TailMask32(std::size_t left) {
  return left >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << left) - 1);
}

template <Fp8Format F>
LMC_AVX512 inline __m512i EncodeLanes16(__m512i u) {
  using K = P<F>;
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i a = _mm512_and_si512(u, abs_mask);
  const __m512i sign = _mm512_srli_epi32(_mm512_andnot_si512(abs_mask, u), 24);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(a, K::kDrop), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(a, _mm512_set1_epi32((1 << (K::kDrop - 1)) - 1)), lsb);
  const __m512i normal = _mm512_sub_epi32(_mm512_srli_epi32(rounded, K::kDrop), _mm512_set1_epi32(K::kRebias));
  const __m512i sub = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(K::kSubScale)));
  __m512i code = _mm512_mask_blend_epi32(_mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(K::kMinNormal)), sub, normal);
  code = _mm512_mask_mov_epi32(code, _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(K::kOverflowAt))),
                               _mm512_set1_epi32(K::kOverflowCode));
  code =
      _mm512_mask_mov_epi32(code, _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x7F800000)), _mm512_set1_epi32(0x7F));
  return _mm512_or_si512(code, sign);
}

// bf16 in 16-bit lanes, 32 at a time: bf16 is float32's top half, so the
// normal path's rounding works on its bits unchanged (2 or 3 fewer mantissa
// bits to drop instead of 20 or 21), and a subnormal's code is its
// significand (hidden bit included) shifted right by 125 - exponent (e4m3)
// or 118 - exponent (e5m2), rounded to nearest even.
template <Fp8Format F>
LMC_AVX512 inline __m512i EncodeBf16Lanes32(__m512i b) {
  using K = P<F>;
  constexpr int kDrop = K::kDrop - 16;
  // vpternlogd truth tables: (A & B) | C and A | (B & C).
  constexpr int kAandBorC = 0xEA, kAorBandC = 0xF8;
  const __m512i one = _mm512_set1_epi16(1);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi16(0x7FFF));
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi16(a, kDrop), one);
  const __m512i rounded = _mm512_add_epi16(_mm512_add_epi16(a, _mm512_set1_epi16((1 << (kDrop - 1)) - 1)), lsb);
  const __m512i normal =
      _mm512_sub_epi16(_mm512_srli_epi16(rounded, kDrop), _mm512_set1_epi16(static_cast<short>(K::kRebias)));
  // Subnormal: the significand with its hidden bit, shifted right by
  // gap - exponent and rounded to nearest even the same way. Lanes whose
  // shift is 16 or more (tiny values, and bf16 zeros and subnormals, whose
  // "hidden bit" is wrong but shifted out) give 0, wrap-around included.
  constexpr int kGap = F == Fp8Format::kE4M3FN ? 125 : 118;
  const __m512i sig = _mm512_ternarylogic_epi32(a, _mm512_set1_epi16(0x7F), _mm512_set1_epi16(0x80), kAandBorC);
  const __m512i shift = _mm512_subs_epu16(_mm512_set1_epi16(kGap), _mm512_srli_epi16(a, 7));
  const __m512i kept_lsb = _mm512_and_si512(_mm512_srlv_epi16(sig, shift), one);
  const __m512i half_minus_one = _mm512_sub_epi16(_mm512_sllv_epi16(one, _mm512_subs_epu16(shift, one)), one);
  const __m512i sub = _mm512_srlv_epi16(_mm512_add_epi16(_mm512_add_epi16(sig, half_minus_one), kept_lsb), shift);
  __m512i code = _mm512_mask_blend_epi16(
      _mm512_cmpge_epu16_mask(a, _mm512_set1_epi16(static_cast<short>(K::kMinNormal >> 16))), sub, normal);
  if constexpr (F == Fp8Format::kE4M3FN) {
    // Overflow and NaN both give 0x7F: one compare (NaN patterns are above
    // the threshold; its float form's low half is 1, so "> 0x43E8").
    code = _mm512_mask_mov_epi16(code, _mm512_cmpgt_epu16_mask(a, _mm512_set1_epi16(0x43E8)), _mm512_set1_epi16(0x7F));
  } else {
    code = _mm512_mask_mov_epi16(code, _mm512_cmpge_epu16_mask(a, _mm512_set1_epi16(0x4770)), _mm512_set1_epi16(0x7C));
    code = _mm512_mask_mov_epi16(code, _mm512_cmpgt_epu16_mask(a, _mm512_set1_epi16(0x7F80)), _mm512_set1_epi16(0x7F));
  }
  // code | ((b >> 8) & 0x80): the sign, in one ternary op.
  return _mm512_ternarylogic_epi32(code, _mm512_srli_epi16(b, 8), _mm512_set1_epi16(0x80), kAorBandC);
}

template <Fp8Format F>
LMC_AVX512 void EncodeAvx512T(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n) {
  if (from == DType::kBFloat16) {
    std::size_t i = 0;
    // 64 at a time: two vectors of codes packed into one (vpackuswb works
    // within 128-bit lanes; the qword permute restores the order).
    const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
    for (; i + 64 <= n; i += 64) {
      const __m512i lo = EncodeBf16Lanes32<F>(_mm512_loadu_si512(src + 2 * i));
      const __m512i hi = EncodeBf16Lanes32<F>(_mm512_loadu_si512(src + 2 * i + 64));
      _mm512_storeu_si512(dst + i, _mm512_permutexvar_epi64(order, _mm512_packus_epi16(lo, hi)));
    }
    for (; i < n; i += 32) {
      const __mmask32 m = TailMask32(n - i);
      _mm256_mask_storeu_epi8(dst + i, m,
                              _mm512_cvtepi16_epi8(EncodeBf16Lanes32<F>(_mm512_maskz_loadu_epi16(m, src + 2 * i))));
    }
    return;
  }
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask16(n - i);
    __m512i u;
    if (from == DType::kBFloat16) {
      u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + 2 * i)), 16);
    } else if (from == DType::kFloat16) {
      u = _mm512_castps_si512(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + 2 * i)));
    } else {
      u = _mm512_maskz_loadu_epi32(m, src + 4 * i);
    }
    _mm_mask_storeu_epi8(dst + i, m, _mm512_cvtepi32_epi8(EncodeLanes16<F>(u)));
  }
}

template <Fp8Format F>
LMC_AVX512 inline __m512i DecodeLanes16(__m512i c) {
  using K = P<F>;
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(c, _mm512_set1_epi32(0x80)), 24);
  const __m512i body = _mm512_and_si512(c, _mm512_set1_epi32(0x7F));
  const __m512i normal = _mm512_slli_epi32(_mm512_add_epi32(body, _mm512_set1_epi32(K::kRebias)), K::kDrop);
  const __m512i sub = _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(body), _mm512_set1_ps(K::kSubUnit)));
  __m512i bits = _mm512_mask_blend_epi32(_mm512_cmplt_epu32_mask(body, _mm512_set1_epi32(K::kSubBelow)), normal, sub);
  if constexpr (F == Fp8Format::kE4M3FN) {
    bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epu32_mask(body, _mm512_set1_epi32(0x7F)),
                                 _mm512_set1_epi32(0x7FC00000));
  } else {
    bits = _mm512_mask_mov_epi32(bits, _mm512_cmpgt_epu32_mask(body, _mm512_set1_epi32(0x7C)),
                                 _mm512_set1_epi32(0x7FC00000));
    bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epu32_mask(body, _mm512_set1_epi32(0x7C)),
                                 _mm512_set1_epi32(0x7F800000));
  }
  return _mm512_or_si512(bits, sign);
}

// fp8 to bf16 in 16-bit lanes, 32 at a time: a normal code's bf16 is its
// bits rebiased and shifted into place; the few subnormal codes come from a
// 32-entry table (vpermw).
template <Fp8Format F>
LMC_AVX512 inline __m512i DecodeBf16Lanes32(__m256i codes) {
  using K = P<F>;
  static const std::array<std::uint16_t, 32> kSubTable = [] {
    std::array<std::uint16_t, 32> t{};
    for (std::uint8_t m = 0; m < K::kSubBelow; ++m) t[m] = FloatToBFloat16Exact(Fp8ToFloat(m, F));
    return t;
  }();
  const __m512i c = _mm512_cvtepu8_epi16(codes);
  const __m512i sign = _mm512_slli_epi16(_mm512_and_si512(c, _mm512_set1_epi16(0x80)), 8);
  const __m512i body = _mm512_and_si512(c, _mm512_set1_epi16(0x7F));
  const __m512i normal =
      _mm512_slli_epi16(_mm512_add_epi16(body, _mm512_set1_epi16(static_cast<short>(K::kRebias))), K::kDrop - 16);
  const __m512i sub = _mm512_permutexvar_epi16(body, _mm512_loadu_si512(kSubTable.data()));
  __m512i bits = _mm512_mask_blend_epi16(_mm512_cmplt_epu16_mask(body, _mm512_set1_epi16(K::kSubBelow)), normal, sub);
  if constexpr (F == Fp8Format::kE4M3FN) {
    bits =
        _mm512_mask_mov_epi16(bits, _mm512_cmpeq_epu16_mask(body, _mm512_set1_epi16(0x7F)), _mm512_set1_epi16(0x7FC0));
  } else {
    bits =
        _mm512_mask_mov_epi16(bits, _mm512_cmpgt_epu16_mask(body, _mm512_set1_epi16(0x7C)), _mm512_set1_epi16(0x7FC0));
    bits =
        _mm512_mask_mov_epi16(bits, _mm512_cmpeq_epu16_mask(body, _mm512_set1_epi16(0x7C)), _mm512_set1_epi16(0x7F80));
  }
  return _mm512_or_si512(bits, sign);
}

// float32 lanes to float16, rounding to nearest. Unoptimised, GCC's headers
// define _mm512_cvtps_ph as a macro that passes -1 as the mask, which
// -Wsign-conversion rejects; the function keeps that exemption to one line.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
LMC_AVX512 inline __m256i ToHalfLanes16(__m512 v) {
  return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#pragma GCC diagnostic pop

template <Fp8Format F>
LMC_AVX512 void DecodeAvx512T(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n) {
  if (to == DType::kBFloat16) {
    for (std::size_t i = 0; i < n; i += 32) {
      const __mmask32 m = TailMask32(n - i);
      _mm512_mask_storeu_epi16(dst + 2 * i, m, DecodeBf16Lanes32<F>(_mm256_maskz_loadu_epi8(m, src + i)));
    }
    return;
  }
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask16(n - i);
    const __m512i bits = DecodeLanes16<F>(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src + i)));
    if (to == DType::kFloat32) {
      _mm512_mask_storeu_epi32(dst + 4 * i, m, bits);
    } else if (to == DType::kBFloat16) {
      _mm256_mask_storeu_epi16(dst + 2 * i, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
    } else {
      _mm256_mask_storeu_epi16(dst + 2 * i, m, ToHalfLanes16(_mm512_castsi512_ps(bits)));
    }
  }
}

LMC_AVX512 void EncodeAvx512(DType from, const std::byte* src, std::uint8_t* dst, std::size_t n, Fp8Format f) {
  f == Fp8Format::kE4M3FN ? EncodeAvx512T<Fp8Format::kE4M3FN>(from, src, dst, n)
                          : EncodeAvx512T<Fp8Format::kE5M2>(from, src, dst, n);
}
LMC_AVX512 void DecodeAvx512(const std::uint8_t* src, DType to, std::byte* dst, std::size_t n, Fp8Format f) {
  f == Fp8Format::kE4M3FN ? DecodeAvx512T<Fp8Format::kE4M3FN>(src, to, dst, n)
                          : DecodeAvx512T<Fp8Format::kE5M2>(src, to, dst, n);
}

}  // namespace

Fp8Kernels KernelsFor(base::CpuLevel level) {
  if (level >= base::CpuLevel::kAvx512) return {EncodeAvx512, DecodeAvx512, base::CpuLevel::kAvx512};
  if (level >= base::CpuLevel::kAvx2) return {EncodeAvx2, DecodeAvx2, base::CpuLevel::kAvx2};
  return {EncodePortable, DecodePortable, base::CpuLevel::kPortable};
}

const Fp8Kernels& ActiveKernels() {
  static const Fp8Kernels kernels = KernelsFor(base::DetectedCpuLevel());
  return kernels;
}

}  // namespace lmc::serde::detail
