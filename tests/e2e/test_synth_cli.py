"""End-to-end: `atom synth` writes a checkpoint that `atom generate` / `atom tokenize` use.

Usage: test_synth_cli.py --atom PATH --data tests/data
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None


def run(*args, check=True):
    proc = subprocess.run([ARGS.atom, *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"atom {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


class SynthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.demo = os.path.join(cls.tmp.name, "demo")
        start = time.monotonic()
        cls.synth = run("synth", "--arch", "gpt-oss", "--preset", "demo", "--out", cls.demo,
                        "--seed", "1")
        cls.seconds = time.monotonic() - start

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_demo_has_the_hugging_face_layout(self):
        files = sorted(os.listdir(self.demo))
        self.assertEqual(files, ["config.json", "generation_config.json",
                                 "model-00001-of-00001.safetensors",
                                 "model.safetensors.index.json", "special_tokens_map.json",
                                 "tokenizer.json", "tokenizer_config.json"])
        with open(os.path.join(self.demo, "config.json")) as f:
            config = json.load(f)
        self.assertEqual(config["vocab_size"], 201088)
        self.assertEqual(config["quantization_config"]["quant_method"], "mxfp4")
        with open(os.path.join(self.demo, "model.safetensors.index.json")) as f:
            index = json.load(f)
        self.assertIn("lm_head.weight", index["weight_map"])
        self.assertIn("MB/s", self.synth.stderr)
        print(f"\natom synth --preset demo: {self.seconds:.2f} s", file=sys.stderr)

    def test_generate_runs_on_the_demo(self):
        proc = run("generate", "--model", self.demo, "--prompt-ids", "1,2,3", "--max-tokens", "4",
                   "--json")
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1)
        ids = lines[0]["output_ids"]
        self.assertEqual(len(ids), 4)
        self.assertTrue(all(0 <= i < 201088 for i in ids))

    def test_tokenize_uses_the_demo_tokenizer(self):
        proc = run("tokenize", "--model", self.demo, "hello world")
        self.assertEqual(json.loads(proc.stdout), [24912, 2375])

    def test_tiny_variants_differ_and_run(self):
        again = os.path.join(self.tmp.name, "again")
        run("synth", "--arch", "gpt-oss", "--preset", "tiny", "--out", again, "--seed", "3")
        other = os.path.join(self.tmp.name, "other")
        run("synth", "--arch", "gpt-oss", "--preset", "tiny", "--out", other, "--seed", "3",
            "--experts", "bf16", "--layers", "2")
        shard = "model-00001-of-00001.safetensors"
        with open(os.path.join(again, shard), "rb") as a:
            with open(os.path.join(other, shard), "rb") as b:
                self.assertNotEqual(a.read(), b.read())
        proc = run("generate", "--model", other, "--prompt-ids", "5,6", "--max-tokens", "3",
                   "--json")
        self.assertEqual(len(json.loads(proc.stdout.splitlines()[0])["output_ids"]), 3)

    def test_bad_arguments_are_reported(self):
        proc = run("synth", "--arch", "llama", "--out", self.tmp.name, check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("supported: gpt-oss", proc.stderr)
        proc = run("synth", "--arch", "gpt-oss", "--preset", "20b", "--layers", "30", "--out",
                   os.path.join(self.tmp.name, "x"), check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("exceeds gpt-oss-20b", proc.stderr)
        proc = run("synth", "--arch", "gpt-oss", "--preset", "7b", "--out", self.tmp.name,
                   check=False)
        self.assertNotEqual(proc.returncode, 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--atom", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
