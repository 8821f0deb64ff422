"""End-to-end: `atom serve` on the bundled demo model, driven over HTTP with the standard library.

Usage: test_serve.py --atom PATH --data tests/data
"""
import http.client
import json
import random
import re
import socket
import subprocess
import time
import unittest

from atom_server import AtomServer, parse_args, run_tests

ARGS = None
SERVER = None
PORT = None
KEY = "test-key"


def start_server():
    global SERVER, PORT
    SERVER = AtomServer(ARGS.atom, "demo", "--api-key", KEY, "--max-model-len", "4096")
    PORT = SERVER.port


def request(method, path, body=None, key=KEY, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body,
                 headers=headers)
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, data


def metric(name):
    _, text = request("GET", "/metrics")
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_idle():
    for _ in range(100):
        if metric("atom:num_requests_running") == 0 and metric("atom:kv_cache_blocks_used") == 0:
            return True
        time.sleep(0.1)
    return False


CHAT = {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "max_tokens": 8,
        "temperature": 0}


class ServeTest(unittest.TestCase):
    def test_health_version_models(self):
        self.assertEqual(request("GET", "/health", key=None)[0], 200)
        self.assertEqual(json.loads(request("GET", "/version")[1])["version"], "0.1.0")
        models = json.loads(request("GET", "/v1/models")[1])
        self.assertEqual(models["data"][0]["id"], "demo")

    def test_chat_non_streaming(self):
        status, body = request("POST", "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200, body)
        out = json.loads(body)
        self.assertEqual(out["object"], "chat.completion")
        self.assertEqual(out["choices"][0]["finish_reason"], "length")
        self.assertEqual(out["usage"]["completion_tokens"], 8)
        self.assertEqual(out["usage"]["prompt_tokens"], 64)  # spec Example A
        # Greedy and deterministic: the same request gives the same answer.
        self.assertEqual(json.loads(request("POST", "/v1/chat/completions", CHAT)[1])
                         ["choices"][0]["message"], out["choices"][0]["message"])

    def test_chat_streaming_sse_framing(self):
        status, body = request("POST", "/v1/chat/completions",
                               dict(CHAT, stream=True, stream_options={"include_usage": True}))
        self.assertEqual(status, 200)
        events = body.split("\n\n")
        self.assertEqual(events[-1], "")
        self.assertEqual(events[-2], "data: [DONE]")
        chunks = [json.loads(e[len("data: "):]) for e in events[:-2]]
        self.assertTrue(all(e.startswith("data: ") for e in events[:-1]))
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "length")
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 8)
        streamed = "".join(c["choices"][0]["delta"].get("content") or ""
                           for c in chunks if c["choices"])
        whole = json.loads(request("POST", "/v1/chat/completions", CHAT)[1])
        self.assertEqual(streamed, whole["choices"][0]["message"]["content"] or "")

    def test_curl_sse_framing(self):
        """curl -N, as users run it: every event is one `data: ` line and a blank line, the
        stream ends with `data: [DONE]`, and the chunks arrive as separate events."""
        for path, body in [("/v1/chat/completions", dict(CHAT, stream=True)),
                           ("/v1/completions", {"prompt": "hello", "max_tokens": 5,
                                                "stream": True})]:
            out = subprocess.run(
                ["curl", "-sSN", "--fail-with-body", "-i", f"http://127.0.0.1:{PORT}{path}",
                 "-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json",
                 "-d", json.dumps(body)], capture_output=True, timeout=60, check=True)
            head, _, stream = out.stdout.decode().partition("\r\n\r\n")
            self.assertIn("content-type: text/event-stream", head.lower())
            self.assertIn("transfer-encoding: chunked", head.lower())
            events = stream.split("\n\n")
            self.assertEqual(events[-2:], ["data: [DONE]", ""], path)
            for e in events[:-2]:
                self.assertTrue(e.startswith("data: {") and "\n" not in e, e)
                json.loads(e[len("data: "):])
            self.assertGreater(len(events), 4, path)

    def test_completions_prompt_forms(self):
        for prompt in ["hello", ["hello", "world"], [24912, 2375], [[24912], [2375, 11]]]:
            status, body = request("POST", "/v1/completions",
                                   {"prompt": prompt, "max_tokens": 3, "temperature": 0})
            self.assertEqual(status, 200, body)
            n = len(prompt) if isinstance(prompt, list) and not isinstance(prompt[0], int) else 1
            self.assertEqual(len(json.loads(body)["choices"]), n)

    def test_error_statuses(self):
        self.assertEqual(request("GET", "/v1/models", key=None)[0], 401)
        self.assertEqual(request("GET", "/v1/models", key="wrong")[0], 401)
        status, body = request("POST", "/v1/chat/completions",
                               {"messages": [{"role": "robot", "content": "x"}]})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["param"], "messages[0].role")
        self.assertEqual(request("POST", "/v1/chat/completions", "{not json")[0], 400)
        self.assertEqual(request("POST", "/v1/chat/completions", dict(CHAT, model="nope"))[0], 404)
        self.assertEqual(request("POST", "/v1/completions",
                                 {"prompt": "x", "suffix": "y"})[0], 400)
        long_prompt = {"prompt": [1] * 5000, "max_tokens": 1}
        self.assertEqual(request("POST", "/v1/completions", long_prompt)[0], 400)
        self.assertEqual(request("GET", "/no/such/route")[0], 404)
        self.assertEqual(request("POST", "/v1/chat/completions", "x" * (17 << 20))[0], 413)

    def test_client_disconnect_frees_everything(self):
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", PORT))
            body = json.dumps(dict(CHAT, max_tokens=2000, stream=True, ignore_eos=True))
            s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
            s.recv(100)  # the stream has started
            s.close()
        self.assertTrue(wait_idle(), "requests or KV blocks left behind")
        self.assertEqual(request("POST", "/v1/chat/completions", CHAT)[0], 200)

    def test_garbage_does_not_take_the_server_down(self):
        junk = [b"\x00\xff" * 100,                                     # random bytes
                bytes(random.Random(1).randrange(256) for _ in range(5000)),
                b"GET / HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n",  # a huge header
                b"GARBAGE /\x01 HTTP/9.9\r\n\r\n",                        # malformed request line
                b"POST /v1/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\xc3\x28",
                b"POST /v1/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]
        for data in junk:
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(data)
            s.close()
        # Requests sent halfway and held open do not block anyone else.
        held = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"mes")
            held.append(s)
        self.assertEqual(request("POST", "/v1/chat/completions", CHAT)[0], 200)
        for s in held:
            s.close()
        # Invalid UTF-8 inside a JSON string is a 400 naming the field, not a crash.
        body = b'{"messages": [{"role": "user", "content": "\xff\xfe"}], "max_tokens": 2}'
        status, text = request("POST", "/v1/chat/completions", body)
        self.assertEqual(status, 400, text)
        self.assertEqual(request("POST", "/v1/chat/completions", CHAT)[0], 200)


if __name__ == "__main__":
    ARGS, rest = parse_args()
    start_server()
    run_tests(rest, [SERVER])
