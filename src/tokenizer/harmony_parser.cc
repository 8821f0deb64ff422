#include "tokenizer/harmony_parser.h"

#include <utility>

namespace atom {
namespace {

constexpr std::string_view kChannelMarker = "<|channel|>";
constexpr std::string_view kConstrainMarker = "<|constrain|>";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Byte length of the Unicode White_Space character at s[i] (as Rust's char::is_whitespace), or 0.
size_t WhitespaceLen(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  unsigned char c = b(0);
  if ((c >= 0x09 && c <= 0x0D) || c == 0x20) return 1;
  if (c == 0xC2 && (b(1) == 0x85 || b(1) == 0xA0)) return 2;
  if (c == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;  // U+1680
  if (c == 0xE2 && b(1) == 0x80 &&
      (b(2) <= 0x8A || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF) && b(2) >= 0x80) {
    return 3;  // U+2000..U+200A, U+2028, U+2029, U+202F
  }
  if (c == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;  // U+205F
  if (c == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;  // U+3000
  return 0;
}

// `s` without leading and trailing Unicode whitespace.
std::string_view Trim(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t n = WhitespaceLen(s, begin);
    if (n == 0) break;
    begin += n;
  }
  size_t end = begin;  // one past the last non-whitespace character
  for (size_t i = begin; i < s.size();) {
    size_t n = WhitespaceLen(s, i);
    if (n == 0) {
      ++i;
      end = i;
    } else {
      i += n;
    }
  }
  return s.substr(begin, end - begin);
}

bool IsAsciiWhitespace(char c) {  // Rust's u8::is_ascii_whitespace (no \v)
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

std::vector<std::string_view> SplitAsciiWhitespace(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsAsciiWhitespace(s[i])) ++i;
    size_t begin = i;
    while (i < s.size() && !IsAsciiWhitespace(s[i])) ++i;
    if (i > begin) parts.push_back(s.substr(begin, i - begin));
  }
  return parts;
}

std::optional<HarmonyRole> RoleFromName(std::string_view name) {
  for (HarmonyRole r : {HarmonyRole::kSystem, HarmonyRole::kDeveloper, HarmonyRole::kUser,
                        HarmonyRole::kAssistant, HarmonyRole::kTool}) {
    if (name == HarmonyRoleName(r)) return r;
  }
  return std::nullopt;
}

std::string_view StripTo(std::string_view part) {
  return part.starts_with("to=") ? part.substr(3) : part;
}

// Cuts "<|channel|>VALUE" out of `*text` (VALUE ends at whitespace or '<') and returns VALUE, or
// nullopt when there is no marker.
std::optional<std::string> CutChannel(std::string* text) {
  size_t idx = text->find(kChannelMarker);
  if (idx == std::string::npos) return std::nullopt;
  size_t begin = idx + kChannelMarker.size();
  size_t end = begin;
  while (end < text->size() && (*text)[end] != '<' && WhitespaceLen(*text, end) == 0) ++end;
  std::string value = text->substr(begin, end - begin);
  text->erase(idx, end - idx);
  return value;
}

// A header that never got its <|message|>: channel and role as far as they can be read, and the
// rest of the text as content.
HarmonyMessage SalvageHeaderText(std::string text, std::optional<HarmonyRole> known_role) {
  HarmonyMessage m;
  m.channel = CutChannel(&text).value_or("");
  std::string_view rest = Trim(text);
  auto first_word = [&] {
    size_t n = 0;
    while (n < rest.size() && !IsAsciiWhitespace(rest[n])) ++n;
    return rest.substr(0, n);
  };
  if (known_role) {
    m.role = *known_role;
  } else if (auto role = RoleFromName(first_word())) {
    m.role = *role;
  } else {
    m.role = HarmonyRole::kAssistant;
  }
  if (first_word() == HarmonyRoleName(m.role)) rest = Trim(rest.substr(first_word().size()));
  m.content = std::string(rest);
  return m;
}

bool IsBlank(std::string_view s) { return Trim(s).empty(); }

// No special token text and no "to=" word: not the beginning of a header.
bool LooksLikePlainText(std::string_view s) {
  if (s.find("<|") != std::string_view::npos) return false;
  for (std::string_view part : SplitAsciiWhitespace(s)) {
    if (part.starts_with("to=")) return false;
  }
  return true;
}

void Emit(std::vector<HarmonyEvent>* events, HarmonyEvent event) {
  if (events != nullptr) events->push_back(std::move(event));
}

}  // namespace

const char* HarmonyTerminatorName(HarmonyTerminator t) {
  switch (t) {
    case HarmonyTerminator::kNone: return "none";
    case HarmonyTerminator::kEnd: return "end";
    case HarmonyTerminator::kReturn: return "return";
    case HarmonyTerminator::kCall: return "call";
    case HarmonyTerminator::kNewMessage: return "new_message";
    case HarmonyTerminator::kEndOfText: return "endoftext";
    case HarmonyTerminator::kTruncated: return "truncated";
  }
  return "?";
}

HarmonyParsedHeader ParseHarmonyHeader(std::string_view text,
                                       std::optional<HarmonyRole> known_role) {
  HarmonyParsedHeader out;
  auto note = [&](std::string message) {
    if (out.status.ok()) out.status = Status(StatusCode::kInvalidArgument, std::move(message));
  };
  HarmonyMessage& h = out.header;

  std::string s(text);
  if (std::optional<std::string> channel = CutChannel(&s)) {
    if (channel->empty()) note("channel marker present but no channel value found in header");
    h.channel = std::move(*channel);
  }
  s = std::string(Trim(s));
  // "to=x<|constrain|>json" -> "to=x <|constrain|>json".
  if (s.find(kConstrainMarker) != std::string::npos) {
    std::string spaced;
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, kConstrainMarker.size(), kConstrainMarker) == 0) {
        spaced += ' ';
        spaced += kConstrainMarker;
        i += kConstrainMarker.size();
      } else {
        spaced += s[i++];
      }
    }
    s = std::string(Trim(spaced));
  }
  std::vector<std::string_view> parts = SplitAsciiWhitespace(s);

