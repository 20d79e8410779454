#include "wire/headers.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/cpu.h"
#include "wire/byte_cursor.h"

namespace lmc::wire {
namespace {

std::string Hex(std::span<const std::byte> b) {
  static constexpr char k[] = "0123456789abcdef";
  std::string s;
  for (std::byte x : b) {
    s += k[static_cast<unsigned>(x) >> 4];
    s += k[static_cast<unsigned>(x) & 0xF];
  }
  return s;
}

std::vector<std::byte> Unhex(std::string_view h) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

RequestHeader Request(std::int32_t cmd, std::int32_t len, std::int32_t fmt, std::int32_t dtype, Shape shape,
                      std::string_view key) {
  RequestHeader h;
  h.command = cmd;
  h.length = len;
  h.fmt = fmt;
  h.dtype = dtype;
  h.shape = shape;
  EXPECT_EQ(h.key.Assign(key), WireError::kOk);
  return h;
}

// The complete vectors of spec §1.6.
TEST(RequestHeader, MatchesSpecPutVector) {
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(Request(1, 8192, 1, 3, {2, 32, 256, 1024}, "test_model@3@1@0@bfloat16"), buf);
  std::string want = "010000000020000001000000030000000000000002000000200000000001000000040000";
  want += "746573745f6d6f64656c4033403140304062666c6f61743136";
  for (int i = 0; i < 125; ++i) want += "20";
  EXPECT_EQ(Hex(buf), want);
}

TEST(RequestHeader, MatchesSpecHealthVector) {
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(Request(5, 0, 1, 2, {0, 0, 0, 0}, "@0@0@0@half"), buf);
  std::string want = "050000000000000001000000020000000000000000000000000000000000000000000000";
  want += "4030403040304068616c66";
  for (int i = 0; i < 139; ++i) want += "20";
  EXPECT_EQ(Hex(buf), want);
}

TEST(RequestHeader, LocationIsFifthIntInRequestButLastInReply) {
  RequestHeader rq = Request(2, 0, 1, 2, {10, 11, 12, 13}, "k");
  rq.location = 7;
  std::array<std::byte, kRequestHeaderBytes> rb{};
  EncodeRequest(rq, rb);
  EXPECT_EQ(Hex(std::span(rb).subspan(16, 4)), "07000000");
  ReplyHeader rp;
  rp.location = 7;
  rp.shape = {10, 11, 12, 13};
  std::array<std::byte, kReplyHeaderBytes> pb{};
  EncodeReply(rp, pb);
  EXPECT_EQ(Hex(std::span(pb).subspan(32, 4)), "07000000");
  EXPECT_EQ(Hex(std::span(pb).subspan(16, 4)), "0a000000");
}

TEST(ReplyHeader, MatchesSpecVectors) {
  ReplyHeader hit{200, 8192, 1, 3, {2, 32, 256, 1024}, 0};
  std::array<std::byte, kReplyHeaderBytes> buf{};
  EncodeReply(hit, buf);
  EXPECT_EQ(Hex(buf), "c80000000020000001000000030000000200000020000000000100000004000000000000");
  ReplyHeader miss{400, 0, 1, 2, {0, 0, 0, 0}, 0};
  EncodeReply(miss, buf);
  EXPECT_EQ(Hex(buf), "900100000000000001000000020000000000000000000000000000000000000000000000");
}

TEST(RequestHeader, DecodeRejectsWrongSizes) {
  std::array<std::byte, kRequestHeaderBytes + 1> buf{};
  RequestHeader h;
  EXPECT_EQ(DecodeRequest(std::span(buf).first(185), &h), WireError::kShortInput);
  EXPECT_EQ(DecodeRequest(std::span(buf), &h), WireError::kTrailingInput);
  EXPECT_EQ(DecodeRequest({}, &h), WireError::kShortInput);
}

TEST(RequestHeader, KeyOf150BytesFitsAnd151IsRejected) {
  KeyField k;
  EXPECT_EQ(k.Assign(std::string(150, 'a')), WireError::kOk);
  EXPECT_EQ(k.size(), 150u);
  EXPECT_EQ(k.Assign(std::string(151, 'a')), WireError::kKeyTooLong);
  EXPECT_EQ(k.Assign("\xff"), WireError::kKeyNotUtf8);
}

TEST(RequestHeader, DecodeStripsPythonWhitespaceButKeepsNul) {
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(Request(1, 0, 1, 2, {}, "k@1"), buf);
  buf[36 + 3] = std::byte{'\t'};
  buf[36 + 4] = std::byte{0x1f};  // str.isspace() is true for U+001F
  RequestHeader h;
  ASSERT_EQ(DecodeRequest(buf, &h), WireError::kOk);
  EXPECT_EQ(h.key.view(), "k@1");
  buf[36 + 5] = std::byte{0};
  ASSERT_EQ(DecodeRequest(buf, &h), WireError::kOk);
  EXPECT_EQ(h.key.view(), std::string_view("k@1\t\x1f\0", 6));
  // Non-ASCII whitespace (U+00A0, U+2000) is stripped too.
  EncodeRequest(Request(1, 0, 1, 2, {}, "\xc2\xa0k\xe2\x80\x80"), buf);
  ASSERT_EQ(DecodeRequest(buf, &h), WireError::kOk);
  EXPECT_EQ(h.key.view(), "k");
  // U+200B is not whitespace in Python.
  EncodeRequest(Request(1, 0, 1, 2, {}, "\xe2\x80\x8bk"), buf);
  ASSERT_EQ(DecodeRequest(buf, &h), WireError::kOk);
  EXPECT_EQ(h.key.view(), "\xe2\x80\x8bk");
}

TEST(RequestHeader, DecodeRejectsInvalidUtf8AnywhereInTheField) {
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(Request(1, 0, 1, 2, {}, "k"), buf);
  buf[kRequestHeaderBytes - 1] = std::byte{0xff};  // in the padding
  RequestHeader h;
  EXPECT_EQ(DecodeRequest(buf, &h), WireError::kKeyNotUtf8);
  buf[kRequestHeaderBytes - 1] = std::byte{0xc3};  // a cut two-byte sequence
  EXPECT_EQ(DecodeRequest(buf, &h), WireError::kKeyNotUtf8);
  buf[kRequestHeaderBytes - 2] = std::byte{0xc3};
  buf[kRequestHeaderBytes - 1] = std::byte{0xa9};  // é at the very end is fine
  ASSERT_EQ(DecodeRequest(buf, &h), WireError::kOk);
  EXPECT_EQ(h.key.view().substr(h.key.size() - 2), "\xc3\xa9");
}

TEST(RemoteMetadata, MatchesSpecVectors) {
  RemoteMetadata m{100, 6, {{6, {1, 2, 3, 4}}}};
  std::vector<std::byte> buf(MetadataBytes(1));
  ASSERT_EQ(EncodeMetadata(m, buf), WireError::kOk);
  EXPECT_EQ(Hex(buf), "64000000060000000600000001000000020000000300000004000000");
  m.groups.push_back({2, {5, 6, 7, 8}});
  buf.resize(MetadataBytes(2));
  ASSERT_EQ(EncodeMetadata(m, buf), WireError::kOk);
  EXPECT_EQ(Hex(buf),
            "640000000600000006000000010000000200000003000000040000000200000005000000060000000700"
            "000008000000");
  RemoteMetadata back;
  ASSERT_EQ(DecodeMetadata(buf, &back), WireError::kOk);
  EXPECT_EQ(back, m);
}

TEST(RemoteMetadata, DecodeRejectsBadSizes) {
  RemoteMetadata m;
  for (std::size_t n : {0u, 4u, 8u, 24u, 27u, 29u, 47u, 49u}) {
    std::vector<std::byte> buf(n);
    EXPECT_EQ(DecodeMetadata(buf, &m), WireError::kMetadataSize) << n;
  }
  std::vector<std::byte> huge(MetadataBytes(kMetadataGroupsMax + 1));
  EXPECT_EQ(DecodeMetadata(huge, &m), WireError::kTooManyGroups);
  std::vector<std::byte> out(8);
  EXPECT_EQ(EncodeMetadata(RemoteMetadata{}, out), WireError::kNoGroups);
  RemoteMetadata one{1, 1, {{}}};
  EXPECT_EQ(EncodeMetadata(one, out), WireError::kBufferTooSmall);
}

TEST(RemoteMetadata, PrefixLeavesPayloadAlone) {
  const auto bytes = Unhex("14000000050000000000000014000000000000000000000000000000aabb");
  RemoteMetadata m;
  std::size_t used = 0;
  ASSERT_EQ(DecodeMetadataPrefix(bytes, 1, &m, &used), WireError::kOk);
  EXPECT_EQ(used, 28u);
  EXPECT_EQ(m.length, 20);
  EXPECT_EQ(m.fmt, 5);
  EXPECT_EQ(m.groups[0].shape, (Shape{20, 0, 0, 0}));
  EXPECT_EQ(DecodeMetadataPrefix(std::span(bytes).first(27), 1, &m, &used), WireError::kShortInput);
}

// Properties: decode(encode(x)) == x for every kind.
namespace gen {
rc::Gen<Shape> AnyShape() {
  return rc::gen::map(rc::gen::container<std::vector<std::int32_t>>(4, rc::gen::arbitrary<std::int32_t>()),
                      [](const std::vector<std::int32_t>& v) {
                        return Shape{v[0], v[1], v[2], v[3]};
                      });
}
// Keys without leading/trailing whitespace round-trip (padding is stripped).
rc::Gen<std::string> WireKey() {
  return rc::gen::map(rc::gen::container<std::string>(rc::gen::inRange<char>(0x21, 0x7f)), [](std::string s) {
    if (s.size() > kKeyFieldBytes) s.resize(kKeyFieldBytes);
    return s;
  });
}
}  // namespace gen

RC_GTEST_PROP(RequestHeaderProp, RoundTrips, ()) {
  RequestHeader h;
  h.command = *rc::gen::arbitrary<std::int32_t>();
  h.length = *rc::gen::arbitrary<std::int32_t>();
  h.fmt = *rc::gen::arbitrary<std::int32_t>();
  h.dtype = *rc::gen::arbitrary<std::int32_t>();
  h.location = *rc::gen::arbitrary<std::int32_t>();
  h.shape = *gen::AnyShape();
  RC_ASSERT(h.key.Assign(*gen::WireKey()) == WireError::kOk);
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(h, buf);
  RequestHeader back;
  RC_ASSERT(DecodeRequest(buf, &back) == WireError::kOk);
  RC_ASSERT(back == h);
}

RC_GTEST_PROP(ReplyHeaderProp, RoundTripsBothWays, ()) {
  const auto raw =
      *rc::gen::container<std::vector<std::uint8_t>>(kReplyHeaderBytes, rc::gen::arbitrary<std::uint8_t>());
  const auto bytes = std::as_bytes(std::span(raw));
  ReplyHeader h;
  RC_ASSERT(DecodeReply(bytes, &h) == WireError::kOk);
  std::array<std::byte, kReplyHeaderBytes> buf{};
  EncodeReply(h, buf);
  RC_ASSERT(std::equal(buf.begin(), buf.end(), bytes.begin()));
}

RC_GTEST_PROP(RemoteMetadataProp, RoundTripsBothWays, ()) {
  const std::size_t groups = *rc::gen::inRange<std::size_t>(1, 6);
  const auto raw =
      *rc::gen::container<std::vector<std::uint8_t>>(MetadataBytes(groups), rc::gen::arbitrary<std::uint8_t>());
  const auto bytes = std::as_bytes(std::span(raw));
  RemoteMetadata m;
  RC_ASSERT(DecodeMetadata(bytes, &m) == WireError::kOk);
  RC_ASSERT(m.groups.size() == groups);
  std::vector<std::byte> buf(bytes.size());
  RC_ASSERT(EncodeMetadata(m, buf) == WireError::kOk);
  RC_ASSERT(std::equal(buf.begin(), buf.end(), bytes.begin()));
}

// encode(decode(b)) == b for every valid request b whose key field is the
// canonical padding of its text.
RC_GTEST_PROP(RequestHeaderProp, ReencodesValidBytes, ()) {
  auto raw = *rc::gen::container<std::vector<std::uint8_t>>(kRequestHeaderBytes, rc::gen::arbitrary<std::uint8_t>());
  const std::string key = *gen::WireKey();
  for (std::size_t i = 0; i < kKeyFieldBytes; ++i) {
    raw[36 + i] = i < key.size() ? static_cast<std::uint8_t>(key[i]) : 0x20;
  }
  RequestHeader h;
  RC_ASSERT(DecodeRequest(std::as_bytes(std::span(raw)), &h) == WireError::kOk);
  std::array<std::byte, kRequestHeaderBytes> buf{};
  EncodeRequest(h, buf);
  RC_ASSERT(std::memcmp(buf.data(), raw.data(), raw.size()) == 0);
}

// Decoders are total: any bytes give a result or an error, never a crash.
RC_GTEST_PROP(DecodersProp, AreTotal, ()) {
  const auto raw = *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
  const auto bytes = std::as_bytes(std::span(raw));
  RequestHeader rq;
  ReplyHeader rp;
  RemoteMetadata m;
  const WireError a = DecodeRequest(bytes, &rq);
  const WireError b = DecodeReply(bytes, &rp);
  const WireError c = DecodeMetadata(bytes, &m);
  RC_ASSERT((a == WireError::kOk) == false || raw.size() == kRequestHeaderBytes);
  RC_ASSERT((b == WireError::kOk) == (raw.size() == kReplyHeaderBytes));
  (void)c;
}

TEST(ByteCursor, FailedReadConsumesNothing) {
  const std::array<std::byte, 3> b{};
  ByteReader r(b);
  std::int32_t v = 0;
  EXPECT_FALSE(r.ReadI32(&v));
  EXPECT_EQ(r.remaining(), 3u);
  std::span<const std::byte> s;
  EXPECT_TRUE(r.ReadBytes(3, &s));
  EXPECT_TRUE(r.empty());
  std::array<std::byte, 3> o{};
  ByteWriter w(o);
  EXPECT_FALSE(w.WriteI32(1));
  EXPECT_EQ(w.written(), 0u);
}

}  // namespace
}  // namespace lmc::wire

