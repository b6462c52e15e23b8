#!/usr/bin/env python3
"""The Vercel AI SDK's useChat against POST /api/chat, through lighttpd
against the replay provider: the request useChat sends is recognised and
translated, and the answer is a UI message stream v1 that the SDK's own
client code (DefaultChatTransport + readUIMessageStream, tests/clients-ai/)
accepts, for the oldest 5.x (5.0.0, strict schemas) and the latest release.
Also the raw chunk sequence, checked against ai@5.0.0's chunk schema."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CLIENT_DIR = os.path.join(ROOT, "tests", "clients-ai")
PKGS = ("ai-5.0.0", "ai-latest")
TEXT = "openai-chat-text-usage"
TOOL = "openai-chat-tool-call"
CLAUDE = "claude-tools"               # anthropic-tool-use via [model]
DROP = "gen-10+drop:5"
STALL = "gen-3+stall-first:3500"     # keep-alives (every 1 s) first
S = {}

# ai@5.0.0's uiMessageChunkSchema (strict objects): the fields each chunk
# type may carry (docs/notes/clients-wire-formats.md).
SCHEMA_5_0_0 = {
    "start": {"type", "messageId", "messageMetadata"},
    "start-step": {"type"},
    "text-start": {"type", "id", "providerMetadata"},
    "text-delta": {"type", "id", "delta", "providerMetadata"},
    "text-end": {"type", "id", "providerMetadata"},
    "reasoning-start": {"type", "id", "providerMetadata"},
    "reasoning-delta": {"type", "id", "delta", "providerMetadata"},
    "reasoning-end": {"type", "id", "providerMetadata"},
    "tool-input-start": {"type", "toolCallId", "toolName", "providerExecuted", "dynamic"},
    "tool-input-available": {"type", "toolCallId", "toolName", "input",
                             "providerExecuted", "providerMetadata", "dynamic"},
    "finish-step": {"type"},
    "finish": {"type", "messageMetadata"},
    "error": {"type", "errorText"},
}
REQUIRED = {"text-start": {"id"}, "text-delta": {"id", "delta"}, "text-end": {"id"},
            "tool-input-start": {"toolCallId", "toolName"},
            "tool-input-available": {"toolCallId", "toolName", "input"},
            "error": {"errorText"}}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(None, name="aisdk", settings=stack.settings([TEXT, TOOL, DROP, STALL]) + [
        ("[upstream claude]", None),
        ("provider", "anthropic"),
        ("base_url", stack.replay.base_url),
        ("api_key_file", stack.key_path),
        ("[model %s]" % CLAUDE, None),
        ("upstream", "claude"),
        ("upstream_model", "anthropic-tool-use"),
    ])
    S["api"] = "http://127.0.0.1:%d/api/chat" % S["lt"].port


def user(text, tag=None, mid="u1"):
    t = ("tag:%s %s" % (tag, text)) if tag else text
    return {"id": mid, "role": "user", "parts": [{"type": "text", "text": t}]}


def ui_body(messages, model=None, trigger="submit-message", message_id=None):
    """What DefaultChatTransport POSTs."""
    b = {"id": "chat-1", "messages": messages, "trigger": trigger}
    if message_id:
        b["messageId"] = message_id
    if model:
        b["model"] = model
    return b


def post_raw(body):
    return S["lt"].post("/api/chat", json.dumps(body))


def run_client(pkg, messages, model=None, trigger="submit-message", message_id=None):
    """The AI SDK client's view: {message, errors, thrown}."""
    arg = {"pkg": pkg, "api": S["api"], "chatId": "chat-1", "trigger": trigger,
           "messageId": message_id, "messages": messages,
           "body": {"model": model} if model else None}
    p = subprocess.run(["node", "ui_client.mjs", json.dumps(arg)], cwd=CLIENT_DIR,
                       capture_output=True, text=True, timeout=60)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"message": None, "errors": [], "thrown": {"name": "node",
                "message": "exit %d: %s" % (p.returncode, p.stderr[-600:])}}