  size_t first = 0;  // parts before `first` are consumed
  if (known_role) {
    h.role = *known_role;
  } else if (parts.empty()) {
    note("message header did not contain a role");
    h.role = HarmonyRole::kAssistant;
  } else if (std::optional<HarmonyRole> role = RoleFromName(parts[0])) {
    h.role = *role;
    if (h.role == HarmonyRole::kTool) h.author_name = std::string(parts[0]);
  } else {
    // An unknown first word names the tool that wrote the message ("functions.x to=assistant").
    if (parts.size() == 1 && !parts[0].starts_with("to=")) {
      note(fmt::format("Unknown role: {}", parts[0]));
    }
    h.role = HarmonyRole::kTool;
    h.author_name = std::string(parts[0]);
    first = 1;
  }
  if (first < parts.size() && parts[first] == HarmonyRoleName(h.role)) ++first;

  std::vector<std::string_view> rest(parts.begin() + static_cast<ptrdiff_t>(first), parts.end());
  if (!rest.empty()) {
    size_t n = rest.size();
    std::string_view last = rest.back();
    rest.pop_back();
    if (last.starts_with("to=")) {
      h.recipient = std::string(last.substr(3));
    } else if (n == 1) {
      h.recipient = std::string(last);
    } else {
      h.content_type = std::string(last);
      h.recipient = std::string(StripTo(rest.back()));
      rest.pop_back();
    }
    if (!rest.empty()) {
      std::string leftover;
      for (std::string_view p : rest) leftover += (leftover.empty() ? "" : " ") + std::string(p);
      note(fmt::format("unexpected tokens remaining in message header: \"{}\"", leftover));
    }
  }
  return out;
}

HarmonyParser::HarmonyParser(const Tokenizer& tokenizer, Options options)
    : tokenizer_(tokenizer), options_(options) {
  auto id = [&](std::string_view text) { return tokenizer_.SpecialTokenId(text).value_or(-1); };
  start_id_ = id("<|start|>");
  end_id_ = id("<|end|>");
  return_id_ = id("<|return|>");
  call_id_ = id("<|call|>");
  message_id_ = id("<|message|>");
  channel_id_ = id("<|channel|>");
  endoftext_id_ = id("<|endoftext|>");
  if (options_.first_role) BeginHeader(options_.first_role);
}

HarmonyParser::TokenClass HarmonyParser::Classify(int32_t id) const {
  if (id < 0 || id >= tokenizer_.vocab_size()) return TokenClass::kUnknown;
  if (id == start_id_) return TokenClass::kStart;
  if (id == end_id_) return TokenClass::kEnd;
  if (id == return_id_) return TokenClass::kReturn;
  if (id == call_id_) return TokenClass::kCall;
  if (id == message_id_) return TokenClass::kMessage;
  if (id == channel_id_) return TokenClass::kChannel;
  if (id == endoftext_id_) return TokenClass::kEndOfText;
  if (tokenizer_.TokenBytes(id).empty()) return TokenClass::kUnknown;
  return tokenizer_.IsSpecial(id) ? TokenClass::kOtherSpecial : TokenClass::kText;
}

