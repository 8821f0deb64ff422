// libFuzzer target: for any bytes, decode(encode(bytes)) == bytes, through both Encode and
// EncodeWithSpecial; Encode never yields a special id; streaming the ids through an
// IncrementalDetokenizer gives exactly Utf8Sanitize(bytes); and the o200k pre-tokenizer's ASCII
// scanner splits exactly as PCRE2 alone does. Aborts on any mismatch.
//
// The o200k ranks file comes from $ATOM_TOKENIZER_RANKS, else the path baked in at build time.
//   build/fuzz/tools/fuzz/tokenizer_roundtrip_fuzz -max_total_time=180 CORPUS_DIR
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/o200k.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

using atom::tokenizer_internal::Pretokenizer;

std::unique_ptr<atom::Tokenizer> g_tokenizer;
std::unique_ptr<Pretokenizer> g_fast_split, g_pcre_split;

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "tokenizer_roundtrip_fuzz: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("ATOM_TOKENIZER_RANKS");
  const std::string path = env != nullptr ? env : ATOM_TOKENIZER_RANKS_DEFAULT;
  auto t = atom::Tokenizer::O200kHarmony(path);
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer_roundtrip_fuzz: %s\n", t.status().ToString().c_str());
    std::abort();
  }
  g_tokenizer = std::move(t).value();
  const std::string pattern(atom::tokenizer_internal::kO200kPattern);
  auto fast = Pretokenizer::Create(pattern);
  auto pcre = Pretokenizer::Create(pattern, /*allow_fast_path=*/false);
  if (!fast.ok() || !pcre.ok()) std::abort();
  g_fast_split = std::make_unique<Pretokenizer>(std::move(fast).value());
  g_pcre_split = std::make_unique<Pretokenizer>(std::move(pcre).value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const atom::Tokenizer& t = *g_tokenizer;

  if (g_fast_split->Split(input) != g_pcre_split->Split(input)) {
    Fail("the ASCII scanner split differently from PCRE2", input);
  }

  const std::vector<int32_t> ids = t.Encode(input);
  for (int32_t id : ids) {
    if (id < 0 || id >= t.vocab_size() || t.IsSpecial(id)) Fail("Encode gave a special id", input);
  }
  atom::StatusOr<std::string> decoded = t.Decode(ids);
  if (!decoded.ok() || *decoded != input) Fail("decode(Encode(x)) != x", input);

  atom::StatusOr<std::string> with_special = t.Decode(t.EncodeWithSpecial(input));
  if (!with_special.ok() || *with_special != input)
    Fail("decode(EncodeWithSpecial(x)) != x", input);

  atom::IncrementalDetokenizer stream(t);
  std::string text;
  for (int32_t id : ids) {
    atom::StatusOr<std::string> piece = stream.Push(id);
    if (!piece.ok()) Fail("IncrementalDetokenizer rejected an id", input);
    text += *piece;
  }
  text += stream.Flush();
  if (text != atom::Utf8Sanitize(input)) Fail("streamed text != Utf8Sanitize(x)", input);
  return 0;
}
