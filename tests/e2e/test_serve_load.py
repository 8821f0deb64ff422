"""End-to-end load: `atom bench serve` against `atom serve` on the bundled demo model.

1024 concurrent streaming clients must all complete, and 200 clients that disconnect mid-stream
must leave no running request and no used KV block behind. Both processes start with the usual
soft limit of 1024 open files, so each must raise it itself to hold 1024+ sockets.

Usage: test_serve_load.py --atom PATH --data tests/data
"""
import http.client
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import unittest

from atom_server import AtomServer, parse_args, run_tests

ARGS = None
SERVER = None
PORT = None


def low_open_file_limit():
    """Runs in the child before exec: the common default soft limit, hard limit untouched."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


def start_server():
    global SERVER, PORT
    SERVER = AtomServer(ARGS.atom, "demo", "--max-num-seqs", "256", "--max-model-len", "4096",
                        preexec_fn=low_open_file_limit)
    PORT = SERVER.port


def request(method, path, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, data


def metrics():
    _, text = request("GET", "/metrics")
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(atom:[a-z_]+) (\S+)$", text, re.M)}


def wait_idle(seconds):
    """Polls until nothing runs, waits or holds KV blocks; returns the last metrics seen."""
    deadline = time.time() + seconds
    while True:
        m = metrics()
        idle = (m.get("atom:num_requests_running") == 0 and
                m.get("atom:num_requests_waiting") == 0 and
                m.get("atom:kv_cache_blocks_used") == 0)
        if idle or time.time() > deadline:
            return idle, m
        time.sleep(0.1)


def bench(*flags, timeout):
    """Runs `atom bench serve` against the server; returns (exit code, stdout, JSON report)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        start = time.time()
        proc = subprocess.run(
            [ARGS.atom, "bench", "serve", "--url", f"http://127.0.0.1:{PORT}",
             "--json-out", out, *map(str, flags)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
            preexec_fn=low_open_file_limit)
        print(f"\n$ atom bench serve {' '.join(map(str, flags))}  ({time.time() - start:.1f} s)")
        print(proc.stdout, end="")
        if proc.stderr:
            print(proc.stderr, end="", file=sys.stderr)
        report = None
        if os.path.exists(out):
            with open(out) as f:
                report = json.load(f)
        return proc.returncode, proc.stdout, report


class ServeLoadTest(unittest.TestCase):
    def test_1_thousand_concurrent_streams(self):
        code, out, report = bench("--concurrency", 1024, "--num-prompts", 1024,
                                  "--input-len", 32, "--output-len", 16, timeout=150)
        self.assertIsNotNone(report, out)
        self.assertEqual(report["failed"], 0, report["errors"][:5])
        self.assertEqual(report["completed"], 1024)
        self.assertEqual(report["total_output_tokens"], 1024 * 16)
        self.assertEqual(report["total_input_tokens"], 1024 * 32)
        self.assertEqual(code, 0)
        idle, m = wait_idle(5)
        self.assertTrue(idle, f"requests or KV blocks left behind: {m}")

    def test_2_clients_disconnecting_mid_stream(self):
        code, out, report = bench("--concurrency", 200, "--num-prompts", 200,
                                  "--input-len", 32, "--output-len", 2000,
                                  "--disconnect-after", 2, timeout=120)
        self.assertIsNotNone(report, out)
        self.assertEqual(report["disconnected"], 200, report["errors"][:5])
        self.assertEqual(report["failed"], 0)
        self.assertEqual(code, 0)
        idle, m = wait_idle(5)
        self.assertTrue(idle, f"aborted requests or their KV blocks left behind: {m}")
        status, body = request("POST", "/v1/completions",
                               {"prompt": "hello", "max_tokens": 4, "temperature": 0})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["usage"]["completion_tokens"], 4)


if __name__ == "__main__":
    ARGS, rest = parse_args()
    started = time.time()
    start_server()
    try:
        run_tests(rest, [SERVER])
    finally:
        print(f"total {time.time() - started:.1f} s; server log: {SERVER.log_path}")
