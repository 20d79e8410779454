#include "wire/cache_key.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace lmc::wire {
namespace {

CacheKey Parse(std::string_view s, KeyParseOptions o = {}) {
  CacheKey k;
  EXPECT_EQ(ParseCacheKey(s, &k, o), KeyError::kOk) << s;
  return k;
}

KeyError ParseError(std::string_view s, KeyParseOptions o = {}) {
  CacheKey k;
  return ParseCacheKey(s, &k, o);
}

std::string Render(const CacheKey& k, KeyEra era = KeyEra::kF) {
  std::string s;
  EXPECT_EQ(RenderCacheKey(k, &s, era), KeyError::kOk);
  return s;
}

TEST(CacheKey, SpecExamplesRoundTrip) {
  for (const char* s :
       {"test_model@3@1@0@bfloat16", "meta-llama/Llama-3.1-8B-Instruct@1@0@1234abcd@half", "m@1@0@3039@bfloat16",
        "reconnect-test@1@0@ded@uint8", "m@2@1@ff@fp8_e4m3fn@user%alice", "m@1@0@ded@uint8@7", "@0@0@0@half"}) {
    EXPECT_EQ(Render(Parse(s)), s);
  }
}

TEST(CacheKey, FieldsOfAPlainAndALayerKey) {
  const CacheKey k = Parse("m@2@1@ff@fp8_e4m3fn@user%alice@t%a%b");
  EXPECT_EQ(k.model, "m");
  EXPECT_EQ(k.world_size, 2);
  EXPECT_EQ(k.worker_id, 1);
  EXPECT_EQ(k.chunk_hash.ToString(), "ff");
  EXPECT_EQ(k.dtype, "fp8_e4m3fn");
  EXPECT_FALSE(k.layer_id);
  ASSERT_EQ(k.tags.size(), 2u);
  EXPECT_EQ(k.tags[1], (KeyTag{"t", "a%b"}));
  const CacheKey l = Parse("m@1@0@ded@uint8@7@x%y");
  EXPECT_EQ(l.layer_id, 7);
  EXPECT_EQ(l.tags, (std::vector<KeyTag>{{"x", "y"}}));
}

TEST(CacheKey, HashEqualityIsSemantic) {
  const CacheKey want = Parse("m@1@0@3039@bfloat16");
  for (const char* s : {"m@1@0@00003039@bfloat16", "m@1@0@0x3039@bfloat16", "m@1@0@3_039@bfloat16",
                        "m@1@0@ 3039 @bfloat16", "m@1@0@0X3039@bfloat16", "m@ 1@0@3039@bfloat16"}) {
    EXPECT_EQ(Parse(s), want) << s;
  }
  // Leading whitespace is part of the model here (the wire strips it first).
  EXPECT_NE(Parse("  m@1@0@3039@bfloat16"), want);
  // Bytes hashes lose their leading zeros on a parse (spec §3.6).
  EXPECT_EQ(Render(Parse("m@1@0@0102ff@bfloat16")), "m@1@0@102ff@bfloat16");
  EXPECT_EQ(Render(Parse("m@1@0@-0@half")), "m@1@0@0@half");
}

TEST(CacheKey, LayerDetection) {
  // isdigit on the stripped last field; int() then strips whitespace too.
  EXPECT_EQ(Parse("m@1@0@ff@half@7 ").layer_id, 7);
  EXPECT_EQ(Parse("m@1@0@ff@half@007").layer_id, 7);
  EXPECT_EQ(Parse("m@1@0@ff@half@\xd9\xa7").layer_id, 7);  // ARABIC-INDIC SEVEN
  // Not all digits and no '%': a tag without '%'.
  EXPECT_EQ(ParseError("m@1@0@ff@half@-7"), KeyError::kTagWithoutPercent);
  EXPECT_EQ(ParseError("m@1@0@ff@half@ 7"), KeyError::kTagWithoutPercent);
  EXPECT_EQ(ParseError("m@1@0@ff@half@\xc2\xb2"), KeyError::kTagWithoutPercent);
  EXPECT_EQ(ParseError("m@1@0@ff@half@"), KeyError::kTagWithoutPercent);
  // str.strip() removes U+001F but int() does not accept it.
  EXPECT_EQ(ParseError("m@1@0@ff@half@7\x1f"), KeyError::kBadLayerId);
  EXPECT_EQ(ParseError("m@1@0@ff@half@7 @a%b"), KeyError::kTagWithoutPercent);
}

TEST(CacheKey, RepeatedTagNamesBehaveLikeADict) {
  const CacheKey k = Parse("m@1@0@ff@half@a%1@b%2@a%3");
  EXPECT_EQ(k.tags, (std::vector<KeyTag>{{"a", "3"}, {"b", "2"}}));
  EXPECT_EQ(Parse("m@1@0@ff@half@%"), Parse("m@1@0@ff@half@%"));
  EXPECT_NE(Parse("m@1@0@ff@half@a%1@b%2"), Parse("m@1@0@ff@half@b%2@a%1"));
}

TEST(CacheKey, Rejections) {
  EXPECT_EQ(ParseError("demo@1@0@beef"), KeyError::kTooFewParts);
  EXPECT_EQ(ParseError("demo@1@0@beef@fp32"), KeyError::kUnknownDtype);
  EXPECT_EQ(ParseError("demo@1@0@beef@half@tenant"), KeyError::kTagWithoutPercent);
  EXPECT_EQ(ParseError("demo@1@0@nothex@half"), KeyError::kBadHash);
  EXPECT_EQ(ParseError("demo@two@0@beef@half"), KeyError::kBadWorldSize);
  EXPECT_EQ(ParseError("demo@1@x@beef@half"), KeyError::kBadWorkerId);
  EXPECT_EQ(ParseError("vllm@demo@1@0@beef@half"), KeyError::kBadWorldSize);
  EXPECT_EQ(ParseError("demo@1@0@beef@half  "), KeyError::kUnknownDtype);
  EXPECT_EQ(ParseError("demo@1@0@0x@half"), KeyError::kBadHash);
  EXPECT_EQ(ParseError(std::string_view("demo@1@0@beef@half\0", 19)), KeyError::kUnknownDtype);
  EXPECT_EQ(ParseError("m@99999999999999999999@0@ff@half"), KeyError::kIntOutOfRange);
  EXPECT_EQ(ParseError("m@1@0@ff@half\xff"), KeyError::kNotUtf8);
}

TEST(CacheKey, EraE) {
  const KeyParseOptions e{KeyEra::kE, true};
  const CacheKey k = Parse("vllm@test_model@3@123@0@bfloat16", e);
  EXPECT_EQ(k.fmt, "vllm");
  EXPECT_EQ(k.model, "test_model");
  EXPECT_EQ(k.chunk_hash.ToString(), "0");
  EXPECT_EQ(Render(k, KeyEra::kE), "vllm@test_model@3@123@0@bfloat16");
  EXPECT_EQ(Parse("@@0@0@0@half", e).model, "");
  EXPECT_EQ(Parse("vllm@m@1@0@ff@fp8_e4m3", e).dtype, "fp8_e4m3");
  EXPECT_EQ(ParseError("vllm@m@1@0@ff@fp8_e4m3fn", e), KeyError::kUnknownDtype);
  // The era E layer-key bug (#2135) and its fix (#2138).
  EXPECT_EQ(ParseError("vllm@Qwen/Qwen3-4B@1@0@-5d1b8de6da1b6d09@bfloat16@0", e), KeyError::kTagWithoutPercent);
  EXPECT_EQ(Parse("vllm@Qwen/Qwen3-4B@1@0@-5d1b8de6da1b6d09@bfloat16@0", {KeyEra::kE, false}).layer_id, 0);
}

TEST(CacheKey, RenderRefusesKeysThatWouldNotParseBack) {
  CacheKey k = Parse("m@1@0@ff@half");
  std::string out;
  k.model = "a@b";
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kReservedChar);
  k.model = "m";
  k.tags = {{"a%", "v"}};
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kReservedChar);
  k.tags = {{"a", "v@"}};
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kReservedChar);
  k.tags = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kDuplicateTag);
  k.tags = {};
  k.layer_id = -1;
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kNegativeLayer);
  k.layer_id.reset();
  k.dtype = "fp16";
  EXPECT_EQ(RenderCacheKey(k, &out), KeyError::kUnknownDtype);
}

