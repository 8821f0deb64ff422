// atom generate: prompts (token ids, raw text, or chat messages rendered as Harmony) through the
// engine as one batch, with every sampling option; greedy by default.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/tokenizer_source.h"
#include "core/logging.h"
#include "models/registry.h"
#include "models/safetensors_writer.h"
#include "tokenizer/harmony_chat_output.h"
#include "tokenizer/harmony_render.h"
#include "tokenizer/openai_chat.h"

namespace atom::cli {

namespace {

struct GenerateOptions {
  std::string model_dir = DefaultModelDir();
  std::string tokenizer;
  std::vector<std::string> prompt_ids, prompts, chats;
  std::string reasoning_effort = "medium";
  bool json = false;
  std::string logits_out;
  SamplingParams sampling;
  int max_tokens = 16;
  int64_t seed = -1;
  EngineFlags engine;
};

// "1,2,3" -> {1, 2, 3}. Errors name the prompt and the bad piece.
StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, size_t index) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string_view piece(text.data() + pos, comma - pos);
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    int32_t id = 0;
    auto [end, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), id);
    if (piece.empty() || ec != std::errc() || end != piece.data() + piece.size())
      return InvalidArgument("--prompt-ids #{}: \"{}\" is not a token id", index, piece);
    ids.push_back(id);
    pos = comma + 1;
  }
  return ids;
}

struct Prompt {
  std::vector<int32_t> ids;
  bool chat = false;
};

// Every prompt, in the order: --prompt-ids, --prompt, --chat.
StatusOr<std::vector<Prompt>> BuildPrompts(const GenerateOptions& o, const Tokenizer* tokenizer) {
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < o.prompt_ids.size(); ++i) {
    ATOM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(o.prompt_ids[i], i));
    prompts.push_back({std::move(ids), false});
  }
  if ((!o.prompts.empty() || !o.chats.empty()) && tokenizer == nullptr)
    return InvalidArgument(
        "--prompt and --chat need a tokenizer: the model folder has no "
        "tokenizer.json; name one with --tokenizer");
  for (const std::string& text : o.prompts) prompts.push_back({tokenizer->Encode(text), false});
  for (size_t i = 0; i < o.chats.size(); ++i) {
    nlohmann::ordered_json request = {{"messages", {{{"role", "user"}, {"content", o.chats[i]}}}},
                                      {"reasoning_effort", o.reasoning_effort}};
    auto conversation = OpenAiChatToConversation(request);
    if (!conversation.ok()) return conversation.status().WithContext(fmt::format("--chat #{}", i));
    ATOM_ASSIGN_OR_RETURN(RenderedPrompt rendered, RenderConversationForCompletion(*conversation));
    ATOM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, rendered.Ids(*tokenizer));
    prompts.push_back({std::move(ids), true});
  }
  if (prompts.empty()) return InvalidArgument("give at least one --prompt-ids, --prompt or --chat");
  return prompts;
}

// Everything one (prompt, sample) produced.
struct Result {
  std::vector<int32_t> ids;
  std::string text;
  std::string finish_reason;
  std::vector<float> logits;
  int64_t logits_rows = 0;
  std::vector<SampleResult> logprobs;
};

int Fail(const Status& s) {
  ATOM_LOG_ERROR("{}", s.ToString());
  return 1;
}

