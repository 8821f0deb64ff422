"""End-to-end: the chat page at `GET /`, loaded in headless Chromium against `atom serve` on the
bundled demo model. The page's `?q=` hook sends the first message and the test types the second;
each streamed reply in the page's DOM must equal what a direct non-streaming request returns
(greedy decoding is deterministic). Leaves a screenshot in <build>/tests/output/chat_page.png.

Chromium is driven over the DevTools protocol on --remote-debugging-pipe (NUL-terminated JSON on
fds 3 and 4, so the standard library suffices), in real time: --dump-dom with
--virtual-time-budget dumps the page while the reply is still streaming, because virtual time only
waits for response headers, not for a fetch body read through a ReadableStream.

Usage: test_chat_page.py --atom PATH --data tests/data   (needs `chromium`: scripts/setup.sh)
"""
import base64
import html.parser
import http.client
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

from atom_server import AtomServer, parse_args, run_tests

ARGS = None
SERVER = None
PORT = None
FIRST = "What is 2 + 2?"
PAGE_QUERY = "?q=What+is+2+%2B+2%3F&max_tokens=24&temperature=0"
SAMPLING = {"max_tokens": 24, "temperature": 0}
TIMEOUT = 60


def start_server():
    global SERVER, PORT
    SERVER = AtomServer(ARGS.atom, "demo", "--max-model-len", "4096")
    PORT = SERVER.port


