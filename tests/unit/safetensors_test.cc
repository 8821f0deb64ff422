#include "models/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "safetensors_builder.h"
#include "test_paths.h"

namespace atom {
namespace {

using ::atom::testing::BuildSafetensors;
using ::atom::testing::HasText;
using ::atom::testing::PatternBytes;
using ::atom::testing::RawSafetensors;
using ::atom::testing::StTensor;

constexpr char kFile[] = "bad.safetensors";

StatusOr<SafetensorsHeader> Parse(const std::string& bytes) {
  return ParseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                kFile);
}

// A file whose header is `json` and whose data region has `data_bytes` bytes.
StatusOr<SafetensorsHeader> ParseJson(const std::string& json, size_t data_bytes = 64) {
  return Parse(RawSafetensors(json, PatternBytes(data_bytes)));
}

// Asserts an error with `code` whose message names the file and each of `needles`.
void ExpectError(const StatusOr<SafetensorsHeader>& r, StatusCode code,
                 std::initializer_list<std::string_view> needles) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_TRUE(HasText(r.status().message(), kFile));
  for (std::string_view n : needles) EXPECT_TRUE(HasText(r.status().message(), n));
}

// ---- file-level errors ------------------------------------------------------------------------

TEST(SafetensorsHeaderTest, FileShorterThanLengthField) {
  ExpectError(Parse(""), StatusCode::kDataLoss, {"8-byte"});
  ExpectError(Parse("1234567"), StatusCode::kDataLoss, {"7 bytes"});
  EXPECT_FALSE(ParseSafetensorsHeader(nullptr, 0, kFile).ok());
}

TEST(SafetensorsHeaderTest, HeaderLengthZero) {
  ExpectError(Parse(RawSafetensors("{}", "", 0)), StatusCode::kInvalidArgument, {"length is 0"});
}

TEST(SafetensorsHeaderTest, TruncatedHeader) {
  ExpectError(Parse(RawSafetensors("{}", "", 100)), StatusCode::kDataLoss, {"100", "truncated"});
  // Length field alone, nothing after it.
  ExpectError(Parse(RawSafetensors("", "", 2)), StatusCode::kDataLoss, {"truncated"});
}

TEST(SafetensorsHeaderTest, AbsurdHeaderLength) {
  ExpectError(Parse(RawSafetensors("{}", "", uint64_t(1) << 40)), StatusCode::kInvalidArgument,
              {"limit"});
  // No overflow in 8 + N.
  ExpectError(Parse(RawSafetensors("{}", "", ~uint64_t(0))), StatusCode::kInvalidArgument,
              {"limit"});
}

TEST(SafetensorsHeaderTest, InvalidJson) {
  ExpectError(ParseJson("{\"a\": "), StatusCode::kInvalidArgument, {"not valid JSON"});
  ExpectError(ParseJson("{\"a\": 1,}"), StatusCode::kInvalidArgument, {"not valid JSON"});
  ExpectError(ParseJson("{} trailing"), StatusCode::kInvalidArgument, {"not valid JSON"});
  // Invalid UTF-8 inside a string.
  ExpectError(ParseJson("{\"\xff\": 1}"), StatusCode::kInvalidArgument, {"not valid JSON"});
}

TEST(SafetensorsHeaderTest, JsonNotAnObject) {
  ExpectError(ParseJson("[1, 2]"), StatusCode::kInvalidArgument, {"JSON object", "array"});
  ExpectError(ParseJson("\"x\""), StatusCode::kInvalidArgument, {"JSON object", "string"});
  ExpectError(ParseJson("null"), StatusCode::kInvalidArgument, {"JSON object"});
}

// ---- entry errors -----------------------------------------------------------------------------

TEST(SafetensorsHeaderTest, EntryNotAnObject) {
  ExpectError(ParseJson(R"({"w": 5})"), StatusCode::kInvalidArgument, {"'w'", "object"});
  ExpectError(ParseJson(R"({"w": ["F32"]})"), StatusCode::kInvalidArgument, {"'w'", "object"});
}