int RunGenerate(GenerateOptions o) {
  auto load = MakeLoadOptions(o.engine);
  if (!load.ok()) return Fail(load.status());
  auto model = LoadModel(o.model_dir, *load);
  if (!model.ok()) return Fail(model.status());
  LogKernelChoices(**model);
  auto generation = LoadGenerationConfig(o.model_dir);
  if (!generation.ok()) return Fail(generation.status());

  std::unique_ptr<Tokenizer> tokenizer;
  if (!o.tokenizer.empty() ||
      std::filesystem::exists(std::filesystem::path(o.model_dir) / "tokenizer.json")) {
    auto loaded = LoadTokenizer(o.model_dir, o.tokenizer);
    if (!loaded.ok()) return Fail(loaded.status());
    tokenizer = std::move(*loaded);
  }
  auto prompts = BuildPrompts(o, tokenizer.get());
  if (!prompts.ok()) return Fail(prompts.status());

  EngineConfig config = MakeEngineConfig(o.engine, (*model)->config(), *generation);
  if (Status s = SizeKvCacheForDevice(o.engine, *load, **model, config); !s.ok()) return Fail(s);
  if (!o.chats.empty() && tokenizer) {
    // A Harmony reply also ends at <|call|> (a tool call), which HF's EOS list lacks.
    if (auto call = tokenizer->SpecialTokenId("<|call|>")) config.eos_token_ids.push_back(*call);
  }
  auto engine = Engine::Create(**model, tokenizer.get(), config);
  if (!engine.ok()) return Fail(engine.status());

  o.sampling.max_tokens = o.max_tokens;
  if (o.seed >= 0) o.sampling.seed = uint64_t(o.seed);
  RequestOptions request_options;
  request_options.return_logits = !o.logits_out.empty();
  std::map<std::pair<int64_t, int>, Result> results;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < prompts->size(); ++i) {
    auto id = (*engine)->AddRequest(
        (*prompts)[i].ids, o.sampling,
        [&results](const RequestOutput& out) {
          Result& r = results[{out.request_id, out.index}];
          r.ids.insert(r.ids.end(), out.token_ids.begin(), out.token_ids.end());
          r.text += out.text;
          r.logits.insert(r.logits.end(), out.logits.begin(), out.logits.end());
          r.logits_rows += out.logits_rows;
          r.logprobs.insert(r.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
          if (out.finish_reason) r.finish_reason = FinishReasonName(*out.finish_reason);
        },
        request_options);
    if (!id.ok()) return Fail(id.status().WithContext(fmt::format("prompt {}", i)));
    ids.push_back(*id);
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto more = (*engine)->Step();
    if (!more.ok()) return Fail(more.status());
    if (!*more) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<NamedTensor> logits;
  int64_t generated = 0;
  for (size_t i = 0; i < prompts->size(); ++i) {
    for (int n = 0; n < o.sampling.n; ++n) {
      Result& r = results[{ids[i], n}];
      generated += int64_t(r.ids.size());
      nlohmann::json line = {{"index", i},
                             {"prompt_ids", (*prompts)[i].ids},
                             {"output_ids", r.ids},
                             {"finish_reason", r.finish_reason}};
      if (o.sampling.n > 1) line["sample"] = n;
      if (tokenizer) line["text"] = r.text;
      if ((*prompts)[i].chat && tokenizer) {
        const ChatOutput chat = ParseChatOutput(*tokenizer, r.ids, r.finish_reason);
        line["reasoning"] = chat.reasoning;
        line["content"] = chat.content;
      }
      if (o.sampling.logprobs) {
        nlohmann::json lps = nlohmann::json::array();
        for (const SampleResult& s : r.logprobs) lps.push_back(s.logprob);
        line["logprobs"] = lps;
      }
      if (o.json) {
        fmt::print("{}\n", line.dump());
      } else if (line.contains("content")) {
        fmt::print("[{}] reasoning: {}\n[{}] answer: {} ({})\n", i,
                   line["reasoning"].get<std::string>(), i, line["content"].get<std::string>(),
                   r.finish_reason);
      } else {
        fmt::print("[{}{}] {} -> {} ({}){}\n", i, o.sampling.n > 1 ? fmt::format(".{}", n) : "",
                   fmt::join((*prompts)[i].ids, ","), fmt::join(r.ids, ","), r.finish_reason,
                   tokenizer ? fmt::format(" {}", nlohmann::json(r.text).dump()) : "");
      }
      if (!o.logits_out.empty() && n == 0)
        logits.push_back(
            {fmt::format("seq{}", i),
             Tensor(r.logits.data(), DType::kF32, {r.logits_rows, (*model)->config().vocab_size})});
    }
  }
  std::fflush(stdout);
  const EngineStats stats = (*engine)->stats();
  ATOM_LOG_INFO(
      "{} prompt tokens computed ({} from the prefix cache), {} generated in {} steps, "
      "{:.3f} s: {:.1f} generated tok/s",
      stats.prompt_tokens_computed, stats.prefix_cache_hits, generated, stats.num_steps, seconds,
      seconds > 0 ? double(generated) / seconds : 0.0);
  if (!o.logits_out.empty()) {
    if (Status s = WriteSafetensors(o.logits_out, logits); !s.ok()) return Fail(s);
    ATOM_LOG_INFO("wrote logits of {} sequences to {}", logits.size(), o.logits_out);
  }
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "generate", "Generate from prompts, all in one batch (greedy unless --temperature > 0)");
  auto o = std::make_shared<GenerateOptions>();
  o->sampling.temperature = 0;  // the CLI's default is greedy, so runs are reproducible
  SamplingParams& p = o->sampling;
  cmd->add_option("--model,-m", o->model_dir, "Model directory (default: the bundled model)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or .tiktoken (default: the model's)");
  cmd->add_option("--prompt-ids", o->prompt_ids,
                  "Comma-separated token ids of one prompt; repeat for a batch")
      ->allow_extra_args(false);
  cmd->add_option("--prompt", o->prompts, "Raw text prompt (repeatable)")->allow_extra_args(false);
  cmd->add_option("--chat", o->chats,
                  "A user message, rendered with the model's chat format "
                  "(repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--reasoning-effort", o->reasoning_effort, "For --chat: low | medium | high")
      ->check(CLI::IsMember({"low", "medium", "high"}));
  cmd->add_option("--max-tokens", o->max_tokens, "New tokens per sequence at most")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_flag("--json", o->json, "One JSON object per prompt (and sample) and line");
  cmd->add_option("--logits-out", o->logits_out,
                  "Write every computed position's logits to this safetensors file "
                  "(tensor seq<i>: [rows, vocab] f32; row r predicts the token after position r)");
  cmd->add_option("--temperature", p.temperature, "0 = greedy (default)");
  cmd->add_option("--top-p", p.top_p, "Nucleus sampling mass");
  cmd->add_option("--top-k", p.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--min-p", p.min_p, "Keep tokens at least this times the most likely's prob.");
  cmd->add_option("--repetition-penalty", p.repetition_penalty);
  cmd->add_option("--presence-penalty", p.presence_penalty);
  cmd->add_option("--frequency-penalty", p.frequency_penalty);
  cmd->add_option("--seed", o->seed, "Seed for sampling (default: random)");
  cmd->add_option("--n", p.n, "Samples per prompt")->check(CLI::Range(1, 128));
  cmd->add_option("--min-tokens", p.min_tokens, "No stop before this many tokens");
  cmd->add_option("--stop", p.stop, "Stop string (repeatable)")->allow_extra_args(false);
  cmd->add_option("--stop-token-ids", p.stop_token_ids, "Extra stop token ids")->delimiter(',');
  cmd->add_option("--logprobs", p.logprobs, "Report each token's logprob (and N top ones)");
  cmd->add_flag("--ignore-eos", p.ignore_eos, "Keep generating past EOS tokens");
  AddEngineFlags(cmd, o->engine);
  cmd->callback([o, &exit_code] { exit_code = RunGenerate(*o); });
}

}  // namespace atom::cli
