#include "wire/text.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace lmc::wire {
namespace {

struct CodeRange {
  char32_t first;
  char32_t last;
};
#include "wire/unicode_tables.inc"

// Decodes the code point starting at s[i]; returns its byte length, or 0 if
// the bytes there are not valid UTF-8.
std::size_t DecodeOne(std::string_view s, std::size_t i, char32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const std::size_t left = s.size() - i;
  const unsigned c0 = b(0);
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  }
  const auto cont = [&](std::size_t k) { return k < left && (b(k) & 0xC0u) == 0x80u; };
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    if (!cont(1)) return 0;
    *cp = ((c0 & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    return 2;
  }
  if (c0 >= 0xE0 && c0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const char32_t v = ((c0 & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return 3;
  }
  if (c0 >= 0xF0 && c0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const char32_t v = ((c0 & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (v < 0x10000 || v > 0x10FFFF) return 0;
    *cp = v;
    return 4;
  }
  return 0;
}

bool InRanges(char32_t cp, const CodeRange* first, const CodeRange* last) {
  for (const CodeRange* r = first; r != last; ++r) {
    if (cp < r->first) return false;  // tables are sorted
    if (cp <= r->last) return true;
  }
  return false;
}

// The start of the code point that ends at s[end-1]; s is valid UTF-8.
std::size_t LastCodePointStart(std::string_view s, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0u) == 0x80u) --i;
  return i;
}

// CPython's int() first maps Unicode whitespace to ' ' and Unicode decimal
// digits to ASCII (_PyUnicode_TransformDecimalAndSpaceToASCII), then parses
// ASCII. This cursor yields that ASCII view one character at a time; a
// non-ASCII character that is neither becomes '?', which no rule accepts.
// ASCII passes through unchanged: int() skips only " \t\n\v\f\r" there, so
// U+001C..U+001F are whitespace to str.strip() but not to int().
class AsciiView {
 public:
  explicit AsciiView(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const {
    char32_t cp = 0;
    const std::size_t n = DecodeOne(s_, i_, &cp);
    if (n == 0) return '?';
    if (cp < 0x80) return static_cast<char>(cp);  // ASCII is kept as is
    if (IsPythonWhitespace(cp)) return ' ';
    const int d = DecimalDigitValue(cp);
    return d >= 0 ? static_cast<char>('0' + d) : '?';
  }
  void next() {
    char32_t cp = 0;
    const std::size_t n = DecodeOne(s_, i_, &cp);
    i_ += n == 0 ? 1 : n;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PyLong_FromString for base 10 or 16 over the transformed view. Calls
// `digit(value)` for each digit in order; returns false on a syntax error.
template <typename OnDigit>
bool ParsePyLong(std::string_view s, int base, bool* negative, OnDigit digit) {
  AsciiView v(s);
  while (!v.done() && IsAsciiSpace(v.peek())) v.next();
  *negative = false;
  if (!v.done() && (v.peek() == '+' || v.peek() == '-')) {
    *negative = v.peek() == '-';
    v.next();
  }
  if (base == 16 && !v.done() && v.peek() == '0') {
    AsciiView probe = v;
    probe.next();
    if (!probe.done() && (probe.peek() == 'x' || probe.peek() == 'X')) {
      probe.next();
      v = probe;
      if (!v.done() && v.peek() == '_') v.next();  // "0x_ff" is valid
    }
  }
  if (!v.done() && v.peek() == '_') return false;
  bool any = false;
  char prev = 0;
  for (; !v.done(); v.next()) {
    const char c = v.peek();
    if (c == '_') {
      if (prev == '_') return false;
      prev = c;
      continue;
    }
    const int d = HexValue(c);
    if (d < 0 || d >= base) break;
    digit(d);
    any = true;
    prev = c;
  }
  if (!any || prev == '_') return false;
  while (!v.done() && IsAsciiSpace(v.peek())) v.next();
  return v.done();
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if ((w & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i >= s.size()) break;
    char32_t cp = 0;
    const std::size_t n = DecodeOne(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool IsPythonWhitespace(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  return InRanges(cp, std::begin(kPythonWhitespace), std::end(kPythonWhitespace));
}

int DecimalDigitValue(char32_t cp) {
  if (cp >= '0' && cp <= '9') return static_cast<int>(cp - '0');
  if (cp < 0x80) return -1;
  for (const CodeRange& r : kDecimalDigits) {
    if (cp < r.first) return -1;
    if (cp <= r.last) return static_cast<int>(cp - r.first);
  }
  return -1;
}

std::string_view PythonRStrip(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    const std::size_t start = LastCodePointStart(s, end);
    char32_t cp = 0;
    if (DecodeOne(s, start, &cp) == 0 || !IsPythonWhitespace(cp)) break;
    end = start;
  }
  return s.substr(0, end);
}

std::string_view PythonStrip(std::string_view s) {
  s = PythonRStrip(s);
  std::size_t begin = 0;
  while (begin < s.size()) {
    char32_t cp = 0;
    const std::size_t n = DecodeOne(s, begin, &cp);
    if (n == 0 || !IsPythonWhitespace(cp)) break;
    begin += n;
  }
  return s.substr(begin);
}

bool AllDecimalDigits(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = DecodeOne(s, i, &cp);
    if (n == 0 || DecimalDigitValue(cp) < 0) return false;
    i += n;
  }
  return true;
}

IntParseError ParsePythonDecimal(std::string_view s, std::int64_t* out) {
  // Accumulate the magnitude as uint64 so INT64_MIN is representable.
  std::uint64_t mag = 0;
  bool overflow = false;
  bool negative = false;
  const bool ok = ParsePyLong(s, 10, &negative, [&](int d) {
    const auto du = static_cast<std::uint64_t>(d);
    if (mag > (UINT64_MAX - du) / 10) overflow = true;
    if (!overflow) mag = mag * 10 + du;
  });
  if (!ok) return IntParseError::kSyntax;
  const std::uint64_t limit = negative ? (1ull << 63) : (1ull << 63) - 1;
  if (overflow || mag > limit) return IntParseError::kOverflow;
  *out = negative ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
  return IntParseError::kOk;
}

IntParseError ParsePythonHex(std::string_view s, bool* negative, std::string* digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  digits->clear();
  const bool ok = ParsePyLong(s, 16, negative, [&](int d) {
    if (digits->empty() && d == 0) return;  // drop leading zeros
    digits->push_back(kHex[d]);
  });
  if (!ok) {
    digits->clear();
    return IntParseError::kSyntax;
  }
  if (digits->empty()) {
    digits->push_back('0');
    *negative = false;  // int("-0", 16) == 0
  }
  return IntParseError::kOk;
}

std::string ToHex(std::span<const std::byte> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned>(bytes[i]);
    s[2 * i] = kHex[b >> 4];
    s[2 * i + 1] = kHex[b & 0xF];
  }
  return s;
}

std::string ToHex(std::uint64_t v, std::size_t min_digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  min_digits = std::min(min_digits, sizeof buf);
  std::size_t n = 0;
  do {
    buf[sizeof buf - 1 - n++] = kHex[v & 0xF];
    v >>= 4;
  } while (v != 0 || n < min_digits);
  return {buf + sizeof buf - n, n};
}

}  // namespace lmc::wire