TEST(ChunkHash, FromInt) {
  EXPECT_EQ(ChunkHash::FromInt(12345).ToString(), "3039");
  EXPECT_EQ(ChunkHash::FromInt(0).ToString(), "0");
  EXPECT_EQ(ChunkHash::FromInt(-31).ToString(), "-1f");
  EXPECT_EQ(ChunkHash::FromInt(INT64_MIN).ToString(), "-8000000000000000");
}

// Property: parse(render(k)) == k for every renderable key.
RC_GTEST_PROP(CacheKeyProp, RenderThenParseIsIdentity, ()) {
  // Fields are joined from whole UTF-8 characters, so they stay valid text.
  const auto field = [](std::vector<std::string> alphabet) {
    return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(alphabet)),
                        [](const std::vector<std::string>& parts) {
                          std::string s;
                          for (const std::string& p : parts) s += p;
                          return s;
                        });
  };
  CacheKey k;
  k.model = *field({"a", "X", "0", "9", "/", ".", "_", "-", " ", "%", "\xc3\xa9", "\xe6\xa8\xa1"});
  k.world_size = *rc::gen::arbitrary<std::int64_t>();
  k.worker_id = *rc::gen::arbitrary<std::int64_t>();
  const std::string hex = *rc::gen::nonEmpty(field({"0", "1", "7", "9", "a", "c", "f"}));
  RC_ASSERT(ChunkHash::Parse((*rc::gen::arbitrary<bool>() ? "-" : "") + hex, &k.chunk_hash));
  const auto dtypes = KeyDtypeStrings(KeyEra::kF);
  k.dtype = std::string(*rc::gen::elementOf(dtypes));
  if (*rc::gen::arbitrary<bool>()) k.layer_id = *rc::gen::inRange<std::int64_t>(0, INT64_MAX);
  const int ntags = *rc::gen::inRange(0, 4);
  for (int i = 0; i < ntags; ++i) {
    const std::string name = *field({"a", "b", "_", "-", "/", " "}) + std::to_string(i);
    k.tags.emplace_back(name, *field({"x", "%", ":", "=", " ", "0", "\xc3\xa9"}));
  }
  std::string s;
  RC_ASSERT(RenderCacheKey(k, &s) == KeyError::kOk);
  CacheKey back;
  RC_ASSERT(ParseCacheKey(s, &back) == KeyError::kOk);
  RC_ASSERT(back == k);
}

// Property: the parser is total on arbitrary text.
RC_GTEST_PROP(CacheKeyProp, ParseIsTotal, ()) {
  const std::string s =
      *rc::gen::container<std::string>(rc::gen::elementOf(std::string("@%0x1f_ -\xc3\xa9\xff\x00m", 14)));
  CacheKey k;
  const KeyError e = ParseCacheKey(s, &k);
  if (e == KeyError::kOk) {
    std::string r;
    // Whatever parses can be rendered, and renders to an equal key.
    RC_ASSERT(RenderCacheKey(k, &r) == KeyError::kOk);
    CacheKey again;
    RC_ASSERT(ParseCacheKey(r, &again) == KeyError::kOk);
    RC_ASSERT(again == k);
  }
}

}  // namespace
}  // namespace lmc::wire