namespace lmc::wire {
namespace {

// Key fields drawn to hit every branch of the kernels: printable ASCII,
// leading/trailing spaces, control characters (some are whitespace to
// Python), multi-byte UTF-8 and invalid bytes, at every length.
rc::Gen<std::string> HostileKeyField() {
  const std::vector<std::string> pieces = {"a",        "Z",    "0",    "@",        "%",
                                           "/",        " ",    " ",    " ",        "\t",
                                           "\x1f",     "\x0b", "\x7f", "\xc3\xa9", "\xe2\x80\x80",
                                           "\xc2\xa0", "\xff", "\x80", "\x00"};
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(pieces)),
                      [](const std::vector<std::string>& parts) {
                        std::string s;
                        for (const std::string& p : parts) s += p;
                        s.resize(kKeyFieldBytes, ' ');
                        return s;
                      });
}

std::array<std::byte, kRequestHeaderBytes> WireWithKeyField(const std::string& field) {
  std::array<std::byte, kRequestHeaderBytes> wire{};
  for (std::size_t i = 0; i < request_offset::kKey; ++i) wire[i] = static_cast<std::byte>(i * 37);
  std::memcpy(wire.data() + request_offset::kKey, field.data(), kKeyFieldBytes);
  return wire;
}

// Every kernel form this CPU runs gives the same scan, image and encoding.
RC_GTEST_PROP(RequestKernelsProp, AllFormsAgree, ()) {
  const auto wire = WireWithKeyField(*HostileKeyField());
  const auto kernels = detail::AvailableRequestKernels();
  const detail::KeyScan want = kernels.front().scan(wire.data(), nullptr);
  for (const detail::RequestKernels& k : kernels) {
    std::array<std::byte, kRequestHeaderBytes> image{};
    const detail::KeyScan got = k.scan(wire.data(), image.data());
    RC_ASSERT(got.end == want.end);
    RC_ASSERT(got.simple == want.simple);
    RC_ASSERT(image == wire);
    RequestHeader h;
    std::memcpy(static_cast<void*>(&h), wire.data(), kRequestHeaderBytes);
    std::array<std::byte, kRequestHeaderBytes> copy{};
    k.encode(h, copy.data());
    RC_ASSERT(copy == wire);
    // The entry points agree with the portable form on the whole result.
    RequestHeader a, b;
    RequestView va, vb;
    RC_ASSERT(k.decode(wire.data(), &a) == kernels.front().decode(wire.data(), &b));
    RC_ASSERT(k.decode_view(wire.data(), &va) == kernels.front().decode_view(wire.data(), &vb));
    RC_ASSERT(a.key == b.key && va.key == vb.key);
  }
  // A simple scan is the fast path's claim: its text must be what str.strip()
  // gives.
  if (want.simple) {
    RequestHeader slow;
    RC_ASSERT(detail::DecodeRequestFields(wire, &slow) == WireError::kOk);
    RC_ASSERT(slow.key.size() == want.end);
  }
}

