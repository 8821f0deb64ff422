#include "cli/tokenizer_source.h"

#include <filesystem>

namespace atom::cli {

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir,
                                                   const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) {
    if (tokenizer_path.ends_with(".tiktoken")) return Tokenizer::O200kHarmony(tokenizer_path);
    return Tokenizer::FromHfJson(tokenizer_path);
  }
  const std::string json = (std::filesystem::path(model_dir) / "tokenizer.json").string();
  if (!std::filesystem::exists(json))
    return NotFound("{} has no tokenizer.json; name one with --tokenizer FILE", model_dir);
  return Tokenizer::FromHfJson(json);
}

}  // namespace atom::cli
