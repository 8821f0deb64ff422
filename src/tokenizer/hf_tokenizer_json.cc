#include "tokenizer/hf_tokenizer_json.h"

#include <array>
#include <map>
#include <nlohmann/json.hpp>

#include "tokenizer/json_reader.h"
#include "tokenizer/utf8.h"

namespace atom::tokenizer_internal {
namespace {

using Json = nlohmann::json;
// Ids above this are rejected rather than allocated for.
constexpr int64_t kMaxId = 1 << 24;

// GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others for U+0100...
// This is the inverse: code point -> byte, or -1.
std::array<int16_t, 324> MakeUnicodeToByte() {
  std::array<int16_t, 324> table;
  table.fill(-1);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[printable ? b : next++] = static_cast<int16_t>(b);
  }
  return table;
}

// A byte-level vocabulary string -> the token's bytes; false if a character is outside the
// byte-level alphabet.
bool ByteLevelDecode(std::string_view s, std::string* out) {
  static const std::array<int16_t, 324> kUnicodeToByte = MakeUnicodeToByte();
  out->clear();
  for (size_t i = 0; i < s.size();) {
    const Utf8Step step = NextUtf8(s, i);
    if (step.kind != Utf8Kind::kValid) return false;
    uint32_t cp = static_cast<uint8_t>(s[i]);
    if (step.length == 2) cp = ((cp & 0x1F) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3F);
    if (step.length > 2 || cp >= kUnicodeToByte.size() || kUnicodeToByte[cp] < 0) return false;
    out->push_back(static_cast<char>(kUnicodeToByte[cp]));
    i += step.length;
  }
  return true;
}

std::string Shorten(const Json& j) {
  std::string s = j.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

Status Field(const std::string& path, std::string_view field, std::string_view what) {
  return InvalidArgument("{}: {}: {}", path, field, what);
}

bool IsNullOr(const Json& j, std::string_view key, const Json& allowed) {
  return !j.contains(key) || j[key].is_null() || j[key] == allowed;
}

// pre_tokenizer: Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)] -> the regex.
Status ReadPreTokenizer(const Json& pre, const std::string& path, std::string* pattern) {
  const auto unsupported = [&](std::string_view field, std::string_view what) {
    return Field(path, field, fmt::format("{} (got {})", what, Shorten(pre)));
  };
  if (!pre.is_object() || pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers") ||
      !pre["pretokenizers"].is_array() || pre["pretokenizers"].size() != 2) {
    return unsupported("pre_tokenizer",
                       "only Sequence[Split(Regex), ByteLevel(use_regex=false)] is supported");
  }
  const Json& split = pre["pretokenizers"][0];
  const Json& byte_level = pre["pretokenizers"][1];
  if (!split.is_object() || split.value("type", "") != "Split" || !split.contains("pattern") ||
      !split["pattern"].is_object() || !split["pattern"].contains("Regex") ||
      !split["pattern"]["Regex"].is_string()) {
    return unsupported("pre_tokenizer.pretokenizers[0]", "expected a Split with a Regex pattern");
  }
  if (split.value("behavior", "") != "Isolated" || split.value("invert", true) != false) {
    return unsupported("pre_tokenizer.pretokenizers[0]",
                       "only behavior \"Isolated\" with invert false is supported");
  }
  if (!byte_level.is_object() || byte_level.value("type", "") != "ByteLevel" ||
      byte_level.value("use_regex", true) != false ||
      byte_level.value("add_prefix_space", true) != false) {
    return unsupported("pre_tokenizer.pretokenizers[1]",
                       "expected ByteLevel with use_regex false and add_prefix_space false");
  }
  *pattern = split["pattern"]["Regex"].get<std::string>();
  return OkStatus();
}

// The small members of "model" (everything but vocab and merges).
Status ReadModelOptions(const Json& model, const std::string& path, BpeSpec* spec) {
  if (model.value("type", "") != "BPE") {
    return Field(path, "model.type", "only \"BPE\" is supported");
  }
  if (!IsNullOr(model, "dropout", 0.0)) {
    return Field(path, "model.dropout", "BPE dropout is not supported");
  }
  if (model.contains("byte_fallback") && model["byte_fallback"] != false) {
    return Field(path, "model.byte_fallback", "byte_fallback is not supported (byte-level only)");
  }
  if (!IsNullOr(model, "continuing_subword_prefix", "")) {
    return Field(path, "model.continuing_subword_prefix", "not supported");
  }
  if (!IsNullOr(model, "end_of_word_suffix", "")) {
    return Field(path, "model.end_of_word_suffix", "not supported");
  }
  // unk_token would only matter for a byte with no token, which Create() rejects.
  if (model.contains("ignore_merges") && !model["ignore_merges"].is_boolean()) {
    return Field(path, "model.ignore_merges", "expected true or false");
  }
  spec->whole_piece_lookup = model.value("ignore_merges", false);
  return OkStatus();
}

using Spans = std::map<std::string, std::pair<size_t, size_t>, std::less<>>;

// Reads an object's members as raw spans (values are only bracket-matched, not checked);
// `whole`: the object must be the entire text.
Status ReadMemberSpans(JsonReader& r, bool whole, Spans* out) {
  ATOM_RETURN_IF_ERROR(r.BeginObject());
  std::string key;
  for (size_t i = 0;; ++i) {
    ATOM_ASSIGN_OR_RETURN(const bool more, r.NextKey(i, &key));
    if (!more) break;
    ATOM_ASSIGN_OR_RETURN(const auto span, r.SkipValue());
    if (!out->emplace(key, span).second) return r.Error(fmt::format("duplicate key {:?}", key));
  }
  if (whole && !r.AtEnd()) return r.Error("text after the top-level object");
  return OkStatus();
}

// model.vocab: {"<byte-level string>": id, ...}. Errors are "line N: ..." or name the entry.
Status ReadVocab(JsonReader& r, BpeSpec* spec) {
  ATOM_RETURN_IF_ERROR(r.BeginObject());
  std::string key, bytes;
  std::vector<uint8_t> seen;
  spec->table.Reserve(1 << 18, 2 << 20);
  for (size_t i = 0;; ++i) {
    ATOM_ASSIGN_OR_RETURN(const bool more, r.NextKey(i, &key));
    if (!more) break;
    int64_t id;
    ATOM_RETURN_IF_ERROR(r.ReadInt(&id));
    if (id < 0 || id >= kMaxId)
      return r.Error(fmt::format("{:?} has id {}, out of range", key, id));
    if (!ByteLevelDecode(key, &bytes) || bytes.empty()) {
      return r.Error(fmt::format("{:?} is not a byte-level (GPT-2 bytes_to_unicode) string", key));
    }
    if (static_cast<size_t>(id) >= seen.size()) seen.resize(id + 1, 0);
    if (seen[id]) return r.Error(fmt::format("id {} appears twice", id));
    seen[id] = 1;
    spec->table.Set(static_cast<int32_t>(id), bytes);
    spec->ordinary.push_back(static_cast<int32_t>(id));
  }
  return OkStatus();
}

// One merge rule: ["a", "b"] or (older files) "a b".
Status ReadMergePair(JsonReader& r, std::string* a, std::string* b) {
  if (r.Peek() != '[') {
    ATOM_RETURN_IF_ERROR(r.ReadString(a));
    const size_t space = a->find(' ');
    if (space == std::string::npos || a->find(' ', space + 1) != std::string::npos) {
      return r.Error(fmt::format("{:?} is not \"left right\"", *a));
    }
    *b = a->substr(space + 1);
    a->resize(space);
    return OkStatus();
  }
  ATOM_RETURN_IF_ERROR(r.BeginArray());
  for (size_t k = 0; k < 3; ++k) {
    ATOM_ASSIGN_OR_RETURN(const bool more, r.NextElement(k));
    if (more != (k < 2)) return r.Error("expected a pair of strings");
    if (more) ATOM_RETURN_IF_ERROR(r.ReadString(k == 0 ? a : b));
  }
  return OkStatus();
}

// model.merges, in rank order. REQUIRES: the vocabulary is read.
Status ReadMerges(JsonReader& r, const std::string& path, BpeSpec* spec) {
  BytesToIdMap ids;
  const int32_t duplicate = ids.Build(spec->table, spec->ordinary);
  if (duplicate != BytesToIdMap::kNone) {
    return Field(path, "model.vocab",
                 fmt::format("token {} has the same bytes as token {}", duplicate,
                             ids.Find(spec->table.Get(duplicate))));
  }
  ATOM_RETURN_IF_ERROR(r.BeginArray().WithContext(fmt::format("{}: model.merges", path)));
  std::string a, b, a_bytes, b_bytes;
  for (size_t i = 0;; ++i) {
    const auto field = [i] { return fmt::format("model.merges[{}]", i); };  // errors only
    StatusOr<bool> more = r.NextElement(i);
    if (!more.ok()) return Field(path, field(), more.status().message());
    if (!*more) break;
    if (Status s = ReadMergePair(r, &a, &b); !s.ok()) return Field(path, field(), s.message());
    if (!ByteLevelDecode(a, &a_bytes) || !ByteLevelDecode(b, &b_bytes)) {
      return Field(path, field(), "not byte-level strings");
    }
    BpeMerge merge{ids.Find(a_bytes), ids.Find(b_bytes), -1};
    if (merge.left < 0 || merge.right < 0) {
      return Field(path, field(), fmt::format("{:?} or {:?} is not in model.vocab", a, b));
    }
    a_bytes += b_bytes;
    merge.result = ids.Find(a_bytes);
    if (merge.result < 0) {
      return Field(path, field(), fmt::format("{:?} + {:?} is not in model.vocab", a, b));
    }
    spec->merges.push_back(merge);
  }
  spec->use_merges = true;
  return OkStatus();
}

// added_tokens: the special tokens. One that model.vocab also lists (same id, same text) stops
// being an ordinary token.
Status ReadAddedTokens(const Json& tokens, const std::string& path, BpeSpec* spec) {
  if (tokens.is_null()) return OkStatus();
  if (!tokens.is_array()) return Field(path, "added_tokens", "expected an array");
  std::vector<bool> drop_ordinary;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Json& t = tokens[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string()) {
      return Field(path, field, "expected {\"id\": int, \"content\": string, ...}");
    }
    const int64_t id = t["id"].get<int64_t>();
    const std::string content = t["content"].get<std::string>();
    if (id < 0 || id >= kMaxId) {
      return Field(path, field + ".id", fmt::format("{} is out of range", id));
    }
    if (t.value("special", false) != true) {
      return Field(path, field + ".special",
                   fmt::format("{:?}: only special added tokens are supported", content));
    }
    for (const char* flag : {"single_word", "lstrip", "rstrip"}) {
      if (t.value(flag, false) != false) {
        return Field(path, field + "." + flag,
                     fmt::format("{:?}: only false is supported", content));
      }
    }
    const auto id32 = static_cast<int32_t>(id);
    if (id32 < spec->table.size() && spec->table.Has(id32)) {
      if (spec->table.Get(id32) != content) {
        return Field(path, field,
                     fmt::format("{:?} has id {}, which model.vocab gives to {:?}", content, id,
                                 spec->table.Get(id32)));
      }
      drop_ordinary.resize(spec->table.size(), false);
      drop_ordinary[id32] = true;
      spec->table.Set(id32, "");
    }
    spec->specials.push_back({content, id32});
  }
  if (drop_ordinary.empty()) return OkStatus();
  // Ordinary encoding must never produce a special id.
  for (size_t i = 0; i < spec->merges.size(); ++i) {
    const BpeMerge& m = spec->merges[i];
    for (int32_t id : {m.left, m.right, m.result}) {
      if (id < static_cast<int32_t>(drop_ordinary.size()) && drop_ordinary[id]) {
        return Field(path, fmt::format("model.merges[{}]", i),
                     fmt::format("uses the special token {}", id));
      }
    }
  }
  std::erase_if(spec->ordinary, [&](int32_t id) { return drop_ordinary[id]; });
  return OkStatus();
}

}  // namespace

