#include "server/chat_page.h"

namespace atom {

// One document, no external resources: it must work offline and behind any proxy. Model output is
// only ever put into the DOM through textContent. Automation contract (test_chat_page.py):
// `?q=TEXT[&max_tokens=N][&temperature=T]` sends TEXT once the model list has loaded;
// body[data-state] goes loading -> ready -> busy -> done | error; the newest reply's answer text
// is #last-answer and its reasoning text #last-reasoning.
std::string_view ChatPageHtml() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atom.cpp chat</title>
<style>
:root { --bg: #f6f7f9; --panel: #fff; --text: #1d2330; --muted: #667085; --line: #dde1e8;
  --accent: #2f6fde; --on-accent: #fff; --user: #e8f0fe; --think: #f3f0fa; --think-line: #b9a8e0;
  --err: #b42318; --err-bg: #fef3f2; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181e; --panel: #1d2129; --text: #e6e8ec; --muted: #98a2b3; --line: #323844;
    --accent: #6d9cf0; --on-accent: #0d1526; --user: #233250; --think: #262236;
    --think-line: #6c5a9c; --err: #f97066; --err-bg: #3a1d1b; }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, footer { background: var(--panel); border-color: var(--line); padding: 10px 20px; }
header { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: center;
  border-bottom: 1px solid var(--line); }
header h1 { font-size: 17px; margin: 0 auto 0 0; }
header label { display: flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); }
select, input, textarea, button { font: inherit; color: inherit; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
[aria-invalid="true"] { border-color: var(--err); }
main { flex: 1; overflow-y: auto; padding: 20px; }
#log { max-width: 820px; margin: 0 auto; display: flex; flex-direction: column; gap: 14px; }
.msg { padding: 10px 14px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
.user { align-self: flex-end; max-width: 80%; background: var(--user); }
.assistant { align-self: stretch; background: var(--panel); border: 1px solid var(--line); }
.who { font-size: 12px; font-weight: 600; color: var(--muted); margin-bottom: 4px; }
.answer:empty::before { content: "\2026"; color: var(--muted); }
details { background: var(--think); border-left: 3px solid var(--think-line); border-radius: 4px;
  padding: 4px 10px; margin-bottom: 8px; font-size: 13px; color: var(--muted); }
summary { cursor: pointer; font-weight: 600; }
.reasoning { font-style: italic; margin-top: 4px; }
.error { background: var(--err-bg); color: var(--err); border: 1px solid var(--err); }
footer { border-top: 1px solid var(--line); }
form { max-width: 820px; margin: 0 auto; display: flex; gap: 8px; align-items: flex-end; }
textarea { flex: 1; resize: vertical; min-height: 44px; max-height: 40vh; }
button { cursor: pointer; padding: 8px 16px; }
button.primary { background: var(--accent); border-color: var(--accent);
  color: var(--on-accent); }
button:disabled { opacity: .5; cursor: default; }
#status { max-width: 820px; margin: 6px auto 0; font-size: 12px; color: var(--muted);
  min-height: 18px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>
</head>
<body data-state="loading">
<header>
  <h1>atom.cpp</h1>
  <label>Model <select id="model"></select></label>
  <label>API key <input id="key" type="password" autocomplete="off" placeholder="optional"></label>
  <button id="clear" type="button">New chat</button>
</header>
<main><div id="log" role="log" aria-live="polite" aria-label="Conversation"></div></main>
<footer>
  <form id="form">
    <label for="input" class="sr-only">Message</label>
    <textarea id="input" rows="2" 
    placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
    <button id="send" class="primary" type="submit">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
  </form>
  <div id="status" role="status"></div>
</footer>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const turns = [];  // {role, content}: the conversation, sent whole with every request
let controller = null;

$("key").value = localStorage.getItem("atom.apiKey") || "";
$("key").addEventListener("change", () => {
  localStorage.setItem("atom.apiKey", $("key").value.trim());
  loadModels();
});

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function setState(state, text) {
  document.body.dataset.state = state;
  if (text !== undefined) $("status").textContent = text;
}

function add(cls, text) {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  div.textContent = text;
  $("log").appendChild(div);
  scroll();
  return div;
}

function scroll() { const m = document.querySelector("main"); m.scrollTop = m.scrollHeight; }

// Turns an error response (an OpenAI-style {"error": {...}} body or anything else) into a sentence.
async function errorText(resp) {
  if (resp.status === 401) return "Unauthorized: enter this server's API key above.";
  const body = await resp.text();
  try { return JSON.parse(body).error.message || body; } catch (e) {}
  return "HTTP " + resp.status + (body ? ": " + body : "");
}

let notice = null;  // the chat's note on why the model list did not load

async function loadModels() {
  setState("loading", "Loading models\u2026");
  notice?.remove();
  try {
    const resp = await fetch("/v1/models", {headers: headers()});
    $("key").setAttribute("aria-invalid", resp.status === 401);
    if (resp.status === 401) $("key").focus();
    if (!resp.ok) throw new Error(await errorText(resp));
    const select = $("model");
    select.replaceChildren();
    for (const m of (await resp.json()).data) select.add(new Option(m.id, m.id));
    if (!select.options.length) throw new Error("The server lists no models.");
    setState("ready", "");
  } catch (e) {
    notice = add("error", e.message);
    setState("error", e.message);
    return;
  }
  const q = params.get("q");
  params.delete("q");  // sent once; max_tokens and temperature stay for later turns
  if (q) send(q);
}

function newReply() {
  const box = add("assistant", "");
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = $("model").value;
  const details = document.createElement("details");
  details.open = true;
  details.hidden = true;
  const summary = document.createElement("summary");
  summary.textContent = "Reasoning";
  const reasoning = document.createElement("div");
  reasoning.className = "reasoning";
  details.append(summary, reasoning);
  const answer = document.createElement("div");
  answer.className = "answer";
  box.append(who, details, answer);
  for (const id of ["last-answer", "last-reasoning"]) $(id)?.removeAttribute("id");
  answer.id = "last-answer";
  reasoning.id = "last-reasoning";
  return {box, details, reasoning, answer};
}

async function send(text) {
  if (controller || !text.trim()) return;
  add("user", text);
  turns.push({role: "user", content: text});
  const body = {model: $("model").value, messages: turns, stream: true,
                stream_options: {include_usage: true}};
  for (const [name, parse] of [["max_tokens", parseInt], ["temperature", parseFloat]]) {
    const v = parse(params.get(name));
    if (!Number.isNaN(v)) body[name] = v;
  }
  const reply = newReply();
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  setState("busy", "Generating\u2026");
  const start = performance.now();
  let first = 0, usage = null;
  try {
    const resp = await fetch("/v1/chat/completions", {method: "POST", headers: headers(),
      body: JSON.stringify(body), signal: controller.signal});
    if (!resp.ok) throw new Error(await errorText(resp));
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", done = false;
    while (!done) {
      const {value, done: eof} = await reader.read();
      if (eof) break;
      buffer += value;
      const lines = buffer.split("\n");
      buffer = lines.pop();  // an incomplete line waits for the next read
      for (const line of lines) {
        if (!line.startsWith("data: ")) continue;  // blank separators, ": comments"
        const data = line.slice(6);
        if (data === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "generation failed");
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta || {};
        if (delta.reasoning_content || delta.content) first = first || performance.now();
        if (delta.reasoning_content) {
          reply.details.hidden = false;
          reply.reasoning.textContent += delta.reasoning_content;
        }
        if (delta.content) reply.answer.textContent += delta.content;
        scroll();
      }
    }
    reader.cancel().catch(() => {});
    if (!done) throw new Error("the connection closed before the reply finished");
    turns.push({role: "assistant", content: reply.answer.textContent});
    setState("done", stats(usage, start, first));
  } catch (e) {
    if (!reply.box.isConnected) return;  // "New chat" cleared the conversation meanwhile
    const stopped = e.name === "AbortError";
    if (stopped && reply.answer.textContent) {
      turns.push({role: "assistant", content: reply.answer.textContent});
    } else {
      turns.pop();  // no answer: the failed turn is not resent with the next message
    }
    if (!reply.answer.textContent && reply.details.hidden) reply.box.remove();
    add("error", stopped ? "Stopped." : "Error: " + (e.message || e));
    setState(stopped ? "done" : "error", stopped ? "Stopped." : "Request failed.");
  } finally {
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

function stats(usage, start, first) {
  const now = performance.now();
  first = first || now;
  if (!usage) return "Done in " + ((now - start) / 1000).toFixed(2) + " s";
  const n = usage.completion_tokens;
  // Decode speed: the tokens after the first one over the time since it arrived.
  const rate = n > 1 && now > first ? (n - 1) / ((now - first) / 1000) : 0;
  return usage.prompt_tokens + " prompt + " + n + " completion tokens \u00b7 " +
         rate.toFixed(1) + " tok/s \u00b7 " + ((first - start) / 1000).toFixed(2) +
         " s to first token";
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value;
  if (controller || !text.trim()) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("form").requestSubmit();
  }
});
$("stop").addEventListener("click", () => controller?.abort());
$("clear").addEventListener("click", () => {
  controller?.abort();
  turns.length = 0;
  $("log").replaceChildren();
  if ($("model").options.length) setState("ready", "");
  $("input").focus();
});
loadModels();
</script>
</body>
</html>
)html";
}

}  // namespace atom
