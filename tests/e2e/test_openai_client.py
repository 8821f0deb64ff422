"""End-to-end: the official `openai` Python client against real `atom serve` processes.

Two servers: the bundled demo model (random weights: gibberish text, but real shapes, sampling
and streaming), and a CorpusLookupForCausalLM model built here from Harmony transcripts, which
answers like a real gpt-oss would — reasoning, a tool call, an answer after the tool's result — so
reasoning_content and a whole tool-call round trip go through the real engine, sampler and parser.

Usage: test_openai_client.py --atom PATH --data tests/data
"""
import json
import os
import shutil
import struct
import tempfile
import time
import unittest
import urllib.request

import openai

from atom_server import AtomServer, parse_args, run_tests

ARGS = None
KEY = "sk-test"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL_CALL_ID = "call_0"  # what the client sends back; the server's own ids are checked separately

# The transcripts the scripted model learns: (request messages, tools, the model's Harmony reply).
SCRIPT = [
    (QUESTION, None,
     "<|channel|>analysis<|message|>Simple arithmetic.<|end|>"
     "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"),
    (WEATHER, [WEATHER_TOOL],
     "<|channel|>analysis<|message|>Need the weather; call get_weather.<|end|>"
     "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
     "<|message|>{\"city\": \"Paris\"}<|call|>"),
]
TOOL_RESULT = json.dumps({"temperature_c": 21})
FINAL_ANSWER = "It is 21 °C in Paris."