def request(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, resp.getheader("Content-Type", ""), data


def direct_reply(messages):
    status, _, body = request("POST", "/v1/chat/completions", dict(SAMPLING, messages=messages))
    if status != 200:
        raise AssertionError(f"direct request failed with {status}: {body}")
    return json.loads(body)["choices"][0]["message"]


class Chromium:
    """Headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self):
        binary = shutil.which("chromium")
        if binary is None:
            raise AssertionError("the `chromium` binary is missing: run scripts/setup.sh")
        self._profile = tempfile.TemporaryDirectory(prefix="atom-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def pipe_fds():  # Chromium reads commands on fd 3 and writes replies to fd 4
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)  # clear of fds 3 and 4
            os.dup2(r, 3)
            os.dup2(w, 4)

        self._log = tempfile.NamedTemporaryFile(prefix="atom-chromium-", suffix=".log")
        self._proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + self._profile.name,
             "--remote-debugging-pipe", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, close_fds=False, preexec_fn=pipe_fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
        self.page("Emulation.setDeviceMetricsOverride", width=1000, height=800,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, session=None, **params):
        """Sends one command and returns its result; events in between are dropped."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + TIMEOUT
        while True:
            while b"\0" not in self._buffer:
                if not select.select([self._from_browser], [], [], deadline - time.time())[0]:
                    raise AssertionError(f"chromium did not answer {method}")
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise AssertionError(f"chromium quit during {method}: {self.log()}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    def page(self, method, **params):
        return self.call(method, self._session, **params)

    def evaluate(self, expression):
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression):
        """Polls a JS expression until it is truthy; returns the page's data-state then."""
        deadline = time.time() + TIMEOUT
        while not self.evaluate(expression):
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}: {self.dom()[-3000:]}")
            time.sleep(0.05)
        return self.evaluate("document.body.dataset.state")

    def dom(self):
        return self.evaluate("document.documentElement.outerHTML")

    def key(self, key, code, modifiers=0, text=""):
        for kind in ("keyDown", "keyUp"):
            self.page("Input.dispatchKeyEvent", type=kind, key=key, code=code,
                      windowsVirtualKeyCode=13, modifiers=modifiers,
                      text=text if kind == "keyDown" else "")

    def log(self):
        with open(self._log.name, errors="replace") as f:
            return f.read()[-2000:]

    def close(self):
        try:
            self.call("Browser.close")
            self._proc.wait(timeout=10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()
        self._profile.cleanup()


class DomReader(html.parser.HTMLParser):
    """Collects <body data-state> and the text (entities decoded) of elements with given ids."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self, ids):
        super().__init__(convert_charrefs=True)
        self.text = {}
        self.state = None
        self._ids = set(ids)
        self._open = []  # [id, depth] of the wanted elements we are inside

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.state = attrs.get("data-state")
        if tag in self.VOID:
            return
        for entry in self._open:
            entry[1] += 1
        if attrs.get("id") in self._ids:
            self.text[attrs["id"]] = ""
            self._open.append([attrs["id"], 1])

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        for entry in self._open:
            entry[1] -= 1
        self._open = [entry for entry in self._open if entry[1] > 0]

    def handle_data(self, data):
        for element_id, _ in self._open:
            self.text[element_id] += data


def screenshot_path():
    """<build>/tests/output/chat_page.png, where <build> holds the atom binary under test."""
    out = os.path.join(os.path.dirname(os.path.abspath(ARGS.atom)), "tests", "output")
    os.makedirs(out, exist_ok=True)
    return os.path.join(out, "chat_page.png")


class ChatPageTest(unittest.TestCase):
    def test_page_is_self_contained_html(self):
        status, content_type, body = request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/html"), content_type)
        self.assertIn("<textarea", body)
        self.assertIsNone(re.search(r"https?://", body),
                          "the page must not reference external resources")

    def assert_reply(self, dom, message):
        """The serialised DOM's #last-answer / #last-reasoning hold exactly the direct reply."""
        reader = DomReader(["last-answer", "last-reasoning"])
        reader.feed(dom)
        self.assertEqual(reader.state, "done", dom[-3000:])
        self.assertIn("last-answer", reader.text, dom[-3000:])
        self.assertEqual(reader.text["last-answer"], message["content"] or "")
        self.assertEqual(reader.text.get("last-reasoning", ""), message["reasoning_content"] or "")
        self.assertTrue(message["content"] or message["reasoning_content"],
                        "the demo model said nothing: the comparison would be vacuous")

    def test_conversation_in_headless_chromium(self):
        browser = Chromium()
        try:
            # Turn 1: sent by the page itself from ?q= once the model list has loaded.
            browser.page("Page.navigate", url=f"http://127.0.0.1:{PORT}/{PAGE_QUERY}")
            replies = "document.querySelectorAll('.assistant').length"
            settled = "['done', 'error'].includes(document.body.dataset.state)"
            browser.wait_for(f"{replies} == 1 && {settled}")
            first = direct_reply([{"role": "user", "content": FIRST}])
            self.assert_reply(browser.dom(), first)

            # Turn 2: typed, Shift+Enter for a newline, Enter to send; the page resends turn 1.
            second = "And 3 + 3?\nThanks."
            browser.evaluate("document.getElementById('input').focus()")
            browser.page("Input.insertText", text="And 3 + 3?")
            browser.key("Enter", "Enter", modifiers=8, text="\r")  # 8: Shift
            browser.page("Input.insertText", text="Thanks.")
            self.assertEqual(browser.evaluate("document.getElementById('input').value"), second)
            browser.key("Enter", "Enter", text="\r")
            browser.wait_for(f"{replies} == 2 && {settled}")
            self.assert_reply(browser.dom(), direct_reply([
                {"role": "user", "content": FIRST},
                {"role": "assistant", "content": first["content"] or ""},
                {"role": "user", "content": second}]))
            status = browser.evaluate("document.getElementById('status').textContent")
            self.assertRegex(status, r"\d+ prompt \+ \d+ completion tokens · [\d.]+ tok/s")

            png = base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"])
        finally:
            browser.close()
        path = screenshot_path()
        with open(path, "wb") as f:
            f.write(png)
        self.assertGreater(os.path.getsize(path), 5 * 1024, "the screenshot looks blank")


if __name__ == "__main__":
    ARGS, rest = parse_args()
    start_server()
    run_tests(rest, [SERVER])
