// Synthetic gpt-oss checkpoints: random weights in exactly the Hugging Face layout (spec §2, §3),
// for tests, demos and benchmarks of the real shapes without the real weights.
//
// A checkpoint directory gets config.json, generation_config.json, model-0000i-of-0000n
// .safetensors shards (at most `max_shard_bytes` of tensor data each, in the real checkpoint's
// tensor order), model.safetensors.index.json, and — when the vocabulary is the real
// o200k_harmony one — tokenizer.json, tokenizer_config.json and special_tokens_map.json.
//
// Presets:
//   tiny  the dims of the gpt-oss-tiny fixtures (hidden 96, 4 layers, vocab 1024); no tokenizer.
//   demo  a small model (hidden 64, 4 layers, 8 experts) with the real 201,088-token vocabulary
//         and tokenizer: 52 MB of weights + the 28 MB tokenizer.json, the bundled default.
//   20b, 120b  exactly the real configs and shapes (13.8 GB, 65.2 GB); `layers` cuts them.
//
// Weights are deterministic in the seed (see synthetic_weights.h) and scaled so activations stay
// finite through every layer: linear weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norm gains
// ~ 1, biases ~ N(0, 0.02^2), sinks ~ N(0, 0.1^2); MXFP4 codes uniform with scales mixing two
// powers of two so the dequantized std is 1/sqrt(fan_in).
//
// Files are streamed tensor by tensor in bounded chunks (peak memory tens of MB whatever the
// preset); shards appear atomically and the index is written last. Writing into a folder that
// holds an earlier synthetic checkpoint replaces it: its index, shards this one does not have
// and (for tiny) its tokenizer files are removed first.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "models/synthetic_weights.h"

namespace atom {

// Writes the tokenizer files of the real vocabulary into `dir` from a tiktoken ranks file. The
// tokenizer lives in a layer models does not depend on, so the caller supplies it (the CLI and
// tests pass WriteO200kHarmonyTokenizerFiles from tokenizer/hf_tokenizer_writer.h).
using TokenizerFilesWriter =
    std::function<Status(const std::string& ranks_path, const std::string& dir)>;

struct SyntheticOptions {
  std::string out_dir;          // created if missing
  std::string preset = "tiny";  // tiny | demo | 20b | 120b
  uint64_t seed = 0;
  std::string experts = "mxfp4";  // mxfp4 | bf16 (HF's dequantized layout, no quantization)
  int layers = 0;                 // 0: the preset's; 20b/120b can only be cut
  std::string tokenizer_ranks;    // o200k_base.tiktoken; needed by demo, 20b, 120b
  TokenizerFilesWriter write_tokenizer_files;  // needed with tokenizer_ranks
  uint64_t max_shard_bytes = uint64_t(4) << 30;
};

struct SyntheticTensor {
  std::string name;
  DType dtype = DType::kBF16;  // kBF16 or kU8
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  int shard = 0;  // index into SyntheticPlan::shard_names
  synthetic::TensorInit init;
};

struct SyntheticPlan {
  std::string config_json;               // config.json text
  std::string generation_config_json;    // generation_config.json text
  bool writes_tokenizer = false;         // the vocabulary is the real one
  std::vector<SyntheticTensor> tensors;  // in file order
  std::vector<std::string> shard_names;
  std::vector<uint64_t> shard_bytes;  // tensor data per shard
  uint64_t total_bytes = 0;           // index metadata.total_size
};

struct SyntheticStats {
  uint64_t bytes_written = 0;  // all files
  double seconds = 0;          // total
  double tokenizer_seconds = 0;
};

// The presets, in the order above.
std::vector<std::string> SyntheticPresets();

// What WriteSyntheticGptOss would write, without writing. InvalidArgument naming the option for
// an unknown preset or experts format, a negative layer count or one beyond 20b/120b's, or a
// max_shard_bytes of 0.
StatusOr<SyntheticPlan> PlanSyntheticGptOss(const SyntheticOptions& options);

// Writes the checkpoint. Errors: the plan's, a real-vocabulary preset without tokenizer_ranks or
// write_tokenizer_files, and I/O errors naming the file.
Status WriteSyntheticGptOss(const SyntheticOptions& options, SyntheticStats* stats = nullptr);

}  // namespace atom
