// atom render: an OpenAI-style chat request (or a bare messages array) to the Harmony prompt
// the model sees, as text and token ids.
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/tokenizer_source.h"
#include "core/logging.h"
#include "tokenizer/harmony_render.h"
#include "tokenizer/openai_chat.h"

namespace atom::cli {

namespace {

struct RenderOptions {
  std::string model_dir = DefaultModelDir();
  std::string tokenizer;
  std::string file;  // "-" = standard input
  std::string date;
  bool json = false;
};

StatusOr<std::string> ReadInput(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFound("cannot open {}", path);
    text << in.rdbuf();
  }
  return text.str();
}

StatusOr<std::pair<std::string, std::vector<int32_t>>> Render(const RenderOptions& o) {
  ATOM_ASSIGN_OR_RETURN(std::string text, ReadInput(o.file));
  nlohmann::ordered_json request =
      nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return InvalidArgument("{}: not valid JSON", o.file);
  if (request.is_array()) request = nlohmann::ordered_json{{"messages", std::move(request)}};
  OpenAiChatOptions options;
  if (!o.date.empty()) options.conversation_start_date = o.date;
  ATOM_ASSIGN_OR_RETURN(Conversation conversation, OpenAiChatToConversation(request, options));
  ATOM_ASSIGN_OR_RETURN(RenderedPrompt prompt, RenderConversationForCompletion(conversation));
  ATOM_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(o.model_dir, o.tokenizer));
  ATOM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, prompt.Ids(*tokenizer));
  return std::make_pair(prompt.Text(), std::move(ids));
}

int RunRender(const RenderOptions& o) {
  auto rendered = Render(o);
  if (!rendered.ok()) {
    ATOM_LOG_ERROR("{}", rendered.status().ToString());
    return 1;
  }
  const auto& [text, ids] = *rendered;
  if (o.json) {
    fmt::print("{}\n", nlohmann::json{{"text", text}, {"ids", ids}}.dump());
  } else {
    fmt::print("{}\n{}\n", text, nlohmann::json(ids).dump());
  }
  return 0;
}

}  // namespace

void AddRenderCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RenderOptions>();
  CLI::App* cmd = app.add_subcommand(
      "render", "Render an OpenAI chat request (messages, tools, reasoning_effort) as Harmony");
  cmd->add_option("--model,-m", o->model_dir, "Model directory whose tokenizer.json is used");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "A tokenizer.json, or an o200k .tiktoken ranks file (overrides --model)");
  cmd->add_option("--date", o->date, "Current date for the system message (YYYY-MM-DD)");
  cmd->add_flag("--json", o->json, "Print {\"text\", \"ids\"} as one JSON object");
  cmd->add_option("file", o->file, "Request JSON file, or - for standard input")->required();
  cmd->callback([o, &exit_code] { exit_code = RunRender(*o); });
}

}  // namespace atom::cli
