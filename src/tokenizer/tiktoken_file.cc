#include "tokenizer/tiktoken_file.h"

#include <array>
#include <cstdint>

namespace atom::tokenizer_internal {
namespace {

constexpr std::array<int8_t, 256> MakeBase64Table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kBase64 = MakeBase64Table();

// Standard base64 with '=' padding; false if malformed.
bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  size_t padding = 0;
  if (in.back() == '=') padding = in[in.size() - 2] == '=' ? 2 : 1;
  const size_t body = in.size() - padding;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < body; ++i) {
    const int8_t v = kBase64[static_cast<uint8_t>(in[i])];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // The leftover bits of the last group must be zero (canonical encoding).
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace

Status ParseTiktokenRanks(std::string_view contents, const std::string& path, BpeSpec* spec) {
  spec->table.Reserve(contents.size() / 16, contents.size() / 2);
  spec->ordinary.reserve(contents.size() / 16);
  std::string bytes;
  size_t line_no = 0;
  int32_t next_rank = 0;
  size_t pos = 0;
  while (pos < contents.size()) {
    ++line_no;
    size_t eol = contents.find('\n', pos);
    if (eol == std::string_view::npos) eol = contents.size();
    std::string_view line = contents.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;  // as tiktoken: blank lines are skipped

    const size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      return InvalidArgument("{}:{}: expected \"<base64> <rank>\"", path, line_no);
    }
    const std::string_view token = line.substr(0, space);
    std::string_view rank_text = line.substr(space);
    while (!rank_text.empty() && (rank_text[0] == ' ' || rank_text[0] == '\t')) {
      rank_text.remove_prefix(1);
    }
    if (!DecodeBase64(token, &bytes)) {
      return InvalidArgument("{}:{}: token {:?} is not valid base64", path, line_no, token);
    }
    int64_t rank = 0;
    bool ok = !rank_text.empty() && rank_text.size() <= 10;
    for (char c : rank_text) {
      ok = ok && c >= '0' && c <= '9';
      rank = rank * 10 + (c - '0');
    }
    if (!ok) return InvalidArgument("{}:{}: rank {:?} is not a number", path, line_no, rank_text);
    if (rank != next_rank) {
      return InvalidArgument(
          "{}:{}: rank {} breaks the sequence (expected {}): ranks must be "
          "0, 1, 2, ... in order",
          path, line_no, rank, next_rank);
    }
    spec->table.Set(next_rank, bytes);
    spec->ordinary.push_back(next_rank);
    ++next_rank;
  }
  if (next_rank == 0) return InvalidArgument("{}: no tokens", path);
  return OkStatus();
}

}  // namespace atom::tokenizer_internal