RC_GTEST_PROP(RequestKernelsProp, EncodersAgree, ()) {
  std::string key = *HostileKeyField();
  key.resize(*rc::gen::inRange<std::size_t>(0, kKeyFieldBytes + 1));
  RequestView v;
  v.command = *rc::gen::arbitrary<std::int32_t>();
  v.length = *rc::gen::arbitrary<std::int32_t>();
  v.shape = {*rc::gen::arbitrary<std::int32_t>(), 1, 2, *rc::gen::arbitrary<std::int32_t>()};
  v.key = key;
  const auto kernels = detail::AvailableRequestKernels();
  std::array<std::byte, kRequestHeaderBytes> want{};
  const WireError want_e = detail::EncodeRequestFields(v, want);
  for (const detail::RequestKernels& k : kernels) {
    std::array<std::byte, kRequestHeaderBytes> got{};
    RC_ASSERT(k.encode_view(v, got.data()) == want_e);
    if (want_e == WireError::kOk) RC_ASSERT(got == want);
  }
}

// The public codec (whichever kernels are in use) against the field-by-field
// reference, on hostile key fields: same error, same key, same ints.
RC_GTEST_PROP(RequestKernelsProp, CodecMatchesFieldByField, ()) {
  const auto wire = WireWithKeyField(*HostileKeyField());
  RequestHeader fast, slow;
  RequestView view;
  const WireError ef = DecodeRequest(wire, &fast);
  const WireError es = detail::DecodeRequestFields(wire, &slow);
  const WireError ev = DecodeRequestView(wire, &view);
  RC_ASSERT(ef == es);
  RC_ASSERT(ev == es);
  if (es == WireError::kOk) {
    RC_ASSERT(fast == slow);
    RC_ASSERT(view.key == slow.key.view());
    RC_ASSERT(view.command == slow.command && view.shape == slow.shape && view.location == slow.location);
    std::array<std::byte, kRequestHeaderBytes> a{}, b{}, c{};
    EncodeRequest(fast, a);
    detail::EncodeRequestFields(slow, b);
    RC_ASSERT(a == b);
    RC_ASSERT(EncodeRequest(view, c) == WireError::kOk);
    RC_ASSERT(c == b);
  }
}