TEST(SafetensorsHeaderTest, MissingFields) {
  ExpectError(ParseJson(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'w'", "missing field 'dtype'"});
  ExpectError(ParseJson(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'w'", "missing field 'shape'"});
  ExpectError(ParseJson(R"({"w": {"dtype": "F32", "shape": [2]}})"), StatusCode::kInvalidArgument,
              {"'w'", "missing field 'data_offsets'"});
}

TEST(SafetensorsHeaderTest, WrongFieldTypes) {
  ExpectError(ParseJson(R"({"w": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'w'", "'dtype'", "string"});
  ExpectError(ParseJson(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'w'", "'shape'", "array"});
  ExpectError(ParseJson(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": "0-8"}})"),
              StatusCode::kInvalidArgument, {"'w'", "'data_offsets'"});
}

TEST(SafetensorsHeaderTest, UnknownDtype) {
  ExpectError(ParseJson(R"({"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 2]}})"),
              StatusCode::kInvalidArgument, {"'w'", "unknown dtype", "Q7", "BF16", "F8_E8M0"});
  ExpectError(ParseJson(R"({"w": {"dtype": "bf16", "shape": [2], "data_offsets": [0, 4]}})"),
              StatusCode::kInvalidArgument, {"'w'", "bf16"});
}

TEST(SafetensorsHeaderTest, KnownButUnsupportedDtype) {
  ExpectError(ParseJson(R"({"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}})"),
              StatusCode::kUnimplemented, {"'w'", "F64", "not supported", "BF16"});
}

TEST(SafetensorsHeaderTest, BadShape) {
  const auto with_shape = [](const std::string& shape) {
    return ParseJson(R"({"w": {"dtype": "U8", "shape": )" + shape +
                     R"(, "data_offsets": [0, 4]}})");
  };
  ExpectError(with_shape("[-4]"), StatusCode::kInvalidArgument, {"'w'", "'shape'[0]", "-4"});
  ExpectError(with_shape("[2, 2.0]"), StatusCode::kInvalidArgument, {"'w'", "'shape'[1]"});
  ExpectError(with_shape("[\"4\"]"), StatusCode::kInvalidArgument, {"'w'", "'shape'[0]"});
  ExpectError(with_shape("[1, 1, 1, 1, 1, 1, 4]"), StatusCode::kInvalidArgument,
              {"'w'", "7 dimensions"});
  ExpectError(with_shape("[4294967296, 4294967296]"), StatusCode::kInvalidArgument,
              {"'w'", "64 bits"});
  // The product of the non-zero dims must fit even when a zero makes the tensor empty.
  ExpectError(with_shape("[4294967296, 4294967296, 0]"), StatusCode::kInvalidArgument,
              {"'w'", "64 bits"});
  ExpectError(with_shape("[18446744073709551615]"), StatusCode::kInvalidArgument, {"'w'"});
  ExpectError(with_shape("[99999999999999999999999]"), StatusCode::kInvalidArgument, {"'w'"});
}

TEST(SafetensorsHeaderTest, BadOffsets) {
  const auto with_offsets = [](const std::string& offsets) {
    return ParseJson(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": )" + offsets + "}}");
  };
  ExpectError(with_offsets("[0]"), StatusCode::kInvalidArgument, {"'w'", "two integers"});
  ExpectError(with_offsets("[0, 4, 8]"), StatusCode::kInvalidArgument, {"'w'", "two integers"});
  ExpectError(with_offsets("[-4, 0]"), StatusCode::kInvalidArgument, {"'w'", "non-negative"});
  ExpectError(with_offsets("[0, 4.0]"), StatusCode::kInvalidArgument, {"'w'", "non-negative"});
  ExpectError(with_offsets("[null, 4]"), StatusCode::kInvalidArgument, {"'w'"});
}

TEST(SafetensorsHeaderTest, EndBeforeBegin) {
  ExpectError(ParseJson(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [8, 4]}})"),
              StatusCode::kInvalidArgument, {"'w'", "end < begin"});
}

TEST(SafetensorsHeaderTest, OffsetsOutsideFile) {
  ExpectError(ParseJson(R"({"w": {"dtype": "U8", "shape": [8], "data_offsets": [60, 68]}})", 64),
              StatusCode::kDataLoss, {"'w'", "past the data region of 64 bytes"});
  ExpectError(ParseJson(R"({"w": {"dtype": "U8", "shape": [1],
                                  "data_offsets": [18446744073709551614, 18446744073709551615]}})"),
              StatusCode::kDataLoss, {"'w'"});
}

TEST(SafetensorsHeaderTest, ShapeTimesDtypeNotBytes) {
  ExpectError(ParseJson(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})"),
              StatusCode::kInvalidArgument, {"'w'", "[2, 3]", "needs 24 bytes", "spans 20"});
  ExpectError(ParseJson(R"({"w": {"dtype": "BF16", "shape": [], "data_offsets": [0, 4]}})"),
              StatusCode::kInvalidArgument, {"'w'", "needs 2 bytes"});
  // A huge element count whose byte size overflows.
  ExpectError(ParseJson(R"({"w": {"dtype": "I64", "shape": [4611686018427387904],
                                  "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'w'"});
}

TEST(SafetensorsHeaderTest, OverlappingTensors) {
  ExpectError(ParseJson(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                            "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}})"),
              StatusCode::kInvalidArgument, {"'a'", "'b'", "overlaps"});
  // Identical ranges overlap too.
  ExpectError(ParseJson(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                            "b": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}})"),
              StatusCode::kInvalidArgument, {"'a'", "'b'", "overlaps"});
  // A tensor nested inside a long one that is not its sorted predecessor.
  ExpectError(ParseJson(R"({"a": {"dtype": "U8", "shape": [32], "data_offsets": [0, 32]},
                            "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]},
                            "c": {"dtype": "U8", "shape": [4], "data_offsets": [16, 20]}})"),
              StatusCode::kInvalidArgument, {"overlaps tensor 'a'"});
}

