// atom tokenize / atom detokenize: text to token ids and back.
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/tokenizer_source.h"
#include "core/logging.h"

namespace atom::cli {

namespace {

struct TokenizerFlags {
  std::string model_dir = DefaultModelDir();
  std::string tokenizer;
};

void AddTokenizerFlags(CLI::App* cmd, TokenizerFlags& f) {
  cmd->add_option("--model,-m", f.model_dir, "Model directory whose tokenizer.json is used");
  cmd->add_option("--tokenizer", f.tokenizer,
                  "A tokenizer.json, or an o200k .tiktoken ranks file (overrides --model)");
}

struct TokenizeOptions {
  TokenizerFlags tokenizer;
  bool allow_special = false;
  std::vector<std::string> texts;
};

int RunTokenize(const TokenizeOptions& o) {
  auto tok = LoadTokenizer(o.tokenizer.model_dir, o.tokenizer.tokenizer);
  if (!tok.ok()) {
    ATOM_LOG_ERROR("{}", tok.status().ToString());
    return 1;
  }
  for (const std::string& text : o.texts) {
    const std::vector<int32_t> ids =
        o.allow_special ? (*tok)->EncodeWithSpecial(text) : (*tok)->Encode(text);
    fmt::print("{}\n", nlohmann::json(ids).dump());
  }
  return 0;
}

struct DetokenizeOptions {
  TokenizerFlags tokenizer;
  std::vector<std::string> ids;  // "1,2,3", "1 2 3" or "[1, 2, 3]", possibly over several args
  bool json = false;
};

// Every integer in the arguments, whatever separates them.
StatusOr<std::vector<int32_t>> ParseIdList(const std::vector<std::string>& args) {
  std::vector<int32_t> ids;
  for (const std::string& arg : args) {
    size_t i = 0;
    while (i < arg.size()) {
      const char c = arg[i];
      if (c == ',' || c == ' ' || c == '[' || c == ']' || c == '\n' || c == '\t') {
        ++i;
        continue;
      }
      int32_t id = 0;
      auto [end, ec] = std::from_chars(arg.data() + i, arg.data() + arg.size(), id);
      if (ec != std::errc() || end == arg.data() + i)
        return InvalidArgument("\"{}\" is not a list of token ids (at offset {})", arg, i);
      ids.push_back(id);
      i = size_t(end - arg.data());
    }
  }
  return ids;
}

int RunDetokenize(const DetokenizeOptions& o) {
  auto ids = ParseIdList(o.ids);
  if (!ids.ok()) {
    ATOM_LOG_ERROR("{}", ids.status().message());
    return 1;
  }
  auto tok = LoadTokenizer(o.tokenizer.model_dir, o.tokenizer.tokenizer);
  if (!tok.ok()) {
    ATOM_LOG_ERROR("{}", tok.status().ToString());
    return 1;
  }
  auto bytes = (*tok)->Decode(*ids);
  if (!bytes.ok()) {
    ATOM_LOG_ERROR("{}", bytes.status().ToString());
    return 1;
  }
  if (o.json) {
    fmt::print("{}\n", nlohmann::json(Utf8Sanitize(*bytes)).dump());
  } else {
    std::fwrite(bytes->data(), 1, bytes->size(), stdout);  // the raw bytes, as decoded
    std::fputc('\n', stdout);
  }
  return 0;
}

}  // namespace

void AddTokenizeCommands(CLI::App& app, int& exit_code) {
  auto t = std::make_shared<TokenizeOptions>();
  CLI::App* tokenize = app.add_subcommand("tokenize", "Text to token ids (one JSON list per text)");
  AddTokenizerFlags(tokenize, t->tokenizer);
  tokenize->add_flag("--allow-special", t->allow_special,
                     "Recognise special-token strings such as <|start|> (off: plain text)");
  tokenize->add_option("text", t->texts, "Texts to encode")->required();
  tokenize->callback([t, &exit_code] { exit_code = RunTokenize(*t); });

  auto d = std::make_shared<DetokenizeOptions>();
  CLI::App* detok = app.add_subcommand("detokenize", "Token ids to text");
  AddTokenizerFlags(detok, d->tokenizer);
  detok->add_flag("--json", d->json, "Print the text as a JSON string (invalid UTF-8 replaced)");
  detok->add_option("ids", d->ids, "Token ids: 1,2,3 or \"[1, 2, 3]\" or 1 2 3")->required();
  detok->callback([d, &exit_code] { exit_code = RunDetokenize(*d); });
}

}  // namespace atom::cli