TEST(RequestKernels, EncodeFromTextValidates) {
  std::array<std::byte, kRequestHeaderBytes> out{};
  RequestView v;
  v.key = std::string(151, 'k');
  EXPECT_EQ(EncodeRequest(v, out), WireError::kKeyTooLong);
  v.key = "bad\xff";
  EXPECT_EQ(EncodeRequest(v, out), WireError::kKeyNotUtf8);
  v.key = "caf\xc3\xa9@1@0@1@half";
  ASSERT_EQ(EncodeRequest(v, out), WireError::kOk);
  RequestHeader back;
  ASSERT_EQ(DecodeRequest(out, &back), WireError::kOk);
  EXPECT_EQ(back.key.view(), v.key);
}

// Under ctest this binary runs once per LMC_CPU_LEVEL; each run must really
// use that level, or say plainly that this CPU cannot.
TEST(RequestKernels, RunsTheRequestedLevel) {
  const char* want = std::getenv("LMC_CPU_LEVEL");
  const std::string_view active = detail::AvailableRequestKernels().back().name;
  std::printf("request kernels in use: %.*s (hardware: %.*s)\n", static_cast<int>(active.size()), active.data(),
              static_cast<int>(base::CpuLevelName(base::HardwareCpuLevel()).size()),
              base::CpuLevelName(base::HardwareCpuLevel()).data());
  if (want == nullptr) return;
  if (active != want) {
    GTEST_SKIP() << "LMC_CPU_LEVEL=" << want << " but this CPU runs at most " << active;
  }
  EXPECT_EQ(active, want);
}

}  // namespace
}  // namespace lmc::wire

