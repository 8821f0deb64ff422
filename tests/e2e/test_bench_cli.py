"""End-to-end: `atom bench latency` and `atom bench throughput` on the bundled demo model (CPU):
they run, count what they generate, and write their JSON.

Usage: test_bench_cli.py --atom PATH --data tests/data
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def run_json(*args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        proc = subprocess.run([ARGS.atom, "--log-level", "warn", "bench", *args, "--device", "cpu",
                               "--json-out", out], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"atom bench {' '.join(args)} failed:\n{proc.stderr}")
        with open(out) as f:
            return json.load(f), proc.stdout


class BenchCliTest(unittest.TestCase):
    def test_latency(self):
        r, table = run_json("latency", "--batch-size", "3", "--input-len", "20", "--output-len",
                            "6", "--num-iters", "2", "--num-iters-warmup", "0")
        self.assertEqual((r["batch_size"], r["input_len"], r["output_len"]), (3, 20, 6))
        self.assertEqual(len(r["prefill_s_all"]), 2)
        self.assertGreater(r["prefill_s"], 0)
        self.assertGreater(r["decode_step_s"], 0)
        self.assertAlmostEqual(r["decode_tokens_per_s"], 3 / r["decode_step_s"], places=3)
        self.assertIn("decode step", table)
        # Which kernels produced the numbers: one variant per op, whatever the device.
        self.assertTrue({"linear", "paged_attention", "moe_experts"} <= set(r["kernels"]))
        self.assertTrue(all(isinstance(v, str) and v for v in r["kernels"].values()))

    def test_throughput(self):
        r, table = run_json("throughput", "--num-prompts", "12", "--input-len", "16",
                            "--output-len", "5")
        self.assertEqual(r["num_prompts"], 12)
        self.assertEqual(r["prompt_tokens"], 12 * 16)  # range ratio 0: exact lengths
        self.assertEqual(r["output_tokens"], 12 * 5)   # EOS ignored
        self.assertAlmostEqual(r["output_tokens_per_s"], 60 / r["seconds"], places=3)
        self.assertIn("requests/s", table)
        self.assertIn("moe_experts", r["kernels"])

    def test_bad_flag_is_a_clear_error(self):
        proc = subprocess.run([ARGS.atom, "bench", "throughput", "--num-prompts", "0"],
                              capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("num-prompts", proc.stderr + proc.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--atom", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    sys.exit(0 if unittest.main(argv=[sys.argv[0], *rest], verbosity=2,
                                exit=False).result.wasSuccessful() else 1)
