// The Tokenizer factories, IncrementalDetokenizer and Utf8Sanitize.
#include "tokenizer/tokenizer.h"

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/o200k.h"
#include "core/files.h"
#include "tokenizer/tiktoken_file.h"
#include "tokenizer/utf8.h"

namespace atom {

using tokenizer_internal::BpeSpec;
using tokenizer_internal::BpeTokenizer;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromTiktoken(const std::string& ranks_path,
                                                             const std::string& pattern,
                                                             std::vector<SpecialToken> specials) {
  ATOM_ASSIGN_OR_RETURN(std::string contents, ReadFile(ranks_path));
  BpeSpec spec;
  spec.source = ranks_path;
  ATOM_RETURN_IF_ERROR(tokenizer_internal::ParseTiktokenRanks(contents, ranks_path, &spec));
  spec.pattern = pattern;
  spec.specials = std::move(specials);
  return BpeTokenizer::Create(std::move(spec));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::O200kHarmony(const std::string& ranks_path) {
  return FromTiktoken(ranks_path, std::string(tokenizer_internal::kO200kPattern),
                      tokenizer_internal::O200kHarmonySpecials());
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHfJson(const std::string& path) {
  ATOM_ASSIGN_OR_RETURN(std::string contents, ReadFile(path));
  BpeSpec spec;
  spec.source = path;
  ATOM_RETURN_IF_ERROR(tokenizer_internal::ParseHfTokenizerJson(contents, path, &spec));
  return BpeTokenizer::Create(std::move(spec));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromModelDir(const std::string& dir) {
  return FromHfJson(dir + "/tokenizer.json");
}

namespace {

// Appends `bytes` to `out` with ill-formed sequences replaced; with `keep_truncated_tail`, a
// final incomplete (but still completable) sequence is not written and its length returned.
size_t AppendSanitized(std::string_view bytes, bool keep_truncated_tail, std::string* out) {
  using tokenizer_internal::NextUtf8;
  using tokenizer_internal::Utf8Kind;
  size_t i = 0;
  while (i < bytes.size()) {
    // Runs of ASCII are the common case.
    size_t j = i;
    while (j < bytes.size() && static_cast<uint8_t>(bytes[j]) < 0x80) ++j;
    out->append(bytes.substr(i, j - i));
    i = j;
    if (i == bytes.size()) break;
    const tokenizer_internal::Utf8Step step = NextUtf8(bytes, i);
    switch (step.kind) {
      case Utf8Kind::kValid:
        out->append(bytes.substr(i, step.length));
        break;
      case Utf8Kind::kInvalid:
        out->append(tokenizer_internal::kReplacementChar);
        break;
      case Utf8Kind::kTruncated:
        if (keep_truncated_tail) return bytes.size() - i;
        out->append(tokenizer_internal::kReplacementChar);
        break;
    }
    i += step.length;
  }
  return 0;
}

}  // namespace

std::string Utf8Sanitize(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  AppendSanitized(bytes, /*keep_truncated_tail=*/false, &out);
  return out;
}

StatusOr<std::string> IncrementalDetokenizer::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size() || tokenizer_.TokenBytes(id).empty()) {
    return InvalidArgument("token id {} is not in the vocabulary (size {})", id,
                           tokenizer_.vocab_size());
  }
  pending_.append(tokenizer_.TokenBytes(id));
  std::string text;
  const size_t kept = AppendSanitized(pending_, /*keep_truncated_tail=*/true, &text);
  pending_.erase(0, pending_.size() - kept);
  return text;
}

std::string IncrementalDetokenizer::Flush() {
  std::string text = Utf8Sanitize(pending_);
  pending_.clear();
  return text;
}

}  // namespace atom