namespace lmc::wire {
namespace {

// Fixed edge cases for every kernel form, so each branch is hit on every run
// (the properties above draw them only by chance).
TEST(RequestKernels, EdgeCasesInEveryForm) {
  const std::vector<std::string> fields = {"",
                                           " ",
                                           " k",
                                           "  k  ",
                                           "k",
                                           "k ",
                                           "k\t",
                                           "\tk",
                                           "\x1f"
                                           "k",
                                           "k\x1c",
                                           "k\x7f",
                                           "\x7f",
                                           "\xc3\xa9",
                                           "k\xc2\xa0",
                                           "\xe2\x80\x80k",
                                           "k\xff",
                                           std::string(150, 'x'),
                                           std::string(149, 'x') + "\t",
                                           " " + std::string(149, 'x'),
                                           std::string(64, 'a') + " b",
                                           std::string(127, ' ') + "z",
                                           std::string(128, ' ') + "z",
                                           std::string(63, ' ') + "z"};
  for (const std::string& f : fields) {
    SCOPED_TRACE(testing::PrintToString(f));
    const auto wire = WireWithKeyField(f.substr(0, kKeyFieldBytes) +
                                       std::string(kKeyFieldBytes - std::min(f.size(), kKeyFieldBytes), ' '));
    RequestHeader want;
    const WireError want_e = detail::DecodeRequestFields(wire, &want);
    for (const detail::RequestKernels& k : detail::AvailableRequestKernels()) {
      SCOPED_TRACE(std::string(k.name));
      RequestHeader got;
      RequestView view;
      ASSERT_EQ(k.decode(wire.data(), &got), want_e);
      ASSERT_EQ(k.decode_view(wire.data(), &view), want_e);
      if (want_e == WireError::kOk) {
        EXPECT_EQ(got, want);
        EXPECT_EQ(view.key, want.key.view());
      }
    }
  }
}

}  // namespace
}  // namespace lmc::wire