def chunks(r):
    """The raw body split into SSE events: the JSON chunks, and whether
    data: [DONE] came last.  Every event must be exactly "data: ..." after
    any keep-alive comment lines (a comment line alone, no blank line
    after it, so it opens the next event's block)."""
    out, done, bad = [], False, []
    events = r.body.decode("utf-8").split("\n\n")
    if events and events[-1] == "":
        events.pop()
    for ev in events:
        lines = ev.split("\n")
        while lines and lines[0].startswith(":"):
            lines.pop(0)
        if not lines:
            continue
        ev = "\n".join(lines)
        if not ev.startswith("data: ") or "\n" in ev or done:
            bad.append(ev)
        elif ev == "data: [DONE]":
            done = True
        else:
            out.append(json.loads(ev[6:]))
    if bad:
        out.append({"type": "malformed: %r" % bad[:3]})
    return out, done


def check_schema(t, cs):
    for c in cs:
        typ = c.get("type")
        allowed = SCHEMA_5_0_0.get(typ)
        t.require(allowed is not None, "chunk type %r is in ai@5.0.0's schema" % typ)
        extra = set(c) - allowed
        t.check(not extra, "%s carries only 5.0.0 fields" % typ, sorted(extra))
        missing = REQUIRED.get(typ, set()) - set(c)
        t.check(not missing, "%s has its required fields" % typ, sorted(missing))


def text_of(msg):
    return "".join(p.get("text", "") for p in (msg or {}).get("parts", [])
                   if p.get("type") == "text")


def tool_parts(msg):
    return [p for p in (msg or {}).get("parts", []) if p.get("type", "").startswith("tool-")]


def clean(t, res, pkg):
    t.eq(res["thrown"], None, "%s: nothing thrown" % pkg)
    t.eq(res["errors"], [], "%s: no errors (schema or stream)" % pkg)


# -- raw bytes ----------------------------------------------------------

def case_raw_text(t):
    tag = h.new_tag()
    r = post_raw(ui_body([user("hi", tag)], model=TEXT))
    t.eq(r.status, 200, "status")
    t.eq(r.header("x-vercel-ai-ui-message-stream"), "v1", "protocol header")
    t.check((r.header("Content-Type") or "").startswith("text/event-stream"), "content type")
    t.eq(r.header("Cache-Control"), "no-cache", "no caching")
    cs, done = chunks(r)
    t.check(done, "data: [DONE] last")
    types = [c["type"] for c in cs]
    n = types.count("text-delta")
    t.eq(types, ["start", "start-step", "text-start"] + ["text-delta"] * n +
         ["text-end", "finish-step", "finish"], "chunk sequence")
    t.check(n > 0, "text deltas")
    ids = {c.get("id") for c in cs if c["type"].startswith("text-")}
    t.eq(len(ids), 1, "one text block id")
    t.eq("".join(c["delta"] for c in cs if c["type"] == "text-delta"),
         h.load_expect(TEXT)["text"], "text")
    fin = cs[-1] if cs else {}
    t.eq((fin.get("messageMetadata") or {}).get("finishReason"), "stop",
         "finishReason in messageMetadata")
    t.check("finishReason" not in fin, "no finish.finishReason (ai@5.0.0 rejects it)")
    check_schema(t, cs)


def case_raw_tool(t):
    r = post_raw(ui_body([user("weather?", h.new_tag())], model=CLAUDE))
    t.eq(r.status, 200, "status")
    cs, done = chunks(r)
    t.check(done, "[DONE]")
    types = [c["type"] for c in cs]
    n = types.count("text-delta")
    t.eq(types, ["start", "start-step", "text-start"] + ["text-delta"] * n +
         ["text-end", "tool-input-start", "tool-input-available", "finish-step", "finish"],
         "text closed before the tool call")
    exp = h.load_expect("anthropic-tool-use")["tool_calls"][0]
    avail = [c for c in cs if c["type"] == "tool-input-available"]
    t.eq(avail[0]["input"] if avail else None, json.loads(exp["arguments"]),
         "input is the parsed arguments")
    check_schema(t, cs)


def case_raw_error(t):
    r = post_raw(ui_body([user("x", h.new_tag())], model=DROP))
    t.eq(r.status, 200, "status (the failure comes after the start)")
    cs, done = chunks(r)
    types = [c["type"] for c in cs]
    t.check(types[-2:] == ["text-end", "error"], "text-end then error", types)
    t.check(done, "[DONE] after the error")
    check_schema(t, cs)