def second_turn(tool_call_id):
    """The weather conversation after the tool ran, as a client sends it back."""
    return WEATHER + [
        {"role": "assistant", "content": None,
         "reasoning_content": "Need the weather; call get_weather.",
         "tool_calls": [{"id": tool_call_id, "type": "function",
                         "function": {"name": "get_weather",
                                      "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": tool_call_id, "content": TOOL_RESULT},
    ]


SCRIPT.append((second_turn(TOOL_CALL_ID), [WEATHER_TOOL],
               "<|channel|>analysis<|message|>21 degrees.<|end|>"
               f"<|start|>assistant<|channel|>final<|message|>{FINAL_ANSWER}<|return|>"))


class Server(AtomServer):
    """A server behind --api-key, with the clients the tests use."""

    def __init__(self, name, *args):
        super().__init__(ARGS.atom, name, *args, "--api-key", KEY)

    def client(self, **kwargs):
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.url + "/v1", **kwargs)

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {KEY}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())


def build_scripted_model(demo, demo_dir, out_dir):
    """A CorpusLookupForCausalLM whose corpus is SCRIPT, tokenized by the demo server (same
    tokenizer): each rendered request followed by the reply."""
    corpus = []
    for messages, tools, reply in SCRIPT:
        body = {"model": "demo", "messages": messages}
        if tools:
            body["tools"] = tools
        corpus += demo.post("/tokenize", body)["tokens"]
        corpus += demo.post("/tokenize", {"model": "demo", "prompt": reply})["tokens"]
    os.makedirs(out_dir, exist_ok=True)
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "generation_config.json"]:
        shutil.copy(os.path.join(demo_dir, name), out_dir)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump({"architectures": ["CorpusLookupForCausalLM"], "vocab_size": 201088,
                   "hidden_size": 1, "num_hidden_layers": 1, "num_attention_heads": 1,
                   "max_position_embeddings": 8192, "eos_token_id": [200002, 199999]}, f)
    header = json.dumps({"corpus": {"dtype": "I32", "shape": [len(corpus)],
                                    "data_offsets": [0, 4 * len(corpus)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + struct.pack(f"<{len(corpus)}i", *corpus))


def chat_text(stream):
    """(reasoning, content, finish_reason, usage, tool call deltas) from a chat stream."""
    reasoning, content, finish, usage, calls = "", "", None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
            calls += delta.tool_calls or []
            finish = choice.finish_reason or finish
    return reasoning, content, finish, usage, calls


class DemoModelTest(unittest.TestCase):
    """Shapes, sampling and streaming on the demo model (its text is random)."""

    def setUp(self):
        self.client = DEMO.client()

    def test_models(self):
        self.assertEqual([m.id for m in self.client.models.list()], ["demo"])

    def test_chat_non_streaming(self):
        r = self.client.chat.completions.create(model="demo", messages=QUESTION, max_tokens=8,
                                                temperature=0)
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 8)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + 8)

    def test_chat_streaming_equals_non_streaming(self):
        whole = self.client.chat.completions.create(model="demo", messages=QUESTION,
                                                    max_tokens=12, temperature=0)
        stream = self.client.chat.completions.create(
            model="demo", messages=QUESTION, max_tokens=12, temperature=0, stream=True,
            stream_options={"include_usage": True})
        reasoning, content, finish, usage, _ = chat_text(stream)
        message = whole.choices[0].message
        self.assertEqual(content, message.content or "")
        self.assertEqual(reasoning, getattr(message, "reasoning_content", None) or "")
        self.assertEqual(finish, "length")
        self.assertEqual(usage.completion_tokens, 12)
        self.assertEqual(usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_completions_every_prompt_form(self):
        for prompt, n in [("hello", 1), (["hello", "world", "again"], 3), ([24912, 2375], 1),
                          ([[24912], [2375, 11]], 2)]:
            r = self.client.completions.create(model="demo", prompt=prompt, max_tokens=3,
                                               temperature=0)
            self.assertEqual([c.index for c in r.choices], list(range(n)), prompt)
            self.assertTrue(all(c.finish_reason == "length" for c in r.choices))
            self.assertEqual(r.usage.completion_tokens, 3 * n)
        # A prompt given as text and as its token ids is the same prompt.
        ids = DEMO.post("/tokenize", {"model": "demo", "prompt": "hello world"})["tokens"]
        as_text = self.client.completions.create(model="demo", prompt="hello world",
                                                 max_tokens=5, temperature=0)
        as_ids = self.client.completions.create(model="demo", prompt=ids, max_tokens=5,
                                                temperature=0)
        self.assertEqual(as_text.choices[0].text, as_ids.choices[0].text)

    def test_completions_streaming(self):
        whole = self.client.completions.create(model="demo", prompt="hello", max_tokens=6,
                                               temperature=0)
        text = "".join(c.choices[0].text for c in self.client.completions.create(
            model="demo", prompt="hello", max_tokens=6, temperature=0, stream=True)
                       if c.choices)
        self.assertEqual(text, whole.choices[0].text)

    def test_n_choices(self):
        r = self.client.chat.completions.create(model="demo", messages=QUESTION, max_tokens=6,
                                                n=3, temperature=1.0, seed=7)
        self.assertEqual(sorted(c.index for c in r.choices), [0, 1, 2])
        self.assertEqual(r.usage.completion_tokens, 18)

    def test_logprobs(self):
        r = self.client.chat.completions.create(model="demo", messages=QUESTION, max_tokens=5,
                                                temperature=0, logprobs=True, top_logprobs=3)
        entries = r.choices[0].logprobs.content
        self.assertEqual(len(entries), 5)
        for e in entries:
            self.assertEqual(len(e.top_logprobs), 3)
            self.assertLessEqual(e.logprob, 0.0)
            # Greedy: the chosen token is the most likely one.
            self.assertAlmostEqual(e.logprob, e.top_logprobs[0].logprob, places=4)
        c = self.client.completions.create(model="demo", prompt="hello", max_tokens=4,
                                           temperature=0, logprobs=2)
        self.assertEqual(len(c.choices[0].logprobs.tokens), 4)
        self.assertTrue(all(len(t) == 2 for t in c.choices[0].logprobs.top_logprobs))

    def test_stop_string(self):
        text = self.client.completions.create(model="demo", prompt="hello", max_tokens=24,
                                              temperature=0, extra_body={"ignore_eos": True}
                                              ).choices[0].text
        self.assertGreater(len(text), 8)
        stop = text[len(text) // 2:len(text) // 2 + 3]
        r = self.client.completions.create(model="demo", prompt="hello", max_tokens=24,
                                           temperature=0, stop=[stop],
                                           extra_body={"ignore_eos": True})
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].text, text[:text.index(stop)])

    def test_seeded_sampling_is_reproducible(self):
        def sample(seed):
            return self.client.completions.create(
                model="demo", prompt="hello", max_tokens=16, temperature=1.0, seed=seed,
                extra_body={"ignore_eos": True}).choices[0].text
        self.assertEqual(sample(42), sample(42))
        self.assertNotEqual(sample(42), sample(43))

    def test_error_statuses(self):
        with self.assertRaises(openai.AuthenticationError):
            DEMO.client(api_key="wrong").models.list()
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="nope", messages=QUESTION)
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model="demo", messages=QUESTION, temperature=-1)
        self.assertEqual(e.exception.body["param"], "temperature")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model="demo", messages=[{"role": "user"}])
        self.assertIn("messages[0]", e.exception.body["param"])
        with self.assertRaises(openai.BadRequestError) as e:  # over the context
            self.client.completions.create(model="demo", prompt=[11] * 5000, max_tokens=1)
        self.assertIn("context", e.exception.message)
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="demo", prompt="x", suffix="y")
        with self.assertRaises(openai.APIStatusError) as e:
            self.client.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "x" * (17 << 20)}])
        self.assertEqual(e.exception.status_code, 413)

    def test_overload_is_503_with_retry_after(self):
        busy = BUSY.client()
        stream = busy.chat.completions.create(model="busy", messages=QUESTION, max_tokens=4000,
                                              stream=True, extra_body={"ignore_eos": True})
        next(iter(stream))  # the one allowed request is running
        with self.assertRaises(openai.InternalServerError) as e:
            busy.chat.completions.create(model="busy", messages=QUESTION, max_tokens=4)
        self.assertEqual(e.exception.status_code, 503)
        self.assertEqual(e.exception.response.headers["retry-after"], "1")
        stream.close()
        # Once the stream is gone its request is aborted and the server takes work again.
        deadline = time.time() + 10
        while True:
            try:
                busy.chat.completions.create(model="busy", messages=QUESTION, max_tokens=2)
                break
            except openai.InternalServerError:
                self.assertLess(time.time(), deadline, "the aborted request was never freed")
                time.sleep(0.1)


