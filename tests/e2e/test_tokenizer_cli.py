"""End-to-end: atom tokenize / detokenize / render, as a user runs them.

Usage: test_tokenizer_cli.py --atom PATH --data tests/data
"""
import argparse
import json
import os
import subprocess
import sys
import unittest

ARGS = None

EXAMPLE_A_IDS = [  # spec §6.10 Example A
    200006, 17360, 200008, 3575, 553, 17554, 162016, 11, 261, 4410, 6439, 2359, 22203, 656, 7788,
    17527, 558, 87447, 100594, 25, 220, 1323, 19, 12, 3218, 279, 30377, 289, 25, 14093, 279, 2,
    13888, 18403, 25, 8450, 11, 49159, 11, 1721, 13, 21030, 2804, 413, 7360, 395, 1753, 3176, 13,
    200007, 200006, 1428, 200008, 4827, 382, 220, 17, 659, 220, 17, 30, 200007, 200006, 173781]


def run(*args, input=None, check=True):
    proc = subprocess.run([ARGS.atom, *args], capture_output=True, text=True, input=input,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"atom {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


class TokenizerCliTest(unittest.TestCase):
    def ranks(self):
        return ["--tokenizer", os.path.join(ARGS.data, "tokenizer", "o200k_base.tiktoken")]

    def test_tokenize_keeps_special_strings_as_text_unless_allowed(self):
        out = run("tokenize", *self.ranks(), "hello world", "<|start|>").stdout.split("\n")
        self.assertEqual(json.loads(out[0]), [24912, 2375])
        self.assertEqual(json.loads(out[1]), [27, 91, 5236, 91, 29])
        out = run("tokenize", *self.ranks(), "--allow-special", "<|start|>user").stdout
        self.assertEqual(json.loads(out), [200006, 1428])

    def test_detokenize_round_trips(self):
        text = "Grüße, 世界! 🎉 <|end|>"
        ids = run("tokenize", *self.ranks(), text).stdout.strip()
        self.assertEqual(run("detokenize", *self.ranks(), ids).stdout, text + "\n")
        self.assertEqual(json.loads(run("detokenize", *self.ranks(), "--json", ids).stdout), text)

    def test_detokenize_rejects_unknown_ids(self):
        proc = run("detokenize", *self.ranks(), "1,999999", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("999999", proc.stderr)

    def test_render_reproduces_example_a(self):
        request = json.dumps([{"role": "user", "content": "What is 2 + 2?"}])
        out = json.loads(run("render", *self.ranks(), "--json", "-", input=request).stdout)
        self.assertEqual(out["ids"], EXAMPLE_A_IDS)
        self.assertTrue(out["text"].endswith("<|start|>user<|message|>What is 2 + 2?<|end|>"
                                             "<|start|>assistant"))

    def test_render_names_the_bad_field(self):
        request = json.dumps({"messages": [{"role": "robot", "content": "hi"}]})
        proc = run("render", *self.ranks(), "-", input=request, check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("messages[0]", proc.stderr)

    def test_model_without_tokenizer_is_a_clear_error(self):
        model = os.path.join(ARGS.data, "gpt-oss-tiny-mxfp4", "model")
        proc = run("tokenize", "--model", model, "hi", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("has no tokenizer.json", proc.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--atom", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
