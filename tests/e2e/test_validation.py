#!/usr/bin/env python3
"""Request validation through lighttpd: methods, content types, size
limits, malformed bodies, unknown models and paths, GET /api/models.
No rejected request may reach the provider."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

MODELS = ["gen-3", "gen-4"]
CAPPED = ("gen-2", 50)       # model = gen-2 50
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(MODELS + ["%s %d" % CAPPED], default_model="gen-4",
                           max_messages=4, max_message_bytes=1000)
    S["strict"] = stack.server(["gen-3"], name="strict", client_instructions="no",
                               instructions="You are the server.")
    S["both"] = stack.server(["gen-3"], name="both",
                             instructions="Server prompt \"quoted\".")


def chat_body(tag, **extra):
    b = {"messages": [{"role": "user", "content": "tag:%s hello" % tag}]}
    b.update(extra)
    return b


def not_forwarded(t, tag):
    t.eq(len(S["replay"].events(tag, "request")), 0,
         "requests that reached the provider")


def put_chat(t):
    tag = h.new_tag()
    r = h.request(S["lt"].port, "PUT", "/api/chat?tag:%s" % tag)
    h.check_error_json(t, r, 405, "invalid_request")
    t.eq(r.header("allow"), "GET, HEAD, POST", "Allow header")
    not_forwarded(t, tag)


def get_chat_without_prompt(t):
    """GET is for EventSource (test_protocols.py); without ?prompt it says
    what it wants."""
    tag = h.new_tag()
    r = S["lt"].get("/api/chat?tag:%s" % tag)
    h.check_error_json(t, r, 400, "invalid_request")
    msg = ((r.json() or {}).get("error") or {}).get("message", "")
    t.check("tag:%s" % tag in msg and "prompt" in msg,
            "names the unknown parameter and the accepted ones", msg)
    not_forwarded(t, tag)


def wrong_type(t):
    tag = h.new_tag()
    r = S["lt"].post("/api/chat", json.dumps(chat_body(tag)), content_type="text/plain")
    h.check_error_json(t, r, 415, "invalid_request")
    not_forwarded(t, tag)
    line = S["lt"].wait_log(r"chatstream:.*status=415", timeout=5)
    t.check(line is not None and "outcome=bad_request" in line,
            "logged with status=415 outcome=bad_request: %r" % line)


def no_type(t):
    tag = h.new_tag()
    body = json.dumps(chat_body(tag)).encode()
    r = h.request(S["lt"].port, "POST", "/api/chat", body=body)
    h.check_error_json(t, r, 415, "invalid_request")
    not_forwarded(t, tag)


def json_charset(t):
    tag = h.new_tag()
    r = S["lt"].post("/api/chat", json.dumps(chat_body(tag, model="gen-3")),
                     content_type="application/json; charset=utf-8")
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")


def too_big(t):
    tag = h.new_tag()
    body = json.dumps(chat_body(tag, model="gen-3"))[:-1] + \
        ', "x": "%s"}' % ("a" * 70000)
    r = S["lt"].post("/api/chat", body)
    h.check_error_json(t, r, 413, "invalid_request")
    not_forwarded(t, tag)


def message_too_big(t):
    tag = h.new_tag()
    b = {"messages": [{"role": "user", "content": "tag:%s " % tag + "b" * 2000}]}
    r = S["lt"].post("/api/chat", json.dumps(b))
    h.check_error_json(t, r, 413, "invalid_request")
    not_forwarded(t, tag)


def invalid(desc, make, status=400):
    def run(t):
        tag = h.new_tag()
        body = make(tag)
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        r = S["lt"].post("/api/chat", body)
        j = h.check_error_json(t, r, status, "invalid_request")
        t.diag("message: %s" % ((j or {}).get("error") or {}).get("message"))
        not_forwarded(t, tag)
    return ("%s -> %d invalid_request" % (desc, status), run)


def user(tag):
    return {"role": "user", "content": "tag:%s hi" % tag}


INVALID = [
    invalid("invalid JSON", lambda tag: '{"messages": [{"role": "user", "content": "tag:%s' % tag),
    invalid("JSON that is not an object", lambda tag: '["tag:%s"]' % tag),
    invalid("no messages", lambda tag: {"model": "gen-3", "instructions": "tag:%s" % tag}),
    invalid("messages: []", lambda tag: {"messages": [], "instructions": "tag:%s" % tag}),
    invalid("unknown role", lambda tag: {"messages": [{"role": "bot", "content": "tag:%s" % tag}]}),
    invalid("content is a number", lambda tag: {"messages": [user(tag), {"role": "user", "content": 5}]}),
    invalid("unknown top-level field", lambda tag: chat_body(tag, foo=1)),
    invalid("temperature 3", lambda tag: chat_body(tag, temperature=3)),
    invalid("max_tokens 0", lambda tag: chat_body(tag, max_tokens=0)),
    invalid("max_tokens above the model's cap", lambda tag: chat_body(tag, model=CAPPED[0], max_tokens=CAPPED[1] + 1)),
    invalid("n = 2", lambda tag: chat_body(tag, n=2)),
    invalid("unknown model", lambda tag: chat_body(tag, model="gpt-nope")),
    invalid("model is not a string", lambda tag: chat_body(tag, model=7)),
    invalid("more than max_messages messages", lambda tag: {"messages": [user(tag)] * 5}),
    invalid("NUL in content", lambda tag: {"messages": [{"role": "user", "content": "tag:%s a\u0000b" % tag}]}),
    invalid("invalid UTF-8", lambda tag: b'{"messages":[{"role":"user","content":"tag:' + tag.encode() + b' \xff\xfe"}]}'),
    invalid("nesting deeper than 32", lambda tag: '{"messages":[%s],"x":"tag:%s"}' % ("[" * 40 + "]" * 40, tag)),
]


def unknown_path(t):
    for path, method in (("/api/nope", "GET"), ("/api/nope", "POST")):
        r = h.request(S["lt"].port, method, path, body=b"{}" if method == "POST" else None,
                      headers={"Content-Type": "application/json"})
        t.eq(r.status, 404, "%s %s status" % (method, path), r.summary())
        j = r.json()
        t.check(isinstance(j, dict) and (j.get("error") or {}).get("type") == "not_found"
                and isinstance((j.get("error") or {}).get("message"), str),
                "%s %s: JSON error of type not_found" % (method, path), r.summary())


def models(t):
    r = S["lt"].get("/api/models")
    t.eq(r.status, 200, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "Content-Type JSON: %r" % r.header("content-type"))
    j = r.json()
    t.require(isinstance(j, dict), "JSON object", r.summary())
    t.eq(j.get("object"), "list", "object")
    data = j.get("data") or []
    t.eq([m.get("id") for m in data], MODELS + [CAPPED[0]], "model ids in config order")
    t.check(all(m.get("object") == "model" for m in data), "every entry has object=model")
    t.eq(j.get("default"), "gen-4", "default")
    capped = [m for m in data if m.get("id") == CAPPED[0]]
    t.check(capped and capped[0].get("max_tokens") == CAPPED[1],
            "the capped model lists max_tokens %d" % CAPPED[1], capped)
    t.check(all(m.get("max_tokens") == 4096 for m in data if m.get("id") != CAPPED[0]),
            "models without their own cap list max_tokens_cap (4096 by default)", data)


def models_post(t):
    r = S["lt"].post("/api/models", "{}")
    h.check_error_json(t, r, 405, "invalid_request")


def cap_applied(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=CAPPED[0])
    t.eq(r.status, 200, "status", r.summary())
    reqs = S["replay"].events(tag, "request")
    t.require(reqs, "request forwarded")
    b = reqs[0]["body"]
    got = b.get("max_tokens", b.get("max_completion_tokens"))
    t.eq(got, CAPPED[1], "max_tokens absent in the request -> the model's cap upstream")


def upstream_messages(lt, t, tag, **kw):
    r = lt.chat(tag=tag, **kw)
    t.eq(r.status, 200, "status", r.summary())
    reqs = S["replay"].events(tag, "request")
    t.require(reqs, "request forwarded")
    return r, reqs[0]["body"].get("messages") or []


def client_instructions_refused(t):
    tag = h.new_tag()
    r = S["strict"].chat("hi", tag=tag, extra={"instructions": "Be a pirate."})
    h.check_error_json(t, r, 400, "invalid_request")
    not_forwarded(t, tag)


def server_instructions(t):
    tag = h.new_tag()
    r, msgs = upstream_messages(S["strict"], t, tag, content="hi")
    t.eq([(m.get("role"), m.get("content")) for m in msgs],
         [("system", "You are the server."), ("user", "tag:%s hi" % tag)],
         "upstream messages")


def both_instructions(t):
    tag = h.new_tag()
    r, msgs = upstream_messages(S["both"], t, tag, content="hi",
                                extra={"instructions": "Be brief."})
    t.eq([(m.get("role"), m.get("content")) for m in msgs],
         [("system", 'Server prompt "quoted".'), ("system", "Be brief."),
          ("user", "tag:%s hi" % tag)],
         "server prompt first, then the client's, then the history")


def content_parts(t):
    tag = h.new_tag()
    msgs = [{"role": "user", "content": [{"type": "text", "text": "tag:%s one" % tag},
                                         {"type": "text", "text": " two"}]}]
    r, up = upstream_messages(S["lt"], t, tag, messages=msgs, model="gen-3")
    t.eq(r.text, h.gen_text(3), "text")
    c = up[-1].get("content") if up else None
    flat = c if isinstance(c, str) else "".join(
        p.get("text", "") for p in c or [] if isinstance(p, dict))
    t.check("one" in flat and "two" in flat and flat.index("one") < flat.index("two"),
            "both text parts forwarded in order: %r" % c)


TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}


def tool_messages(tag):
    return [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "tag:%s thanks" % tag}]


def tool_round_trip(t):
    tag = h.new_tag()
    r, up = upstream_messages(S["lt"], t, tag, messages=tool_messages(tag), model="gen-3")
    t.require(len(up) == 4, "4 messages upstream", up)
    t.eq([m.get("role") for m in up], ["user", "assistant", "tool", "user"], "roles")
    t.eq(up[2].get("tool_call_id"), "call_1", "tool_call_id forwarded")
    t.eq(up[2].get("content"), "18C", "tool content forwarded")


def tool_calls_forwarded(t):
    # A real provider rejects a tool message whose tool_call_id is not
    # announced by a preceding assistant tool_calls, so they must be sent.
    tag = h.new_tag()
    r, up = upstream_messages(S["lt"], t, tag, messages=tool_messages(tag), model="gen-3")
    t.require(len(up) == 4, "4 messages upstream", up)
    t.eq(up[1].get("tool_calls"), [TOOL_CALL], "assistant tool_calls forwarded")


def static(t):
    for path in ("/", "/js/app.js"):
        r = S["lt"].get(path)
        t.eq(r.status, 200, "GET %s" % path)


CASES = [
    ("PUT /api/chat -> 405 JSON with Allow: GET, HEAD, POST", put_chat),
    ("GET /api/chat without ?prompt -> 400 JSON naming the parameter",
     get_chat_without_prompt),
    ("Content-Type text/plain -> 415 JSON, logged as bad_request", wrong_type),
    ("no Content-Type -> 415 JSON", no_type),
    ("Content-Type application/json; charset=utf-8 is accepted", json_charset),
    ("body over max_body_bytes -> 413 JSON", too_big),
    ("one message over max_message_bytes -> 413 JSON", message_too_big),
] + INVALID + [
    ("unknown paths under /api/ -> 404 not_found JSON", unknown_path),
    ("GET /api/models lists the configured models, default and caps", models),
    ("POST /api/models -> 405 JSON", models_post),
    ("no max_tokens in the request -> the model's cap is sent upstream", cap_applied),
    ("static files are served", static),
    ("client_instructions = no: a request with instructions -> 400",
     client_instructions_refused),
    ("server instructions become the leading system message", server_instructions),
    ("server instructions first, then the client's instructions", both_instructions),
    ("content as an array of text parts is accepted", content_parts),
    ("tool round trip: accepted, tool_call_id and content forwarded", tool_round_trip),
    ("tool round trip: assistant tool_calls forwarded upstream", tool_calls_forwarded),
]

if __name__ == "__main__":
    sys.exit(h.main("validation", CASES, setup, parallel=4))