class ScriptedModelTest(unittest.TestCase):
    """Reasoning and tools, on the model that answers from its Harmony transcripts."""

    def setUp(self):
        self.client = SCRIPTED.client()

    def test_reasoning_and_content(self):
        r = self.client.chat.completions.create(model="scripted", messages=QUESTION)
        message = r.choices[0].message
        self.assertEqual(message.reasoning_content, "Simple arithmetic.")
        self.assertEqual(message.content, "2 + 2 = 4.")
        self.assertEqual(r.choices[0].finish_reason, "stop")
        reasoning, content, finish, usage, _ = chat_text(self.client.chat.completions.create(
            model="scripted", messages=QUESTION, stream=True,
            stream_options={"include_usage": True}))
        self.assertEqual((reasoning, content, finish), ("Simple arithmetic.", "2 + 2 = 4.", "stop"))
        self.assertEqual(usage.completion_tokens, r.usage.completion_tokens)

    def test_tool_call_round_trip(self):
        r = self.client.chat.completions.create(model="scripted", messages=WEATHER,
                                                tools=[WEATHER_TOOL])
        choice = r.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertEqual(choice.message.reasoning_content, "Need the weather; call get_weather.")
        [call] = choice.message.tool_calls
        self.assertTrue(call.id)
        self.assertEqual(call.type, "function")
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "Paris"})

        # The same call, streamed: name first, then the arguments in pieces.
        _, content, finish, _, deltas = chat_text(self.client.chat.completions.create(
            model="scripted", messages=WEATHER, tools=[WEATHER_TOOL], stream=True))
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(content, "")
        self.assertEqual(deltas[0].function.name, "get_weather")
        self.assertTrue(deltas[0].id)
        arguments = "".join(d.function.arguments or "" for d in deltas)
        self.assertEqual(json.loads(arguments), {"city": "Paris"})

        # Back with the tool's result: the model answers (only if the server rendered the
        # assistant's reasoning, its call and the tool message exactly as in the transcript).
        r = self.client.chat.completions.create(model="scripted", messages=second_turn(call.id),
                                                tools=[WEATHER_TOOL])
        self.assertEqual(r.choices[0].message.content, FINAL_ANSWER)
        self.assertEqual(r.choices[0].finish_reason, "stop")

    def test_tool_choice_none_hides_the_tools(self):
        def prompt_tokens(**kwargs):
            return self.client.chat.completions.create(
                model="scripted", messages=WEATHER, max_tokens=1, **kwargs).usage.prompt_tokens
        without_tools = prompt_tokens()
        self.assertGreater(prompt_tokens(tools=[WEATHER_TOOL]), without_tools)
        self.assertEqual(prompt_tokens(tools=[WEATHER_TOOL], tool_choice="none"), without_tools)


def main():
    global ARGS, DEMO, SCRIPTED, BUSY
    ARGS, rest = parse_args()
    demo_dir = os.path.join(os.path.dirname(os.path.abspath(ARGS.atom)), "models", "gpt-oss-demo")
    scripted_dir = tempfile.mkdtemp(prefix="atom-scripted-model-")
    servers = []
    try:
        DEMO = Server("demo", "--max-model-len", "4096")
        servers.append(DEMO)
        BUSY = Server("busy", "--max-pending-requests", "1")
        servers.append(BUSY)
        build_scripted_model(DEMO, demo_dir, scripted_dir)
        SCRIPTED = Server("scripted", scripted_dir)
        servers.append(SCRIPTED)
    except BaseException:
        for s in servers:
            s.stop()
        raise
    try:
        run_tests(rest, servers)
    finally:
        shutil.rmtree(scripted_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
