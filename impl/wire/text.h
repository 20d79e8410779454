// Text rules of Python's str that LMCache's key handling depends on: strict
// UTF-8 (bytes.decode()), str.strip() and str.isspace(), and the integer
// parser behind int(x) and int(x, 16). The kit must agree with them exactly,
// because the Python server keys its store by the parsed value (spec §3.5).
// None of these functions allocate except ParsePythonHex's digit string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lmc::wire {

// True when `s` is valid UTF-8 as Python's strict decoder sees it (no
// overlong forms, no surrogates, nothing above U+10FFFF).
[[nodiscard]] bool IsValidUtf8(std::string_view s);

// str.isspace() for one code point (includes U+001C..U+001F, U+0085, U+00A0,
// U+2000..U+200A and others; excludes NUL and U+200B).
[[nodiscard]] bool IsPythonWhitespace(char32_t cp);

// The value 0..9 of a Unicode decimal digit (Nd), or -1.
[[nodiscard]] int DecimalDigitValue(char32_t cp);

// str.strip() / str.rstrip() with no argument. `s` must be valid UTF-8.
[[nodiscard]] std::string_view PythonStrip(std::string_view s);
[[nodiscard]] std::string_view PythonRStrip(std::string_view s);

// True when `s` is non-empty and made only of Unicode decimal digits (the
// test str.isdigit() passes for every string int() can then read as digits).
[[nodiscard]] bool AllDecimalDigits(std::string_view s);

enum class [[nodiscard]] IntParseError : std::uint8_t{
    kOk = 0,
    kSyntax,    // int() raises ValueError
    kOverflow,  // a valid integer, but outside int64 (decimal parse only)
};

// int(s) for base 10 into an int64: surrounding whitespace, a sign, single
// underscores between digits and any Unicode decimal digits are accepted.
// `s` must be valid UTF-8.
[[nodiscard]] IntParseError ParsePythonDecimal(std::string_view s, std::int64_t* out);

// int(s, 16) as text: as above plus an optional 0x/0X prefix after the sign
// (one underscore may follow it). On success `*digits` holds the magnitude in
// canonical form (lowercase, no leading zeros, "0" for zero) and
// `*negative` is false for zero. Magnitudes of any size are accepted.
[[nodiscard]] IntParseError ParsePythonHex(std::string_view s, bool* negative, std::string* digits);

// bytes.hex(): two lowercase digits per byte.
[[nodiscard]] std::string ToHex(std::span<const std::byte> bytes);

// f"{v:0{min_digits}x}" of a non-negative integer: lowercase, zeros in
// front up to `min_digits` (at most 16), "0" for 0 by default.
[[nodiscard]] std::string ToHex(std::uint64_t v, std::size_t min_digits = 1);

}  // namespace lmc::wire