TEST(SafetensorsHeaderTest, MetadataWrongType) {
  ExpectError(ParseJson(R"({"__metadata__": ["pt"]})"), StatusCode::kInvalidArgument,
              {"'__metadata__'", "object"});
  ExpectError(ParseJson(R"({"__metadata__": {"format": 1}})"), StatusCode::kInvalidArgument,
              {"'__metadata__'", "'format'", "string"});
}

TEST(SafetensorsHeaderTest, DuplicateTensorName) {
  ExpectError(ParseJson(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                            "a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})"),
              StatusCode::kInvalidArgument, {"'a'", "more than once"});
}

// ---- valid files ------------------------------------------------------------------------------

TEST(SafetensorsHeaderTest, ValidFileInDataOrder) {
  // Header keys sort as a, b, c but the data order is c, a, b.
  const std::string json = R"({"__metadata__": {"format": "pt", "k": "v"},
      "a": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [4, 16]},
      "b": {"dtype": "U8", "shape": [4, 1, 1], "data_offsets": [16, 20]},
      "c": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}    )";
  const auto r = ParseJson(json, 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const uint64_t base = 8 + json.size();
  EXPECT_EQ(r->header_bytes, json.size());
  ASSERT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->entries[0].name, "c");
  EXPECT_EQ(r->entries[0].dtype, DType::kF32);
  EXPECT_EQ(r->entries[0].shape, Shape{});
  EXPECT_EQ(r->entries[0].data_begin, base);
  EXPECT_EQ(r->entries[0].data_bytes, 4u);
  EXPECT_EQ(r->entries[1].name, "a");
  EXPECT_EQ(r->entries[1].dtype, DType::kBF16);
  EXPECT_EQ(r->entries[1].shape, (Shape{2, 3}));
  EXPECT_EQ(r->entries[1].data_begin, base + 4);
  EXPECT_EQ(r->entries[1].data_bytes, 12u);
  EXPECT_EQ(r->entries[2].name, "b");
  EXPECT_EQ(r->entries[2].shape, (Shape{4, 1, 1}));
  EXPECT_EQ(r->metadata.size(), 2u);
  EXPECT_EQ(r->metadata.at("format"), "pt");
}

TEST(SafetensorsHeaderTest, EmptyHeaderAndEmptyTensors) {
  auto r = ParseJson("{}", 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->entries.empty());
  // Zero-element tensors occupy no bytes, so they overlap nothing, even inside another range.
  r = ParseJson(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                    "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
                    "f": {"dtype": "F32", "shape": [3, 0], "data_offsets": [8, 8]}})",
                8);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries.size(), 3u);
}

TEST(SafetensorsHeaderTest, GapsAndUnknownEntryKeysAreAllowed) {
  const auto r = ParseJson(R"({"a": {"dtype": "I32", "shape": [1], "data_offsets": [8, 12],
                                     "extra": true}})",
                           16);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries[0].dtype, DType::kI32);
}

TEST(SafetensorsHeaderTest, BuilderFileParses) {
  const std::string file =
      BuildSafetensors({{"x", "F16", {3}, PatternBytes(6)}, {"y", "I64", {2, 1}, PatternBytes(16)}},
                       {{"format", "pt"}});
  const auto r = Parse(file);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->header_bytes % 8, 0u);
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->entries[1].data_begin + r->entries[1].data_bytes, file.size());
}

TEST(SafetensorsHeaderTest, DTypeNames) {
  for (const char* name : {"F32", "F16", "BF16", "F8_E4M3", "F8_E8M0", "U8", "I8", "I32", "I64"}) {
    const std::optional<DType> t = DTypeFromSafetensors(name);
    ASSERT_TRUE(t.has_value()) << name;
    EXPECT_EQ(SafetensorsDTypeName(*t), name);
  }
  EXPECT_EQ(DTypeFromSafetensors(DTypeName(DType::kBF16)), std::nullopt);  // case matters
  EXPECT_EQ(DTypeFromSafetensors("F64"), std::nullopt);
  EXPECT_EQ(DTypeFromSafetensors(""), std::nullopt);
  EXPECT_EQ(SafetensorsDTypeName(DType::kFP4E2M1), "");
}

// ---- SafetensorsFile --------------------------------------------------------------------------

std::string FixtureFile() {
  return atom::testing::FixtureDir("gpt-oss-tiny-mxfp4") + "/model/model.safetensors";
}

