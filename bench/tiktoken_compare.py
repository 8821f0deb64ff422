#!/usr/bin/env python3
"""Encode throughput of atom's tokenizer next to OpenAI's tiktoken, on the same text and CPU.

Runs atom_tokenizer_bench (which builds the text deterministically from the repository and writes
it, plus its ids, to a temporary folder), then times tiktoken's single-threaded encode_ordinary on
that text with an Encoding built from our local o200k ranks file and pattern (no network), and
checks that both give the same ids.

  pip install tiktoken
  python3 bench/tiktoken_compare.py --bench build/cpu/bench/atom_tokenizer_bench
"""
import argparse
import array
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, help="path to atom_tokenizer_bench")
    ap.add_argument("--ranks", default=os.path.join(ROOT, "tests/data/tokenizer/o200k_base.tiktoken"))
    ap.add_argument("--pattern", default=os.path.join(ROOT, "tests/data/tokenizer/o200k_pattern.txt"))
    ap.add_argument("--repeats", type=int, default=5, help="tiktoken runs; the best is reported")
    args = ap.parse_args()

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    with tempfile.TemporaryDirectory() as tmp:
        text_path = os.path.join(tmp, "corpus.txt")
        ids_path = os.path.join(tmp, "ids.bin")
        env = dict(os.environ, ATOM_BENCH_TEXT_OUT=text_path, ATOM_BENCH_IDS_OUT=ids_path)
        run = subprocess.run(
            [args.bench, "--benchmark_filter=^BM_Encode/", "--benchmark_format=json",
             "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"],
            env=env, check=True, capture_output=True, text=True)
        report = json.loads(run.stdout)
        # Median over repetitions of bytes per CPU second (the machine may be shared).
        median = next(b for b in report["benchmarks"] if b.get("aggregate_name") == "median")
        ours_mbs = median["bytes_per_second"] / 1e6
        with open(text_path, "rb") as f:
            data = f.read()
        ours_ids = array.array("i")
        with open(ids_path, "rb") as f:
            ours_ids.frombytes(f.read())

    text = data.decode("utf-8")  # bytes, not a text-mode read: keep "\r\n" as is
    with open(args.pattern, "rb") as f:
        pattern = f.read().decode("utf-8")
    enc = tiktoken.Encoding(name="o200k_local", pat_str=pattern,
                            mergeable_ranks=load_tiktoken_bpe(args.ranks), special_tokens={})
    enc.encode_ordinary("warm up")
    best = float("inf")
    for _ in range(args.repeats):
        start = time.process_time()
        ids = enc.encode_ordinary(text)
        best = min(best, time.process_time() - start)
    tiktoken_mbs = len(data) / best / 1e6

    same = list(ours_ids) == ids
    print(f"text: {len(data) / 1e6:.2f} MB, {len(ids)} tokens (tiktoken {tiktoken.__version__})")
    print(f"atom     Encode          {ours_mbs:8.1f} MB/s (CPU time, median of 3)")
    print(f"tiktoken encode_ordinary {tiktoken_mbs:8.1f} MB/s (CPU time, best of {args.repeats})")
    print(f"speedup {ours_mbs / tiktoken_mbs:.1f}x; ids identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
