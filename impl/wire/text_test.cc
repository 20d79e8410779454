#include "wire/text.h"

#include <gtest/gtest.h>

namespace lmc::wire {
namespace {

struct IntCase {
  const char* text;
  bool ok;
  std::int64_t value;
};

// Each row was checked against CPython 3.11's int(text).
TEST(PythonDecimal, AgreesWithCPython) {
  const IntCase cases[] = {
      {"0", true, 0},
      {"007", true, 7},
      {" 5 ", true, 5},
      {"\t5\n", true, 5},
      {"\x0b"
       "5",
       true, 5},
      {"+5", true, 5},
      {"-5", true, -5},
      {"1_000", true, 1000},
      {"\xc2\xa0"
       "5",
       true, 5},
      {"\xe2\x80\x80"
       "5",
       true, 5},
      {"\xc2\x85"
       "5",
       true, 5},
      {"\xd9\xa5", true, 5},
      {"\xef\xbc\x91\xef\xbc\x92", true, 12},
      {"", false, 0},
      {" ", false, 0},
      {"-", false, 0},
      {"- 1", false, 0},
      {"_1", false, 0},
      {"1_", false, 0},
      {"1__0", false, 0},
      {"1 2", false, 0},
      {"\x1c"
       "5",
       false, 0},
      {"5\x1f", false, 0},
      {"0x5", false, 0},
      {"a", false, 0},
      {"\xc2\xb2", false, 0},
      {"9223372036854775807", true, INT64_MAX},
      {"-9223372036854775808", true, INT64_MIN},
  };
  for (const IntCase& c : cases) {
    std::int64_t v = -1;
    const IntParseError e = ParsePythonDecimal(std::string_view(c.text), &v);
    EXPECT_EQ(e == IntParseError::kOk, c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(v, c.value) << c.text;
    }
  }
  std::int64_t v = 0;
  EXPECT_EQ(ParsePythonDecimal("9223372036854775808", &v), IntParseError::kOverflow);
  EXPECT_EQ(ParsePythonDecimal("-9223372036854775809", &v), IntParseError::kOverflow);
  EXPECT_EQ(ParsePythonDecimal("99999999999999999999999", &v), IntParseError::kOverflow);
  EXPECT_EQ(ParsePythonDecimal(std::string_view("5\0", 2), &v), IntParseError::kSyntax);
}

struct HexCase {
  const char* text;
  bool ok;
  bool negative;
  const char* digits;
};

TEST(PythonHex, AgreesWithCPython) {
  const HexCase cases[] = {
      {"3039", true, false, "3039"},   {"00003039", true, false, "3039"}, {"0x3039", true, false, "3039"},
      {"0X3039", true, false, "3039"}, {"3_039", true, false, "3039"},    {"  3039  ", true, false, "3039"},
      {"-1f", true, true, "1f"},       {"+0x1", true, false, "1"},        {"-0", true, false, "0"},
      {"0", true, false, "0"},         {"0x_ff", true, false, "ff"},      {"ABCDEF", true, false, "abcdef"},
      {"\xd9\xa3", true, false, "3"},  {"0x0", true, false, "0"},         {"0x", false, false, ""},
      {"0x__ff", false, false, ""},    {"_ff", false, false, ""},         {"ff_", false, false, ""},
      {"f__f", false, false, ""},      {"- 1", false, false, ""},         {"g", false, false, ""},
      {"", false, false, ""},          {"0xx1", false, false, ""},        {"--1", false, false, ""},
  };
  for (const HexCase& c : cases) {
    bool neg = true;
    std::string digits;
    const IntParseError e = ParsePythonHex(c.text, &neg, &digits);
    EXPECT_EQ(e == IntParseError::kOk, c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(neg, c.negative) << c.text;
      EXPECT_EQ(digits, c.digits) << c.text;
    }
  }
  // Hashes of any size: a 512-bit value keeps every digit.
  std::string big(128, 'f');
  bool neg = false;
  std::string digits;
  ASSERT_EQ(ParsePythonHex("0x000" + big, &neg, &digits), IntParseError::kOk);
  EXPECT_EQ(digits, big);
}

TEST(PythonStrip, MatchesStrStrip) {
  EXPECT_EQ(PythonStrip("  a b  "), "a b");
  EXPECT_EQ(PythonStrip("\x1c\x1d\x1e\x1f"
                        "a\t\n\v\f\r "),
            "a");
  EXPECT_EQ(PythonStrip("\xc2\xa0\xe3\x80\x80"
                        "a\xe2\x80\xa8"),
            "a");
  EXPECT_EQ(PythonStrip(std::string_view("\0a\0", 3)), std::string_view("\0a\0", 3));
  EXPECT_EQ(PythonStrip("\xe2\x80\x8b"
                        "a"),
            "\xe2\x80\x8b"
            "a");  // U+200B stays
  EXPECT_EQ(PythonStrip("   "), "");
  EXPECT_EQ(PythonRStrip("  a  "), "  a");
}

TEST(Utf8, StrictLikePython) {
  EXPECT_TRUE(IsValidUtf8("plain ascii text that is longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe6\xa8\xa1\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // cut
  EXPECT_FALSE(IsValidUtf8("abcdefgh\x80"));      // stray continuation
}

TEST(DecimalDigits, CoverUnicodeNd) {
  EXPECT_EQ(DecimalDigitValue(U'7'), 7);
  EXPECT_EQ(DecimalDigitValue(0x0669), 9);   // ARABIC-INDIC DIGIT NINE
  EXPECT_EQ(DecimalDigitValue(0xFF10), 0);   // FULLWIDTH DIGIT ZERO
  EXPECT_EQ(DecimalDigitValue(0x1D7CE), 0);  // MATHEMATICAL BOLD DIGIT ZERO
  EXPECT_EQ(DecimalDigitValue(0x00B2), -1);  // SUPERSCRIPT TWO: a digit, not decimal
  EXPECT_EQ(DecimalDigitValue(U'a'), -1);
  EXPECT_TRUE(AllDecimalDigits("0123\xd9\xa5"));
  EXPECT_FALSE(AllDecimalDigits(""));
  EXPECT_FALSE(AllDecimalDigits("1a"));
}

}  // namespace
}  // namespace lmc::wire