Status HarmonyParser::Push(int32_t id, std::vector<HarmonyEvent>* events) {
  TokenClass c = Classify(id);
  Status status;
  switch (state_) {
    case State::kExpectStart: status = PushExpectStart(id, c, events); break;
    case State::kHeader: status = PushHeader(id, c, events); break;
    case State::kContent: status = PushContent(id, c, events); break;
  }
  if (c == TokenClass::kUnknown) {
    Status unknown = InvalidArgument("token id {} is outside the vocabulary (size {})", id,
                                     tokenizer_.vocab_size());
    Anomaly(unknown.message()).ok();  // counted; the status is returned in any mode
    return unknown;
  }
  return status;
}

Status HarmonyParser::Push(std::span<const int32_t> ids, std::vector<HarmonyEvent>* events) {
  Status first;
  for (int32_t id : ids) {
    Status s = Push(id, events);
    if (first.ok() && !s.ok()) first = std::move(s);
  }
  return first;
}

Status HarmonyParser::PushExpectStart(int32_t id, TokenClass c,
                                      std::vector<HarmonyEvent>* events) {
  switch (c) {
    case TokenClass::kStart:
      BeginHeader(std::nullopt);
      return OkStatus();
    case TokenClass::kEnd:
      return Anomaly("<|end|> outside a message ignored");
    case TokenClass::kReturn:
    case TokenClass::kCall:
      EmitStop(c == TokenClass::kReturn ? HarmonyTerminator::kReturn : HarmonyTerminator::kCall,
               events);
      return Anomaly("stop token outside a message");
    case TokenClass::kEndOfText:
      EmitStop(HarmonyTerminator::kEndOfText, events);
      return OkStatus();
    default: {
      BeginHeader(HarmonyRole::kAssistant);
      Status s = Anomaly("token outside a message: read as if <|start|>assistant came first");
      PushHeader(id, c, events).ok();  // cannot fail for these token classes
      return s;
    }
  }
}

Status HarmonyParser::PushHeader(int32_t id, TokenClass c, std::vector<HarmonyEvent>* events) {
  switch (c) {
    case TokenClass::kMessage:
      return OpenMessage(events);
    case TokenClass::kStart: {
      Status s;
      if (!IsBlank(header_bytes_)) s = SalvageHeader(HarmonyTerminator::kNewMessage, true, events);
      BeginHeader(std::nullopt);
      return s;
    }
    case TokenClass::kEnd:
    case TokenClass::kReturn:
    case TokenClass::kCall:
    case TokenClass::kEndOfText: {
      HarmonyTerminator how = c == TokenClass::kEnd      ? HarmonyTerminator::kEnd
                              : c == TokenClass::kReturn ? HarmonyTerminator::kReturn
                              : c == TokenClass::kCall   ? HarmonyTerminator::kCall
                                                         : HarmonyTerminator::kEndOfText;
      Status s = SalvageHeader(how, true, events);
      if (how != HarmonyTerminator::kEnd) EmitStop(how, events);
      return s;
    }
    case TokenClass::kUnknown:
      header_bytes_ += kReplacement;
      return OkStatus();
    default:
      header_bytes_ += tokenizer_.TokenBytes(id);
      return OkStatus();
  }
}

Status HarmonyParser::PushContent(int32_t id, TokenClass c, std::vector<HarmonyEvent>* events) {
  switch (c) {
    case TokenClass::kEnd:
      CloseMessage(HarmonyTerminator::kEnd, events);
      return OkStatus();
    case TokenClass::kReturn:
    case TokenClass::kCall:
    case TokenClass::kEndOfText: {
      HarmonyTerminator how = c == TokenClass::kReturn ? HarmonyTerminator::kReturn
                              : c == TokenClass::kCall ? HarmonyTerminator::kCall
                                                       : HarmonyTerminator::kEndOfText;
      CloseMessage(how, events);
      EmitStop(how, events);
      return OkStatus();
    }
    case TokenClass::kStart:
      CloseMessage(HarmonyTerminator::kNewMessage, events);
      BeginHeader(std::nullopt);
      return Anomaly("<|start|> inside a message: <|end|> was missing");
    case TokenClass::kChannel:
      CloseMessage(HarmonyTerminator::kNewMessage, events);
      BeginHeader(HarmonyRole::kAssistant);
      header_bytes_ += tokenizer_.TokenBytes(id);
      return Anomaly("<|channel|> inside a message: read as <|end|><|start|>assistant<|channel|>");
    case TokenClass::kUnknown:
      AppendContent(detokenizer_->Flush() + std::string(kReplacement), events);
      return OkStatus();  // Push reports the unknown id
    default: {
      StatusOr<std::string> text = detokenizer_->Push(id);
      if (text.ok()) {
        AppendContent(std::move(text).value(), events);
      } else {
        AppendContent(detokenizer_->Flush() + std::string(kReplacement), events);
      }
      if (c != TokenClass::kText) return Anomaly("special token inside message content");
      return text.ok() ? OkStatus() : text.status();
    }
  }
}