TEST(SafetensorsFileTest, OpensFixture) {
  auto r = SafetensorsFile::Open(FixtureFile());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.path(), FixtureFile());
  EXPECT_EQ(f.size(), 1814144u);
  EXPECT_EQ(f.header().header_bytes, 8280u);
  EXPECT_EQ(f.header().entries.size(), 79u);
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  for (size_t i = 1; i < f.header().entries.size(); ++i) {
    EXPECT_LE(f.header().entries[i - 1].data_begin, f.header().entries[i].data_begin);
  }

  const SafetensorsEntry* sinks = f.Find("model.layers.0.self_attn.sinks");
  ASSERT_NE(sinks, nullptr);
  EXPECT_EQ(sinks->dtype, DType::kBF16);
  EXPECT_EQ(sinks->shape, Shape{4});
  EXPECT_EQ(sinks->data_begin, 533936u);
  EXPECT_EQ(sinks->data_bytes, 8u);
  const Tensor t = f.View(*sinks);
  EXPECT_EQ(t.dtype(), DType::kBF16);
  EXPECT_EQ(t.shape(), Shape{4});
  EXPECT_EQ(t.data(), f.data() + 533936);
  uint16_t v[4];
  std::memcpy(v, t.data(), sizeof(v));
  EXPECT_EQ(v[0], 0xBDB0);  // bytes b0 bd c8 be ...
  EXPECT_EQ(v[1], 0xBD88);
  EXPECT_EQ(v[2], 0xBEC8);
  EXPECT_EQ(v[3], 0xBF42);

  const SafetensorsEntry* blocks = f.Find("model.layers.0.mlp.experts.down_proj_blocks");
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->dtype, DType::kU8);
  EXPECT_EQ(blocks->shape, (Shape{8, 96, 5, 16}));
  EXPECT_EQ(blocks->data_begin, 1030784u);
  EXPECT_EQ(blocks->data_bytes, 61440u);
  EXPECT_EQ(f.View(*blocks).data_as<const uint8_t>()[0], 0x25);

  const SafetensorsEntry* scales = f.Find("model.layers.3.mlp.experts.gate_up_proj_scales");
  ASSERT_NE(scales, nullptr);
  EXPECT_EQ(scales->shape, (Shape{8, 320, 3}));
  EXPECT_EQ(scales->data_bytes, 7680u);
  EXPECT_EQ(scales->data_begin + scales->data_bytes, f.size());  // the last tensor

  const SafetensorsEntry* lm_head = f.Find("lm_head.weight");
  ASSERT_NE(lm_head, nullptr);
  EXPECT_EQ(lm_head->shape, (Shape{1024, 96}));
  EXPECT_EQ(lm_head->data_begin, 8u + 8280u);

  EXPECT_EQ(f.Find("model.layers.0.self_attn.sinks.missing"), nullptr);
  EXPECT_EQ(f.Find("__metadata__"), nullptr);
}

class SafetensorsFileErrorTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = atom::testing::MakeTempDir("atom-st"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SafetensorsFileErrorTest, MissingFile) {
  const auto r = SafetensorsFile::Open(dir_ + "/nope.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasText(r.status().message(), "nope.safetensors"));
}

TEST_F(SafetensorsFileErrorTest, NotARegularFile) {
  const auto r = SafetensorsFile::Open(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasText(r.status().message(), "not a regular file"));
}

TEST_F(SafetensorsFileErrorTest, EmptyFile) {
  const std::string path = dir_ + "/empty.safetensors";
  atom::testing::WriteBytes(path, "");
  const auto r = SafetensorsFile::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(HasText(r.status().message(), "empty.safetensors"));
}

TEST_F(SafetensorsFileErrorTest, CorruptHeaderNamesPathAndTensor) {
  const std::string path = dir_ + "/corrupt.safetensors";
  std::string file = BuildSafetensors({{"t", "F32", {4}, PatternBytes(16)}});
  file.resize(file.size() - 4);  // truncate the data
  atom::testing::WriteBytes(path, file);
  const auto r = SafetensorsFile::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(HasText(r.status().message(), path));
  EXPECT_TRUE(HasText(r.status().message(), "'t'"));
}

TEST_F(SafetensorsFileErrorTest, ViewsSeeFileBytes) {
  const std::string path = dir_ + "/ok.safetensors";
  const std::string bytes = PatternBytes(24, 3);
  atom::testing::WriteBytes(path, BuildSafetensors({{"a", "U8", {8}, bytes.substr(0, 8)},
                                                    {"b", "I32", {2, 2}, bytes.substr(8)}}));
  const auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SafetensorsEntry* b = (*r)->Find("b");
  ASSERT_NE(b, nullptr);
  const Tensor t = (*r)->View(*b);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(std::memcmp(t.data(), bytes.data() + 8, 16), 0);
}

}  // namespace
}  // namespace atom