def case_raw_keepalive(t):
    r = post_raw(ui_body([user("x", h.new_tag())], model=STALL))
    t.eq(r.status, 200, "status")
    t.check(b"\n\n: keep-alive\n" in r.body, "keep-alive comments while stalled")
    t.check(b": keep-alive\n\n" not in r.body,
            "a keep-alive is a comment line alone (no blank line after it)")
    cs, done = chunks(r)
    t.check(done, "[DONE]")
    t.eq("".join(c.get("delta", "") for c in cs), "w1 w2 w3 ", "text")
    check_schema(t, cs)


def case_native_untouched(t):
    r = S["lt"].chat("hello", tag=h.new_tag(), model=TEXT)
    h.check_stream_shape(t, r)
    t.eq(r.header("x-vercel-ai-ui-message-stream"), None, "native request: native SSE")


def case_refusals(t):
    tag = h.new_tag()
    file_msg = {"id": "u1", "role": "user", "parts": [
        {"type": "text", "text": "tag:%s see" % tag},
        {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AA=="}]}
    r = post_raw(ui_body([file_msg], model=TEXT))
    h.check_error_json(t, r, 400, "invalid_request")
    t.check("messages[0].parts[1]: file parts are not supported" in r.text_body,
            "names the file part", r.text_body)
    r = post_raw(dict(ui_body([user("x", tag)]), bogus=1))
    t.eq(r.status, 400, "unknown top-level field refused")
    t.check("bogus" in r.text_body, "names it", r.text_body)
    r = post_raw(ui_body([dict(user("x", tag), extra=1)]))
    t.check(r.status == 400 and "messages[0]: unknown field" in r.text_body and
            "extra" in r.text_body,
            "unknown message field refused by name", r.text_body)
    pending = {"id": "a1", "role": "assistant", "parts": [
        {"type": "tool-get_weather", "toolCallId": "c1", "state": "input-available",
         "input": {}}]}
    r = post_raw(ui_body([user("x", tag), pending, user("y", tag, "u2")]))
    t.check(r.status == 400 and "has no tool result" in r.text_body,
            "a tool call without a result is refused", r.text_body)
    r = post_raw(ui_body([user("x", tag)], trigger="resume"))
    t.check(r.status == 400 and "trigger" in r.text_body, "unknown trigger refused",
            r.text_body)
    t.eq(S["replay"].events(tag, "request"), [], "nothing went upstream")


# -- the AI SDK's own client -------------------------------------------

def sdk_text(pkg):
    def case(t):
        res = run_client(pkg, [user("hi", h.new_tag())], model=TEXT)
        clean(t, res, pkg)
        t.eq(text_of(res["message"]), h.load_expect(TEXT)["text"], "final text part")
        parts = [p["type"] for p in (res["message"] or {}).get("parts", [])]
        t.eq(parts, ["step-start", "text"], "parts")
        t.eq(((res["message"] or {}).get("metadata") or {}).get("finishReason"), "stop",
             "message.metadata.finishReason")
    return case


def sdk_tool(pkg, model, fixture):
    def case(t):
        res = run_client(pkg, [user("weather?", h.new_tag())], model=model)
        clean(t, res, pkg)
        exp = h.load_expect(fixture)
        tools = tool_parts(res["message"])
        t.eq(len(tools), len(exp["tool_calls"]), "one tool part per call")
        for part, call in zip(tools, exp["tool_calls"]):
            t.eq(part.get("type"), "tool-" + call["name"], "tool part type (toolName)")
            t.eq(part.get("toolCallId"), call["id"], "toolCallId")
            t.eq(part.get("input"), json.loads(call["arguments"]), "input")
            t.eq(part.get("state"), "input-available", "state")
        t.eq(text_of(res["message"]), exp["text"], "text")
    return case


def sdk_keepalive(pkg):
    def case(t):
        res = run_client(pkg, [user("x", h.new_tag())], model=STALL)
        clean(t, res, pkg)
        t.eq(text_of(res["message"]), "w1 w2 w3 ", "text across keep-alives")
    return case


def sdk_error(pkg):
    def case(t):
        res = run_client(pkg, [user("x", h.new_tag())], model=DROP)
        t.eq(res["thrown"], None, "%s: nothing thrown" % pkg)
        names = [e["name"] for e in res["errors"]]
        t.check(res["errors"] and "TypeValidationError" not in " ".join(names),
                "the error chunk surfaced through onError, no schema error", res["errors"])
        t.check(text_of(res["message"]).startswith("w1 w2"), "text before the failure kept",
                text_of(res["message"]))
    return case


def sdk_http_error(pkg):
    def case(t):
        bad = {"id": "u1", "role": "user", "parts": [
            {"type": "file", "mediaType": "text/plain", "url": "data:,x"}]}
        res = run_client(pkg, [bad], model=TEXT)
        t.check(res["thrown"] is not None and "file parts are not supported"
                in res["thrown"]["message"], "a 400 throws with our message", res)
    return case


def sdk_tool_result(pkg):
    """useChat's automatic re-send after a client tool ran."""
    def case(t):
        tag = h.new_tag()
        assistant = {"id": "msg-1", "role": "assistant", "parts": [
            {"type": "step-start"},
            {"type": "text", "text": "Let me look.", "state": "done"},
            {"type": "tool-get_weather", "toolCallId": "call_1", "state": "output-available",
             "input": {"city": "Paris"}, "output": {"temp": 21}},
            {"type": "step-start"},
            {"type": "reasoning", "text": "hidden", "state": "done"},
            {"type": "dynamic-tool", "toolName": "get_time", "toolCallId": "call_2",
             "state": "output-error", "input": {}, "errorText": "no clock"}]}
        res = run_client(pkg, [user("weather?", tag), assistant], model=TEXT,
                         message_id="msg-1")
        clean(t, res, pkg)
        t.eq(text_of(res["message"]), h.load_expect(TEXT)["text"], "the answer")
        seen = S["replay"].events(tag, "request")
        t.require(len(seen) == 1, "the provider saw one request", seen)
        msgs = (seen[0].get("body") or {}).get("messages", [])
        msgs = [m for m in msgs if m.get("role") != "system"]
        t.eq([m.get("role") for m in msgs], ["user", "assistant", "tool", "assistant", "tool"],
             "roles")
        if len(msgs) == 5:
            t.eq(msgs[1].get("content"), "Let me look.", "assistant text")
            t.eq(msgs[1].get("tool_calls"), [{"id": "call_1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city":"Paris"}'}}], "tool_calls")
            t.eq((msgs[2].get("tool_call_id"), msgs[2].get("content")),
                 ("call_1", '{"temp":21}'), "tool message with the output")
            t.eq(msgs[3].get("tool_calls", [{}])[0].get("function", {}).get("name"),
                 "get_time", "dynamic tool name")
            t.eq((msgs[4].get("tool_call_id"), msgs[4].get("content")),
                 ("call_2", "no clock"), "an output-error becomes the tool message")
    return case


CASES = [
    ("raw: text answer is the documented chunk sequence, 5.0.0 fields only", case_raw_text),
    ("raw: text then a tool call (anthropic upstream)", case_raw_tool),
    ("raw: an upstream drop mid-stream is an error chunk then [DONE]", case_raw_error),
    ("raw: keep-alives are SSE comments between chunks", case_raw_keepalive),
    ("a native request still gets the native stream", case_native_untouched),
    ("refused with 400 naming what: file part, unknown fields, pending tool, trigger",
     case_refusals),
]
for _pkg in PKGS:
    CASES += [
        ("%s: text fixture -> final text part" % _pkg, sdk_text(_pkg)),
        ("%s: openai tool call -> tool part" % _pkg, sdk_tool(_pkg, TOOL, TOOL)),
        ("%s: anthropic text + tool_use -> text and tool part" % _pkg,
         sdk_tool(_pkg, CLAUDE, "anthropic-tool-use")),
        ("%s: keep-alive comments are skipped" % _pkg, sdk_keepalive(_pkg)),
        ("%s: upstream failure mid-stream surfaces as an error" % _pkg, sdk_error(_pkg)),
        ("%s: a refused request throws with the server's message" % _pkg, sdk_http_error(_pkg)),
        ("%s: tool results reach the provider as tool_calls + tool messages" % _pkg,
         sdk_tool_result(_pkg)),
    ]

if __name__ == "__main__":
    if not os.path.isdir(os.path.join(CLIENT_DIR, "node_modules", "ai-5.0.0")):
        print("1..0 # SKIP tests/clients-ai/node_modules missing (make clients-ai-deps)")
        sys.exit(0)
    sys.exit(h.main("ai_sdk", CASES, setup, parallel=4))