void HarmonyParser::BeginHeader(std::optional<HarmonyRole> role) {
  state_ = State::kHeader;
  header_role_ = role;
  header_bytes_.clear();
}

Status HarmonyParser::OpenMessage(std::vector<HarmonyEvent>* events) {
  std::string text = Utf8Sanitize(header_bytes_);
  bool bad_utf8 = text != header_bytes_;
  HarmonyParsedHeader parsed = ParseHarmonyHeader(text, header_role_);
  header_bytes_.clear();
  header_role_.reset();
  current_ = std::move(parsed.header);
  state_ = State::kContent;
  detokenizer_.emplace(tokenizer_);
  HarmonyEvent e;
  e.kind = HarmonyEventKind::kMessageStart;
  e.message_index = messages_.size();
  e.header = current_;
  Emit(events, std::move(e));
  if (bad_utf8) return Anomaly("could not decode header: invalid UTF-8");
  if (!parsed.status.ok()) return Anomaly(parsed.status.message());
  return OkStatus();
}

void HarmonyParser::AppendContent(std::string text, std::vector<HarmonyEvent>* events) {
  if (text.empty()) return;
  current_.content += text;
  HarmonyEvent e;
  e.kind = HarmonyEventKind::kContentDelta;
  e.message_index = messages_.size();
  e.text = std::move(text);
  Emit(events, std::move(e));
}

void HarmonyParser::CloseMessage(HarmonyTerminator how, std::vector<HarmonyEvent>* events) {
  if (detokenizer_) AppendContent(detokenizer_->Flush(), events);
  detokenizer_.reset();
  HarmonyEvent e;
  e.kind = HarmonyEventKind::kMessageEnd;
  e.message_index = messages_.size();
  e.terminator = how;
  messages_.push_back(std::move(current_));
  terminators_.push_back(how);
  current_ = HarmonyMessage();
  state_ = State::kExpectStart;
  Emit(events, std::move(e));
}

Status HarmonyParser::SalvageHeader(HarmonyTerminator how, bool keep_empty,
                                    std::vector<HarmonyEvent>* events) {
  std::string text = Utf8Sanitize(header_bytes_);
  std::optional<HarmonyRole> role = header_role_;
  header_bytes_.clear();
  header_role_.reset();
  state_ = State::kExpectStart;
  if (IsBlank(text)) return OkStatus();
  HarmonyMessage m = SalvageHeaderText(std::move(text), role);
  if (!keep_empty && m.content.empty()) return Anomaly("incomplete message header dropped");

  HarmonyEvent start;
  start.kind = HarmonyEventKind::kMessageStart;
  start.message_index = messages_.size();
  start.header = m;
  start.header.content.clear();
  Emit(events, std::move(start));
  current_ = std::move(m);
  std::string content = std::move(current_.content);
  current_.content.clear();
  AppendContent(std::move(content), events);
  CloseMessage(how, events);
  return Anomaly("message header without <|message|>: its text read as the content");
}

void HarmonyParser::EmitStop(HarmonyTerminator how, std::vector<HarmonyEvent>* events) {
  stop_ = how;
  HarmonyEvent e;
  e.kind = HarmonyEventKind::kStop;
  e.message_index = messages_.size();
  e.terminator = how;
  Emit(events, std::move(e));
}

Status HarmonyParser::Finish(std::vector<HarmonyEvent>* events) {
  Status s;
  if (state_ == State::kContent) {
    CloseMessage(HarmonyTerminator::kTruncated, events);
  } else if (state_ == State::kHeader && !IsBlank(header_bytes_)) {
    if (header_role_ && LooksLikePlainText(header_bytes_)) {
      s = SalvageHeader(HarmonyTerminator::kTruncated, false, events);
    } else {
      s = Anomaly("output ended inside a message header");
    }
  }
  state_ = State::kExpectStart;
  header_role_.reset();
  header_bytes_.clear();
  return s;
}

Status HarmonyParser::Anomaly(std::string message) {
  ++anomaly_count_;
  last_anomaly_ = message;
  if (!options_.strict) return OkStatus();
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

}  // namespace atom
