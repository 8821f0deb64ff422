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

}  // namespace

Status ParseHfTokenizerJson(std::string_view contents, const std::string& path, BpeSpec* spec) {
  // Pass 1: the top level and "model", remembering where each member's value is.
  JsonReader top(contents);
  std::map<std::string, std::pair<size_t, size_t>, std::less<>> members, model_members;
  const auto read_object =
      [&](JsonReader& r, std::string_view name,
          std::map<std::string, std::pair<size_t, size_t>, std::less<>>* out) -> Status {
    std::string key;
    Status s = r.BeginObject();
    for (size_t i = 0; s.ok(); ++i) {
      StatusOr<bool> more = r.NextKey(i, &key);
      if (!more.ok()) return more.status();
      if (!*more) break;
      StatusOr<std::pair<size_t, size_t>> span = r.SkipValue();
      if (!span.ok()) return span.status();
      if (!out->emplace(key, *span).second) return r.Error(fmt::format("duplicate key {:?}", key));
    }
    if (s.ok() && name.empty() && !r.AtEnd()) s = r.Error("text after the top-level object");
    return s;
  };
  const auto context = [&](std::string_view field) {
    return fmt::format("{}: {}", path, field.empty() ? "not valid JSON" : field);
  };
  ATOM_RETURN_IF_ERROR(read_object(top, "", &members).WithContext(context("")));
  const auto parse_small = [&](std::string_view key, Json* out) -> Status {
    const auto it = members.find(key);
    if (it == members.end()) {
      *out = nullptr;
      return OkStatus();
    }
    *out = Json::parse(contents.substr(it->second.first, it->second.second - it->second.first),
                       nullptr, /*allow_exceptions=*/false);
    if (out->is_discarded()) return Field(path, key, "not valid JSON");
    return OkStatus();
  };

  Json j;
  for (const char* key : {"normalizer", "truncation", "padding"}) {
    ATOM_RETURN_IF_ERROR(parse_small(key, &j));
    if (!j.is_null())
      return Field(path, key, fmt::format("only null is supported (got {})", Shorten(j)));
  }
  for (const char* key : {"post_processor", "decoder"}) {
    // ByteLevel here only affects offsets and the text view of byte-level strings.
    ATOM_RETURN_IF_ERROR(parse_small(key, &j));
    if (!j.is_null() && !(j.is_object() && j.value("type", "") == "ByteLevel")) {
      return Field(path, key,
                   fmt::format("only null or ByteLevel is supported (got {})", Shorten(j)));
    }
  }
  ATOM_RETURN_IF_ERROR(parse_small("pre_tokenizer", &j));
  ATOM_RETURN_IF_ERROR(ReadPreTokenizer(j, path, &spec->pattern));

  const auto model_it = members.find("model");
  if (model_it == members.end()) return Field(path, "model", "missing");
  JsonReader model_reader(contents, model_it->second.first, model_it->second.second);
  ATOM_RETURN_IF_ERROR(
      read_object(model_reader, "model", &model_members).WithContext(context("model")));
  Json options = Json::object();
  for (const auto& [key, span] : model_members) {
    if (key == "vocab" || key == "merges") continue;
    options[key] =
        Json::parse(contents.substr(span.first, span.second - span.first), nullptr, false);
    if (options[key].is_discarded()) return Field(path, "model." + key, "not valid JSON");
  }
  ATOM_RETURN_IF_ERROR(ReadModelOptions(options, path, spec));

  // model.vocab: byte-level string -> id.
  const auto vocab_it = model_members.find("vocab");
  if (vocab_it == model_members.end()) return Field(path, "model.vocab", "missing");
  {
    JsonReader r(contents, vocab_it->second.first, vocab_it->second.second);
    Status s = r.BeginObject();
    std::string key, bytes;
    std::vector<uint8_t> seen;
    spec->table.Reserve(1 << 18, 2 << 20);
    for (size_t i = 0; s.ok(); ++i) {
      StatusOr<bool> more = r.NextKey(i, &key);
      if (!more.ok()) return more.status().WithContext(context("model.vocab"));
      if (!*more) break;
      int64_t id;
      if (Status st = r.ReadInt(&id); !st.ok()) return st.WithContext(context("model.vocab"));
      if (id < 0 || id >= kMaxId) {
        return Field(path, "model.vocab", fmt::format("{:?} has id {}, out of range", key, id));
      }
      if (!ByteLevelDecode(key, &bytes) || bytes.empty()) {
        return Field(path, "model.vocab",
                     fmt::format("{:?} is not a byte-level (GPT-2 bytes_to_unicode) string", key));
      }
      if (static_cast<size_t>(id) >= seen.size()) seen.resize(id + 1, 0);
      if (seen[id]) return Field(path, "model.vocab", fmt::format("id {} appears twice", id));
      seen[id] = 1;
      spec->table.Set(static_cast<int32_t>(id), bytes);
      spec->ordinary.push_back(static_cast<int32_t>(id));
    }
    ATOM_RETURN_IF_ERROR(s.WithContext(context("model.vocab")));
  }

  // model.merges: [["a", "b"], ...] (or "a b" in older files); index = rank.
  const auto merges_it = model_members.find("merges");
  if (merges_it == model_members.end()) return Field(path, "model.merges", "missing");
  {
    BytesToIdMap ids;
    const int32_t duplicate = ids.Build(spec->table, spec->ordinary);
    if (duplicate != BytesToIdMap::kNone) {
      return Field(path, "model.vocab",
                   fmt::format("token {} has the same bytes as token {}", duplicate,
                               ids.Find(spec->table.Get(duplicate))));
    }
    JsonReader r(contents, merges_it->second.first, merges_it->second.second);
    ATOM_RETURN_IF_ERROR(r.BeginArray().WithContext(context("model.merges")));
    std::string a, b, a_bytes, b_bytes;
    for (size_t i = 0;; ++i) {
      const auto field = [i] { return fmt::format("model.merges[{}]", i); };  // for errors only
      StatusOr<bool> more = r.NextElement(i);
      if (!more.ok()) return more.status().WithContext(context(field()));
      if (!*more) break;
      if (r.Peek() == '[') {
        if (Status st = r.BeginArray(); !st.ok()) return st.WithContext(context(field()));
        for (size_t k = 0; k < 2; ++k) {
          StatusOr<bool> has = r.NextElement(k);
          if (!has.ok() || !*has) return Field(path, field(), "expected a pair of strings");
          if (Status st = r.ReadString(k == 0 ? &a : &b); !st.ok()) {
            return st.WithContext(context(field()));
          }
        }
        StatusOr<bool> extra = r.NextElement(2);
        if (!extra.ok() || *extra) return Field(path, field(), "expected a pair of strings");
      } else {
        if (Status st = r.ReadString(&a); !st.ok()) return st.WithContext(context(field()));
        const size_t space = a.find(' ');
        if (space == std::string::npos || a.find(' ', space + 1) != std::string::npos) {
          return Field(path, field(), fmt::format("{:?} is not \"left right\"", a));
        }
        b = a.substr(space + 1);
        a.resize(space);
      }
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
  }

  // added_tokens: the special tokens.
  ATOM_RETURN_IF_ERROR(parse_small("added_tokens", &j));
  if (!j.is_null() && !j.is_array()) return Field(path, "added_tokens", "expected an array");
  std::vector<bool> drop_ordinary;
  for (size_t i = 0; j.is_array() && i < j.size(); ++i) {
    const Json& t = j[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string()) {
      return Field(path, field, "expected {\"id\": int, \"content\": string, ...}");
    }
    const int64_t id = t["id"].get<int64_t>();
    const std::string content = t["content"].get<std::string>();
    if (id < 0 || id >= kMaxId)
      return Field(path, field + ".id", fmt::format("{} is out of range", id));
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
    // A special token may also be listed in the vocabulary under its id; it is then only special.
    if (id < spec->table.size() && spec->table.Has(static_cast<int32_t>(id))) {
      if (spec->table.Get(static_cast<int32_t>(id)) != content) {
        return Field(path, field,
                     fmt::format("{:?} has id {}, which model.vocab gives to {:?}", content, id,
                                 spec->table.Get(static_cast<int32_t>(id))));
      }
      drop_ordinary.resize(spec->table.size(), false);
      drop_ordinary[id] = true;
      spec->table.Set(static_cast<int32_t>(id), "");
    }
    spec->specials.push_back({content, static_cast<int32_t>(id)});
  }
  if (!drop_ordinary.empty()) {
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
  }
  return OkStatus();
}

}  // namespace atom::tokenizer_internal
