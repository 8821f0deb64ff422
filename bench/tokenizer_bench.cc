// Tokenizer throughput (Encode MB/s, single thread) on a few MB of mixed text, and the load time
// of both tokenizer files. The text is built deterministically from files in the repository:
// the Harmony test prompts, the tokenizer test vectors (CJK, emoji, accents), docs/*.md and the
// C++ sources, in sorted path order, repeated up to kCorpusBytes.
//
// Environment: ATOM_BENCH_TEXT_OUT=path writes that text; ATOM_BENCH_IDS_OUT=path writes our
// ids for it (int32 little-endian) so bench/tiktoken_compare.py can check tiktoken's against them.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/o200k.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace atom {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCorpusBytes = 4 << 20;
const std::string kRoot = ATOM_SOURCE_DIR;
const std::string kRanks = kRoot + "/tests/data/tokenizer/o200k_base.tiktoken";
const std::string kHfJson =
    std::string(ATOM_TEST_UNPACKED_DIR) + "/o200k_harmony_hf/tokenizer.json";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> SortedFiles(const fs::path& dir, const std::string& ext, bool recursive) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  const auto add = [&](const fs::directory_entry& e) {
    if (e.is_regular_file() && e.path().extension() == ext) files.push_back(e.path());
  };
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) add(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir)) add(e);
  }
  std::sort(files.begin(), files.end());
  return files;
}

const std::string& Corpus() {
  static const std::string corpus = [] {
    std::string base;
    for (const auto& f : SortedFiles(kRoot + "/tests/data/harmony", ".txt", false)) {
      base += ReadAll(f);
    }
    const auto vectors = nlohmann::json::parse(
        ReadAll(kRoot + "/tests/data/tokenizer/o200k_test_vectors.json"), nullptr, false);
    if (!vectors.is_discarded()) {
      for (const auto& group : vectors["groups"]) {
        for (const auto& c : group["cases"]) base += c["text"].get<std::string>() + "\n";
      }
    }
    for (const auto& f : SortedFiles(kRoot + "/docs", ".md", false)) base += ReadAll(f);
    for (const auto& f : SortedFiles(kRoot + "/src", ".cc", true)) base += ReadAll(f);
    std::string text;
    while (text.size() < kCorpusBytes) text += base;
    text.resize(kCorpusBytes);
    // Do not end inside a UTF-8 character (the text must be valid for tiktoken).
    while (!text.empty() && (static_cast<uint8_t>(text.back()) & 0xC0) == 0x80) text.pop_back();
    if (!text.empty() && static_cast<uint8_t>(text.back()) >= 0xC0) text.pop_back();
    return text;
  }();
  return corpus;
}

const Tokenizer& Tiktoken() {
  static const std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::O200kHarmony(kRanks);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(r).value();
  }();
  return *t;
}

void BM_Encode(benchmark::State& state) {
  const Tokenizer& t = Tiktoken();
  const std::string& text = Corpus();
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = t.Encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}
BENCHMARK(BM_Encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The regex split alone (PCRE2 JIT), to see how Encode's time divides.
void BM_Pretokenize(benchmark::State& state) {
  auto p = tokenizer_internal::Pretokenizer::Create(std::string(tokenizer_internal::kO200kPattern));
  const std::string& text = Corpus();
  size_t pieces = 0;
  for (auto _ : state) {
    pieces = 0;
    p->ForEachPiece(text, [&](std::string_view) { ++pieces; });
    benchmark::DoNotOptimize(pieces);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["pieces"] = static_cast<double>(pieces);
}
BENCHMARK(BM_Pretokenize)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_EncodeWithSpecial(benchmark::State& state) {
  const Tokenizer& t = Tiktoken();
  const std::string& text = Corpus();
  for (auto _ : state) benchmark::DoNotOptimize(t.EncodeWithSpecial(text).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeWithSpecial)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Decode(benchmark::State& state) {
  const Tokenizer& t = Tiktoken();
  const std::vector<int32_t> ids = t.Encode(Corpus());
  for (auto _ : state) benchmark::DoNotOptimize(t.Decode(ids).value().data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Corpus().size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

// 100 KB of one character: one huge piece (letters) or many (digits), the long-piece merge.
void BM_EncodeOneCharacterRun(benchmark::State& state) {
  const Tokenizer& t = Tiktoken();
  static const char* kUnits[] = {"a", " ", "\xe4\xb8\xad", "!"};
  std::string text;
  while (text.size() < 100000) text += kUnits[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(t.Encode(text).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetLabel(kUnits[state.range(0)][0] == ' ' ? "space" : kUnits[state.range(0)]);
}
BENCHMARK(BM_EncodeOneCharacterRun)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

void BM_LoadTiktoken(benchmark::State& state) {
  for (auto _ : state) {
    auto t = Tokenizer::O200kHarmony(kRanks);
    if (!t.ok()) state.SkipWithError(t.status().ToString().c_str());
  }
}
BENCHMARK(BM_LoadTiktoken)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_LoadHfJson(benchmark::State& state) {
  for (auto _ : state) {
    auto t = Tokenizer::FromHfJson(kHfJson);
    if (!t.ok()) state.SkipWithError(t.status().ToString().c_str());
  }
}
BENCHMARK(BM_LoadHfJson)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Encode with the tokenizer loaded from tokenizer.json (the merges-based path).
void BM_EncodeHfJson(benchmark::State& state) {
  auto t = Tokenizer::FromHfJson(kHfJson);
  if (!t.ok()) {
    state.SkipWithError(t.status().ToString().c_str());
    return;
  }
  const std::string& text = Corpus();
  for (auto _ : state) benchmark::DoNotOptimize((*t)->Encode(text).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeHfJson)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void WriteOutputs() {
  if (const char* path = std::getenv("ATOM_BENCH_TEXT_OUT")) {
    std::ofstream(path, std::ios::binary) << Corpus();
  }
  if (const char* path = std::getenv("ATOM_BENCH_IDS_OUT")) {
    const std::vector<int32_t> ids = Tiktoken().Encode(Corpus());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(ids.data()),
               static_cast<std::streamsize>(ids.size() * sizeof(int32_t)));
  }
}

}  // namespace
}  // namespace atom

int main(int argc, char** argv) {
  atom::WriteOutputs();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
