#include "tokenizer/hf_tokenizer_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/o200k.h"
#include "core/files.h"
#include "tokenizer/tiktoken_file.h"
#include "tokenizer/token_maps.h"

namespace atom {
namespace {

using tokenizer_internal::BytesToIdMap;
using tokenizer_internal::TokenTable;

// Indexes the non-empty tokens of `ranks`; returns the first id that repeats an earlier token's
// bytes, or kNone.
int32_t IndexTokens(const std::vector<std::string>& ranks, TokenTable* table, BytesToIdMap* map) {
  std::vector<int32_t> ids;
  ids.reserve(ranks.size());
  table->Reserve(ranks.size(), ranks.size() * 8);
  for (size_t id = 0; id < ranks.size(); ++id) {
    if (ranks[id].empty()) continue;
    table->Set(int32_t(id), ranks[id]);
    ids.push_back(int32_t(id));
  }
  return map->Build(*table, ids);
}

// Every split of every token into two tokens, tokens in rank order (so the merges come out
// ordered by the merged token's rank) and, within a token, by (left rank, right rank).
std::vector<std::pair<int32_t, int32_t>> DeriveMerges(const std::vector<std::string>& ranks,
                                                      const BytesToIdMap& map) {
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(ranks.size() * 5 / 2);
  std::vector<std::pair<int32_t, int32_t>> local;
  for (const std::string& token : ranks) {
    const std::string_view t = token;
    local.clear();
    for (size_t i = 1; i < t.size(); ++i) {
      const int32_t left = map.Find(t.substr(0, i));
      if (left == BytesToIdMap::kNone) continue;
      const int32_t right = map.Find(t.substr(i));
      if (right != BytesToIdMap::kNone) local.emplace_back(left, right);
    }
    std::sort(local.begin(), local.end());
    merges.insert(merges.end(), local.begin(), local.end());
  }
  return merges;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order. Each entry is the code point's UTF-8.
std::array<std::string, 256> MakeByteToUnicode() {
  std::array<std::string, 256> table;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    std::string utf8;
    if (cp < 0x80) {
      utf8.push_back(char(cp));
    } else {  // every code point here is < 0x800
      utf8.push_back(char(0xC0 | (cp >> 6)));
      utf8.push_back(char(0x80 | (cp & 0x3F)));
    }
    table[b] = std::move(utf8);
  }
  return table;
}

const std::array<std::string, 256>& ByteToUnicode() {
  static const std::array<std::string, 256> table = MakeByteToUnicode();
  return table;
}

// Appends `s` as a JSON string literal (escaping as serde_json and Python's json do).
void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append(fmt::format("\\u{:04x}", static_cast<unsigned char>(c)));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

Status CheckSpec(const HfTokenizerJsonSpec& spec) {
  if (spec.ranks.empty()) return InvalidArgument("tokenizer.json: the vocabulary is empty");
  std::set<int32_t> ids;
  for (const SpecialToken& s : spec.specials) {
    if (s.id >= 0 && size_t(s.id) < spec.ranks.size())
      return InvalidArgument(
          "tokenizer.json: special token {:?} has id {}, which is an ordinary "
          "token's (ordinary ids are 0..{})",
          s.text, s.id, spec.ranks.size() - 1);
    if (s.id < 0) return InvalidArgument("special token {:?} has a negative id", s.text);
    if (!ids.insert(s.id).second)
      return InvalidArgument("tokenizer.json: special token id {} is used twice", s.id);
  }
  return OkStatus();
}

// The fixed sections between added_tokens and the model (pre_tokenizer, post_processor,
// decoder), exactly as the converter writes them.
void AppendPipeline(const std::string& pattern, std::string* out) {
  out->append("  \"normalizer\": null,\n");
  out->append(
      "  \"pre_tokenizer\": {\n"
      "    \"type\": \"Sequence\",\n"
      "    \"pretokenizers\": [\n"
      "      {\n"
      "        \"type\": \"Split\",\n"
      "        \"pattern\": {\n"
      "          \"Regex\": ");
  AppendJsonString(pattern, out);
  out->append(
      "\n"
      "        },\n"
      "        \"behavior\": \"Isolated\",\n"
      "        \"invert\": false\n"
      "      },\n"
      "      {\n"
      "        \"type\": \"ByteLevel\",\n"
      "        \"add_prefix_space\": false,\n"
      "        \"trim_offsets\": true,\n"
      "        \"use_regex\": false\n"
      "      }\n"
      "    ]\n"
      "  },\n"
      "  \"post_processor\": {\n"
      "    \"type\": \"ByteLevel\",\n"
      "    \"add_prefix_space\": true,\n"
      "    \"trim_offsets\": false,\n"
      "    \"use_regex\": true\n"
      "  },\n"
      "  \"decoder\": {\n"
      "    \"type\": \"ByteLevel\",\n"
      "    \"add_prefix_space\": true,\n"
      "    \"trim_offsets\": true,\n"
      "    \"use_regex\": true\n"
      "  },\n");
}

// tokenizer_config.json of gpt-oss: the specials 199998..200018 as added_tokens_decoder.
std::string O200kHarmonyTokenizerConfig() {
  std::string out = "{\n  \"added_tokens_decoder\": {\n";
  const std::vector<SpecialToken> specials = tokenizer_internal::O200kHarmonySpecials();
  bool first = true;
  for (const SpecialToken& s : specials) {
    if (s.id > 200018) break;
    if (!first) out.append(",\n");
    first = false;
    out.append(
        fmt::format("    \"{}\": {{\n      \"content\": {},\n      \"lstrip\": false,\n"
                    "      \"normalized\": false,\n      \"rstrip\": false,\n"
                    "      \"single_word\": false,\n      \"special\": true\n    }}",
                    s.id, JsonString(s.text)));
  }
  out.append(
      "\n  },\n"
      "  \"bos_token\": \"<|startoftext|>\",\n"
      "  \"clean_up_tokenization_spaces\": false,\n"
      "  \"eos_token\": \"<|return|>\",\n"
      "  \"extra_special_tokens\": {},\n"
      "  \"model_input_names\": [\n"
      "    \"input_ids\",\n"
      "    \"attention_mask\"\n"
      "  ],\n"
      "  \"model_max_length\": 1000000000000000019884624838656,\n"
      "  \"pad_token\": \"<|endoftext|>\",\n"
      "  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n"
      "}\n");
  return out;
}

constexpr std::string_view kO200kHarmonySpecialTokensMap =
    "{\n"
    "  \"bos_token\": \"<|startoftext|>\",\n"
    "  \"eos_token\": \"<|return|>\",\n"
    "  \"pad_token\": \"<|endoftext|>\"\n"
    "}\n";

}  // namespace

std::string ByteLevelEncode(std::string_view bytes) {
  const auto& table = ByteToUnicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(table[static_cast<unsigned char>(c)]);
  return out;
}

std::vector<std::pair<int32_t, int32_t>> DeriveBpeMerges(const std::vector<std::string>& ranks) {
  TokenTable table;
  BytesToIdMap map;
  IndexTokens(ranks, &table, &map);
  return DeriveMerges(ranks, map);
}

StatusOr<std::string> MakeHfTokenizerJson(const HfTokenizerJsonSpec& spec) {
  ATOM_RETURN_IF_ERROR(CheckSpec(spec));
  for (size_t id = 0; id < spec.ranks.size(); ++id) {
    if (spec.ranks[id].empty())
      return InvalidArgument("tokenizer.json: ordinary token {} has no bytes", id);
  }
  TokenTable table;
  BytesToIdMap map;
  const int32_t dup = IndexTokens(spec.ranks, &table, &map);
  if (dup != BytesToIdMap::kNone)
    return InvalidArgument(
        "tokenizer.json: ordinary token {} repeats the bytes of an earlier token", dup);
  std::vector<std::string> vocab;  // byte-level spellings, by id
  vocab.reserve(spec.ranks.size());
  size_t bytes = 0;
  for (const std::string& r : spec.ranks) {
    vocab.push_back(ByteLevelEncode(r));
    bytes += vocab.back().size();
  }
  const std::vector<std::pair<int32_t, int32_t>> merges = DeriveMerges(spec.ranks, map);

  std::vector<SpecialToken> specials = spec.specials;
  std::sort(specials.begin(), specials.end(),
            [](const SpecialToken& a, const SpecialToken& b) { return a.id < b.id; });

  std::string out;
  out.reserve(bytes * 4 + merges.size() * 40 + specials.size() * 200 + 4096);
  out.append("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n");
  if (specials.empty()) {
    out.append("  \"added_tokens\": [],\n");
  } else {
    out.append("  \"added_tokens\": [\n");
    for (size_t i = 0; i < specials.size(); ++i) {
      out.append(fmt::format("    {{\n      \"id\": {},\n      \"content\": ", specials[i].id));
      AppendJsonString(specials[i].text, &out);
      out.append(
          ",\n      \"single_word\": false,\n      \"lstrip\": false,\n"
          "      \"rstrip\": false,\n      \"normalized\": false,\n      \"special\": true\n    }");
      out.append(i + 1 < specials.size() ? ",\n" : "\n");
    }
    out.append("  ],\n");
  }
  AppendPipeline(spec.pattern, &out);
  out.append(
      "  \"model\": {\n"
      "    \"type\": \"BPE\",\n"
      "    \"dropout\": null,\n"
      "    \"unk_token\": null,\n"
      "    \"continuing_subword_prefix\": null,\n"
      "    \"end_of_word_suffix\": null,\n"
      "    \"fuse_unk\": false,\n"
      "    \"byte_fallback\": false,\n"
      "    \"ignore_merges\": true,\n"
      "    \"vocab\": {\n");
  for (size_t id = 0; id < vocab.size(); ++id) {
    out.append("      ");
    AppendJsonString(vocab[id], &out);
    out.append(": ");
    out.append(std::to_string(id));
    out.append(id + 1 < vocab.size() ? ",\n" : "\n");
  }
  if (merges.empty()) {
    out.append("    },\n    \"merges\": []\n  }\n}");
    return out;
  }
  out.append("    },\n    \"merges\": [\n");
  for (size_t i = 0; i < merges.size(); ++i) {
    out.append("      [\n        ");
    AppendJsonString(vocab[merges[i].first], &out);
    out.append(",\n        ");
    AppendJsonString(vocab[merges[i].second], &out);
    out.append(i + 1 < merges.size() ? "\n      ],\n" : "\n      ]\n");
  }
  out.append("    ]\n  }\n}");
  return out;
}

Status WriteHfTokenizerJson(const HfTokenizerJsonSpec& spec, const std::string& path) {
  ATOM_ASSIGN_OR_RETURN(std::string text, MakeHfTokenizerJson(spec));
  return WriteFileAtomically(path, text);
}

StatusOr<std::vector<std::string>> ReadTiktokenRanks(const std::string& path) {
  ATOM_ASSIGN_OR_RETURN(std::string contents, ReadFile(path));
  tokenizer_internal::BpeSpec spec;
  ATOM_RETURN_IF_ERROR(tokenizer_internal::ParseTiktokenRanks(contents, path, &spec));
  std::vector<std::string> ranks;
  ranks.reserve(spec.ordinary.size());
  for (int32_t id = 0; id < spec.table.size(); ++id) ranks.emplace_back(spec.table.Get(id));
  return ranks;
}

Status WriteO200kHarmonyTokenizerFiles(const std::string& ranks_path, const std::string& dir) {
  HfTokenizerJsonSpec spec;
  ATOM_ASSIGN_OR_RETURN(spec.ranks, ReadTiktokenRanks(ranks_path));
  spec.pattern = std::string(tokenizer_internal::kO200kPattern);
  spec.specials = tokenizer_internal::O200kHarmonySpecials();
  ATOM_RETURN_IF_ERROR(WriteHfTokenizerJson(spec, dir + "/tokenizer.json"));
  ATOM_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/tokenizer_config.json", O200kHarmonyTokenizerConfig()));
  return WriteFileAtomically(dir + "/special_tokens_map.json", kO200kHarmonySpecialTokensMap);
}

}  // namespace atom
