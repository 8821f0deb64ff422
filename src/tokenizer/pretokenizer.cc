#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "tokenizer/o200k.h"
#include "tokenizer/o200k_ascii_scan.h"
#include "tokenizer/utf8.h"

namespace atom::tokenizer_internal {

struct Pretokenizer::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match state: one match_data serves every pattern (the pieces need only the whole
// match), and a large JIT stack is made only when a match overflows the default one.
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* big_stack = nullptr;
  pcre2_match_context* big_context = nullptr;

  ~ThreadMatchState() {
    pcre2_match_context_free(big_context);
    pcre2_jit_stack_free(big_stack);
    pcre2_match_data_free(data);
  }
  pcre2_match_context* BigContext() {
    if (big_context == nullptr) {
      big_stack = pcre2_jit_stack_create(64 << 10, 64 << 20, nullptr);
      big_context = pcre2_match_context_create(nullptr);
      pcre2_jit_stack_assign(big_context, nullptr, big_stack);
    }
    return big_context;
  }
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

Pretokenizer::Pretokenizer(std::string pattern, std::unique_ptr<Code> code, bool o200k_ascii)
    : pattern_(std::move(pattern)), code_(std::move(code)), o200k_ascii_(o200k_ascii) {}
Pretokenizer::Pretokenizer(Pretokenizer&&) noexcept = default;
Pretokenizer& Pretokenizer::operator=(Pretokenizer&&) noexcept = default;
Pretokenizer::~Pretokenizer() = default;

StatusOr<Pretokenizer> Pretokenizer::Create(const std::string& pattern, bool allow_fast_path) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return InvalidArgument("pre-tokenizer regex: {} at offset {}",
                           reinterpret_cast<const char*>(message), offset);
  }
  auto holder = std::make_unique<Code>();
  holder->code = code;
  // Without JIT (unsupported CPU) the interpreter gives the same matches, only slower.
  holder->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  const bool o200k_ascii = allow_fast_path && pattern == kO200kPattern;
  return Pretokenizer(pattern, std::move(holder), o200k_ascii);
}

bool Pretokenizer::NextMatch(std::string_view text, size_t pos, size_t* begin, size_t* end) const {
  if (o200k_ascii_) {
    const size_t ascii_end = MatchO200kAscii(text, pos);
    if (ascii_end > pos) {
      *begin = pos;
      *end = ascii_end;
      return true;
    }
  }
  ThreadMatchState& state = MatchState();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), pos, PCRE2_NOTEMPTY,
                                        state.data, nullptr)
                      : pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NOTEMPTY,
                                    state.data, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_jit_match(code_->code, subject, text.size(), pos, PCRE2_NOTEMPTY, state.data,
                         state.BigContext());
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
  if (rc < 0 || ovector[0] < pos || ovector[1] <= ovector[0] || ovector[1] > text.size()) {
    // A resource limit (or a match that would not advance): keep going one character at a
    // time so that no input is lost.
    const Utf8Step step = NextUtf8(text, pos);
    *begin = pos;
    *end = pos + (step.kind == Utf8Kind::kValid ? step.length : 1);
    return true;
  }
  *begin = ovector[0];
  *end = ovector[1];
  return true;
}

std::vector<std::string_view> Pretokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  ForEachPiece(text, [&](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

}  // namespace atom::tokenizer_internal
