// Which tokenizer a command uses: --tokenizer FILE wins; otherwise the model folder's
// tokenizer.json.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace atom::cli {

// `tokenizer_path`: a Hugging Face tokenizer.json, or a tiktoken ranks file (*.tiktoken, read as
// o200k_harmony). Empty: `model_dir`/tokenizer.json.
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir,
                                                   const std::string& tokenizer_path);

}  // namespace atom::cli