Status ParseHfTokenizerJson(std::string_view contents, const std::string& path, BpeSpec* spec) {
  // The top level and "model" as raw spans; the two big arrays are then read by JsonReader, the
  // small members by nlohmann.
  Spans members, model_members;
  JsonReader top(contents);
  if (Status s = ReadMemberSpans(top, /*whole=*/true, &members); !s.ok()) {
    return Field(path, "not valid JSON", s.message());
  }
  const auto parse_member = [&](const Spans& spans, const std::string& prefix, std::string_view key,
                                Json* out) -> Status {
    const auto it = spans.find(key);
    *out = nullptr;
    if (it == spans.end()) return OkStatus();
    *out = Json::parse(contents.substr(it->second.first, it->second.second - it->second.first),
                       nullptr, /*allow_exceptions=*/false);
    if (out->is_discarded()) return Field(path, prefix + std::string(key), "not valid JSON");
    return OkStatus();
  };

  Json j;
  for (const auto& [key, span] : members) {
    if (key != "model") ATOM_RETURN_IF_ERROR(parse_member(members, "", key, &j));
  }
  for (const char* key : {"normalizer", "truncation", "padding"}) {
    ATOM_RETURN_IF_ERROR(parse_member(members, "", key, &j));
    if (!j.is_null()) {
      return Field(path, key, fmt::format("only null is supported (got {})", Shorten(j)));
    }
  }
  for (const char* key : {"post_processor", "decoder"}) {
    // ByteLevel here only affects offsets and the text view of byte-level strings.
    ATOM_RETURN_IF_ERROR(parse_member(members, "", key, &j));
    if (!j.is_null() && !(j.is_object() && j.value("type", "") == "ByteLevel")) {
      return Field(path, key,
                   fmt::format("only null or ByteLevel is supported (got {})", Shorten(j)));
    }
  }
  ATOM_RETURN_IF_ERROR(parse_member(members, "", "pre_tokenizer", &j));
  ATOM_RETURN_IF_ERROR(ReadPreTokenizer(j, path, &spec->pattern));

  const auto model = members.find("model");
  if (model == members.end()) return Field(path, "model", "missing");
  JsonReader model_reader(contents, model->second.first, model->second.second);
  if (Status s = ReadMemberSpans(model_reader, /*whole=*/false, &model_members); !s.ok()) {
    return Field(path, "model", s.message());
  }
  Json options = Json::object();
  for (const auto& [key, span] : model_members) {
    if (key == "vocab" || key == "merges") continue;
    ATOM_RETURN_IF_ERROR(parse_member(model_members, "model.", key, &options[key]));
  }
  ATOM_RETURN_IF_ERROR(ReadModelOptions(options, path, spec));

  for (const char* key : {"vocab", "merges"}) {
    const auto it = model_members.find(key);
    if (it == model_members.end()) return Field(path, std::string("model.") + key, "missing");
    JsonReader r(contents, it->second.first, it->second.second);
    if (key == std::string_view("vocab")) {
      if (Status s = ReadVocab(r, spec); !s.ok()) return Field(path, "model.vocab", s.message());
    } else {
      ATOM_RETURN_IF_ERROR(ReadMerges(r, path, spec));
    }
  }
  ATOM_RETURN_IF_ERROR(parse_member(members, "", "added_tokens", &j));
  return ReadAddedTokens(j, path, spec);
}

}  // namespace atom::tokenizer_internal
