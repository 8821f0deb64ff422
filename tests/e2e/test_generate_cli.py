"""End-to-end: the `atom` binary on the bundled fixtures, as a user runs it.

Usage: test_generate_cli.py --atom PATH --data tests/data
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_np  # noqa: E402

ARGS = None


def run(*args, check=True):
    proc = subprocess.run([ARGS.atom, *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"atom {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def relative_error(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


class GenerateTest(unittest.TestCase):
    def fixture(self, name):
        d = os.path.join(ARGS.data, name)
        with open(os.path.join(d, "cases.json")) as f:
            cases = json.load(f)["cases"]
        ref = safetensors_np.load(os.path.join(d, "reference_logits.safetensors"))
        return os.path.join(d, "model"), cases, ref

    def check_fixture(self, name):
        model, cases, ref = self.fixture(name)
        with tempfile.TemporaryDirectory() as tmp:
            logits_path = os.path.join(tmp, "logits.safetensors")
            args = ["generate", "--model", model, "--max-tokens", "16", "--json",
                    "--logits-out", logits_path]
            for c in cases:
                args += ["--prompt-ids", ",".join(map(str, c["prompt_ids"]))]
            proc = run(*args)
            lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
            self.assertEqual(len(lines), len(cases))
            logits = safetensors_np.load(logits_path)
        for i, (line, c) in enumerate(zip(lines, cases)):
            self.assertEqual(line["index"], i)
            self.assertEqual(line["prompt_ids"], c["prompt_ids"])
            self.assertEqual(line["output_ids"], c["greedy_ids"], c["name"])
            self.assertEqual(line["finish_reason"], "length")
            got = logits[f"seq{i}"]
            rows = len(c["prompt_ids"]) + 16 - 1
            self.assertEqual(got.shape, (rows, ref[c["name"] + ".full_logits"].shape[1]))
            err = relative_error(got, ref[c["name"] + ".full_logits"][:rows])
            self.assertLess(err, 1e-4, c["name"])

    def test_mxfp4_fixture_batch(self):
        self.check_fixture("gpt-oss-tiny-mxfp4")

    def test_bf16_fixture_batch(self):
        self.check_fixture("gpt-oss-tiny-bf16")

    def test_max_tokens_one_gives_exactly_the_prompt_logits(self):
        model, cases, ref = self.fixture("gpt-oss-tiny-mxfp4")
        c = cases[2]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "l.safetensors")
            run("generate", "--model", model, "--max-tokens", "1", "--logits-out", path,
                "--prompt-ids", ",".join(map(str, c["prompt_ids"])))
            got = safetensors_np.load(path)["seq0"]
        want = ref[c["name"] + ".prompt_logits"]
        self.assertEqual(got.shape, want.shape)
        self.assertLess(relative_error(got, want), 1e-4)

    def test_default_model_is_the_bundled_demo(self):
        # The demo model has the real o200k_harmony vocabulary and tokenizer.
        out = run("info").stdout
        self.assertIn("vocabulary:    201088", out)
        proc = run("generate", "--prompt", "The capital of France is", "--max-tokens", "4",
                   "--json")
        line = json.loads(proc.stdout)
        self.assertEqual(line["prompt_ids"][:2], [976, 9029])  # "The", " capital"
        self.assertEqual(len(line["output_ids"]), 4)
        self.assertIsInstance(line["text"], str)
        chat = json.loads(run("generate", "--chat", "What is 2 + 2?", "--max-tokens", "8",
                              "--json").stdout)
        self.assertEqual(chat["prompt_ids"][-2:], [200006, 173781])  # <|start|>assistant
        self.assertIn("content", chat)
        self.assertIn("reasoning", chat)

    def test_bad_inputs_fail_cleanly(self):
        model, _, _ = self.fixture("gpt-oss-tiny-mxfp4")
        cases = [
            (["--prompt-ids", "1,99999"], "outside the vocabulary"),
            (["--prompt-ids", "1,x,3"], "not a token id"),
            (["--prompt-ids", "1,,3"], "not a token id"),
            (["--prompt-ids", "-5"], "outside the vocabulary"),
        ]
        for extra, message in cases:
            proc = run("generate", "--model", model, *extra, check=False)
            self.assertEqual(proc.returncode, 1, extra)
            self.assertIn(message, proc.stderr, extra)
        proc = run("generate", "--model", "/nonexistent/model", "--prompt-ids", "1", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("/nonexistent/model/config.json", proc.stderr)


class SamplingAndEngineFlagsTest(unittest.TestCase):
    def generate(self, *extra):
        tiny = os.path.join(ARGS.data, "gpt-oss-tiny-mxfp4", "model")
        proc = run("generate", "--model", tiny, "--prompt-ids", "302,394,452,271,507", "--max-tokens", "12",
                   "--json", *extra)
        return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]

    def test_engine_flags_do_not_change_greedy_output(self):
        want = self.generate()[0]["output_ids"]
        for flags in (["--no-enable-prefix-caching"], ["--no-enable-chunked-prefill"],
                      ["--max-num-batched-tokens", "2", "--block-size", "1"]):
            self.assertEqual(self.generate(*flags)[0]["output_ids"], want, flags)

    def test_seeded_sampling_is_reproducible_and_n_gives_distinct_samples(self):
        args = ["--temperature", "1.0", "--seed", "7", "--n", "3"]
        first, second = self.generate(*args), self.generate(*args)
        self.assertEqual(len(first), 3)
        self.assertEqual([l["output_ids"] for l in first], [l["output_ids"] for l in second])
        self.assertEqual([l["sample"] for l in first], [0, 1, 2])
        self.assertNotEqual(first[0]["output_ids"], first[1]["output_ids"])

    def test_stop_token_ids_and_logprobs(self):
        greedy = self.generate()[0]["output_ids"]
        line = self.generate("--stop-token-ids", str(greedy[2]), "--logprobs", "2")[0]
        self.assertEqual(line["output_ids"], greedy[:3])
        self.assertEqual(line["finish_reason"], "stop")
        self.assertEqual(len(line["logprobs"]), 3)
        self.assertTrue(all(lp <= 0 for lp in line["logprobs"]))

    def test_kv_cache_dtype_flag(self):
        # auto is the CPU's f32 cache; the CPU backend refuses bf16 and fp8, naming the flag.
        want = self.generate("--device", "cpu")[0]["output_ids"]
        self.assertEqual(self.generate("--device", "cpu", "--kv-cache-dtype", "auto")[0]["output_ids"],
                         want)
        tiny = os.path.join(ARGS.data, "gpt-oss-tiny-mxfp4", "model")
        for dtype in ("fp8", "bf16"):
            proc = run("generate", "--model", tiny, "--device", "cpu", "--prompt-ids", "1",
                       "--kv-cache-dtype", dtype, check=False)
            self.assertEqual(proc.returncode, 1)
            self.assertIn(f"--kv-cache-dtype {dtype}: the CPU backend", proc.stderr)
        proc = run("generate", "--model", tiny, "--prompt-ids", "1", "--kv-cache-dtype", "fp16",
                   check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--kv-cache-dtype", proc.stderr)

    def test_bad_sampling_values_are_rejected(self):
        proc = run("generate", "--prompt-ids", "1", "--top-p", "1.5", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("top_p", proc.stderr)
        tiny = os.path.join(ARGS.data, "gpt-oss-tiny-mxfp4", "model")
        proc = run("generate", "--model", tiny, "--prompt", "hi", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("need a tokenizer", proc.stderr)


class InfoTest(unittest.TestCase):
    def test_info_describes_the_model_and_kernels(self):
        model = os.path.join(ARGS.data, "gpt-oss-tiny-mxfp4", "model")
        out = run("info", "--model", model).stdout
        for needle in ["GptOssForCausalLM", "stored as mxfp4", "sliding window 8 on layers [0,2]",
                       "vocabulary:    1024", "kernels:", "paged_attention", "moe_experts"]:
            self.assertIn(needle, out)

    def test_forcing_a_kernel_shows_in_info(self):
        env = dict(os.environ, ATOM_LINEAR_KERNEL="cpu_reference")
        proc = subprocess.run([ARGS.atom, "info"], capture_output=True, text=True, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"linear\s+cpu_reference\s+forced by ATOM_LINEAR_KERNEL")
        env["ATOM_LINEAR_KERNEL"] = "no_such_kernel"
        proc = subprocess.run([ARGS.atom, "info"], capture_output=True, text=True, env=env)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no such linear kernel", proc.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--atom", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
