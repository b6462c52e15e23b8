#!/usr/bin/env python3
"""Anthropic's Messages API (/api/v1/messages), through lighttpd against the
replay provider, proven with the real @anthropic-ai/sdk (tests/clients):
messages.stream() with its text events and final message, messages.create()
with and without stream, a tool round trip whose second request reaches the
upstream translated, errors as the SDK's classes, an abort, x-api-key auth,
stop_sequences -- each over an OpenAI and an Anthropic upstream, so the
translation is proven both ways; then the raw bytes (event names and order,
no [DONE], error JSON and statuses)."""

import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}
TEXT_FIX = "openai-chat-text-usage"
TOOL_FIX = "openai-chat-tool-call"
A_TEXT_FIX = "anthropic-text"
A_TOOL_FIX = "anthropic-tool-use"
LIMITED = "gen-3+status:429"
DROPPED = "gen-10+drop:5"
SLOW = "gen-60+delay:100"
# Each scenario over both upstreams: (OpenAI model, Anthropic alias).
UP = {
    "text": (TEXT_FIX, "claude"),
    "tools": (TOOL_FIX, "claude-tools"),
    "limited": (LIMITED, "claude-limited"),
    "dropped": (DROPPED, "claude-dropped"),
    "slow": (SLOW, "claude-slow"),
}
ANTHROPIC = {
    "claude": A_TEXT_FIX,
    "claude-tools": A_TOOL_FIX,
    "claude-limited": A_TEXT_FIX + "+status:429",
    "claude-dropped": A_TEXT_FIX + "+drop:3",
    "claude-slow": A_TEXT_FIX + "+delay:400",
}
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "anthropic_client.mjs")
KEY = "cs-test-key-" + "a1b2c3d4" * 4
MESSAGES = "/api/v1/messages"
ORIGIN = "https://app.example"


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    key2_path = os.path.join(stack.tmp, "claude.key")
    h.write_key(key2_path, "sk-ant-test-M1-" + h.new_tag() * 2)
    models = [m for m, _ in UP.values()]
    anthropic = [("[upstream anthropic]", None), ("provider", "anthropic"),
                 ("base_url", stack.replay.base_url),
                 ("api_key_file", key2_path)]
    for alias, wire in ANTHROPIC.items():
        anthropic += [("[model %s]" % alias, None), ("upstream", "anthropic"),
                      ("upstream_model", wire)]
    responses = [("[upstream responses]", None),
                 ("provider", "openai-responses"),
                 ("base_url", stack.replay.base_url),
                 ("[model resp]", None), ("upstream", "responses"),
                 ("upstream_model", "openai-responses-text")]
    # No retries: a 429 is answered before the first keep-alive, so it is
    # an HTTP status even when streaming.
    S["lt"] = stack.server(None, name="anthropic_api", settings=stack.settings(
        models, max_retries=0, cors_origins=ORIGIN) + anthropic + responses)
    keyed = stack.settings([TEXT_FIX], api_v1_auth="key") + anthropic + [
        ("[key k]", None),
        ("secret_sha256", hashlib.sha256(KEY.encode()).hexdigest())]
    S["keyed"] = stack.server(None, name="anthropic_keyed", settings=keyed)


def node(t, mode, model, prompt="hello", srv="lt", key=None):
    """Run the SDK script; its JSON result."""
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "@anthropic-ai")):
        t.skip("tests/clients/node_modules missing (make clients-deps)")
    base = "http://127.0.0.1:%d/api" % S[srv].port
    args = ["node", SCRIPT, base, mode, model, prompt] + ([key] if key else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    t.require(p.returncode == 0, "node exited 0", p.stderr)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        t.require(False, "node printed JSON", p.stdout + p.stderr)


def post(body, raw=None, headers=None, srv="lt", method="POST"):
    data = raw if raw is not None else json.dumps(body).encode()
    hd = {"Content-Type": "application/json"}
    hd.update(headers or {})
    return h.request(S[srv].port, method, MESSAGES, body=data, headers=hd)


def expect_text(fix):
    return h.load_expect(fix)["text"]


def want_usage(fix):
    """The fixture's usage as Anthropic counts it (cache reads apart)."""
    u = h.load_expect(fix)["usage"]
    if "input_tokens" in u:
        return {"input_tokens": u["input_tokens"],
                "output_tokens": u["output_tokens"],
                "cache_read_input_tokens": u["cache_read_input_tokens"]}
    return {"input_tokens": u["prompt_tokens"],
            "output_tokens": u["completion_tokens"]}


FIXES = {TEXT_FIX: TEXT_FIX, "claude": A_TEXT_FIX, TOOL_FIX: TOOL_FIX,
         "claude-tools": A_TOOL_FIX}


# -- the @anthropic-ai/sdk -----------------------------------------------------

def case_sdk_stream(t):
    for model in UP["text"]:
        fix = FIXES[model]
        tag, prompt = h.tagged()
        r = node(t, "stream", model, prompt)
        t.eq(r.get("error"), None, model + ": no error")
        t.eq(r.get("text"), expect_text(fix), model + ": text events")
        t.check((r.get("textEvents") or 0) >= 2, model + ": several deltas", r)
        f = r.get("final") or {}
        t.eq(r.get("finalText"), expect_text(fix), model + ": finalMessage text")
        t.eq(f.get("stop_reason"), "end_turn", model + ": stop_reason")
        t.eq(f.get("model"), ANTHROPIC.get(model, model),
             model + ": the model that answered (the alias's upstream_model)")
        t.check(re.fullmatch(r"msg_[0-9a-f]{16}", f.get("id") or ""),
                model + ": id", f)
        t.eq(f.get("usage"), want_usage(fix), model + ": usage")
        body = h.upstream_body(t, S["replay"], tag)
        t.eq(body.get("max_tokens"), 200, model + ": max_tokens upstream")


def case_sdk_create(t):
    for model in UP["text"]:
        fix = FIXES[model]
        tag, prompt = h.tagged()
        r = node(t, "create", model, prompt)
        t.eq(r.get("error"), None, model + ": no error")
        t.eq(r.get("type"), "message", model + ": type")
        t.eq(r.get("role"), "assistant", model + ": role")
        t.eq(r.get("text"), expect_text(fix), model + ": text")
        t.eq(r.get("content"), [{"type": "text", "text": expect_text(fix)}],
             model + ": one text block")
        t.eq(r.get("stop_reason"), "end_turn", model + ": stop_reason")
        t.eq(r.get("usage"), want_usage(fix), model + ": usage")
        t.check(re.fullmatch(r"[0-9a-f]{16}", r.get("request_id") or ""),
                model + ": _request_id from request-id", r)
        body = h.upstream_body(t, S["replay"], tag)
        t.eq(body.get("temperature"), 0.5, model + ": temperature upstream")
        if model == "claude":
            t.eq(body.get("system"), "Be brief.", "system upstream (Anthropic)")
        else:
            t.eq((body.get("messages") or [{}])[0],
                 {"role": "system", "content": "Be brief."},
                 "system upstream (OpenAI)")
        t.check("metadata" not in body, model + ": metadata not sent", body)


def case_sdk_raw_events(t):
    for model in UP["text"]:
        r = node(t, "raw", model)
        t.eq(r.get("error"), None, model + ": no error")
        types = r.get("types") or []
        t.eq(types[0] if types else None, "message_start", model + ": first")
        t.eq(types[-3:], ["content_block_stop", "message_delta",
                          "message_stop"], model + ": the end")
        t.eq(types[1], "content_block_start", model + ": a block opens")
        t.eq(r.get("text"), expect_text(FIXES[model]), model + ": text")
        t.eq(r.get("stop_reason"), "end_turn", model + ": stop_reason")
        t.eq(r.get("usage"), want_usage(FIXES[model]), model + ": usage")


def tool_result_upstream(t, model, body):
    """The second request's upstream body carries the call and its
    result in the upstream's own format."""
    msgs = body.get("messages") or []
    if model == "claude-tools":
        exp = h.load_expect(A_TOOL_FIX)["tool_calls"][0]
        asst = [m for m in msgs if m.get("role") == "assistant"]
        t.require(asst, "an assistant turn upstream", msgs)
        uses = [b for b in asst[-1].get("content") or []
                if isinstance(b, dict) and b.get("type") == "tool_use"]
        t.eq([(u.get("id"), u.get("name"), u.get("input")) for u in uses],
             [(exp["id"], exp["name"], json.loads(exp["arguments"]))],
             "tool_use upstream")
        results = [b for m in msgs if m.get("role") == "user"
                   for b in (m.get("content") if isinstance(m.get("content"), list) else [])
                   if b.get("type") == "tool_result"]
        t.eq(results, [{"type": "tool_result", "tool_use_id": exp["id"],
                        "content": "18C, sunny"}], "tool_result upstream")
        t.eq(msgs[-1], {"role": "user", "content": "thanks"},
             "the turn's text after the result")
        return
    exp = h.load_expect(TOOL_FIX)["tool_calls"][0]
    asst = [m for m in msgs if m.get("role") == "assistant"]
    t.require(asst, "an assistant message upstream", msgs)
    calls = asst[-1].get("tool_calls") or []
    t.eq([(c.get("id"), c["function"]["name"], json.loads(c["function"]["arguments"]))
          for c in calls],
         [(exp["id"], exp["name"], json.loads(exp["arguments"]))],
         "tool_calls upstream")
    tools = [m for m in msgs if m.get("role") == "tool"]
    t.eq(tools, [{"role": "tool", "content": "18C, sunny",
                  "tool_call_id": exp["id"]}], "tool message upstream")
    t.eq(msgs[-1], {"role": "user", "content": "thanks"},
         "the turn's text after the result")
    t.eq((body.get("tools") or [{}])[0].get("function", {}).get("name"),
         "get_weather", "tools upstream")


def check_tools(t, mode):
    for model in UP["tools"]:
        fix = FIXES[model]
        exp = h.load_expect(fix)
        tag, prompt = h.tagged("weather?")
        r = node(t, mode, model, prompt)
        t.eq(r.get("error"), None, model + ": no error")
        first = r.get("first") or {}
        t.eq(first.get("stop_reason"), "tool_use", model + ": stop_reason")
        uses = [b for b in first.get("content") or [] if b.get("type") == "tool_use"]
        c = exp["tool_calls"][0]
        t.eq([(u.get("id"), u.get("name"), u.get("input")) for u in uses],
             [(c["id"], c["name"], json.loads(c["arguments"]))],
             model + ": the tool_use block, input parsed")
        texts = [b.get("text") for b in first.get("content") or []
                 if b.get("type") == "text"]
        t.eq("".join(texts), exp["text"], model + ": text beside the call")
        t.check(r.get("second") is not None, model + ": a second turn", r)
        bodies = h.upstream_bodies(t, S["replay"], tag, 2)
        if len(bodies) == 2:
            tool_result_upstream(t, model, bodies[1])


def case_sdk_tools_stream(t):
    check_tools(t, "tools_stream")


def case_sdk_tools_create(t):
    check_tools(t, "tools_create")


def case_sdk_unknown_model(t):
    for mode in ("stream", "create"):
        e = node(t, mode, "no-such-model").get("error") or {}
        t.eq(e.get("class"), "NotFoundError", mode + ": error class", e)
        t.eq(e.get("status"), 404, mode + ": status")
        t.eq(e.get("type"), "not_found_error", mode + ": Anthropic's type")
        t.check(re.fullmatch(r"[0-9a-f]{16}", e.get("requestID") or ""),
                mode + ": requestID from request-id", e)


def case_sdk_rate_limit(t):
    for model in UP["limited"]:
        for mode in ("stream", "create"):
            e = node(t, mode, model).get("error") or {}
            t.eq(e.get("class"), "RateLimitError", model + " " + mode, e)
            t.eq(e.get("status"), 429, model + " " + mode + ": status")
            t.eq(e.get("type"), "rate_limit_error", model + " " + mode + ": type")


def case_sdk_midstream_error(t):
    for model in UP["dropped"]:
        e = node(t, "stream", model).get("error") or {}
        t.eq(e.get("isAPIError"), True, model + ": an error event is APIError", e)
        t.eq(e.get("type"), "api_error", model + ": its type")
        e = node(t, "create", model).get("error") or {}
        t.eq(e.get("status"), 502, model + ": non-streaming 502", e)


def case_sdk_abort(t):
    for model in UP["slow"]:
        tag, prompt = h.tagged()
        r = node(t, "abort", model, prompt)
        t.eq(r.get("aborted"), True, model + ": the SDK aborted", r)
        t.check(r.get("text"), model + ": after some text", r)
        ev = S["replay"].wait(tag, "peer_closed", timeout=15)
        t.check(ev is not None, model + ": the upstream request was cancelled",
                S["replay"].events(tag)[-3:])
        t.check(not S["replay"].events(tag, "completed"),
                model + ": the upstream never completed")
        line = S["lt"].wait_log(r"path=/api/v1/messages model=%s .*"
                                r"outcome=client_gone" % re.escape(model))
        t.check(line is not None, model + ": logged outcome=client_gone")
        r = node(t, "create", UP["text"][1])
        t.eq(r.get("text"), expect_text(A_TEXT_FIX),
             model + ": the next request is served")


def case_sdk_api_key(t):
    e = node(t, "create", TEXT_FIX, srv="keyed").get("error") or {}
    t.eq(e.get("class"), "AuthenticationError", "a wrong key: error class", e)
    t.eq(e.get("status"), 401, "status")
    t.eq(e.get("type"), "authentication_error", "Anthropic's type")
    for model in ("claude", TEXT_FIX):
        r = node(t, "create", model, srv="keyed", key=KEY)
        t.eq(r.get("error"), None, model + ": the right key (x-api-key)", r)
        t.eq(r.get("text"), expect_text(FIXES[model]), model + ": text")
    r = post({"model": TEXT_FIX, "max_tokens": 5,
              "messages": [{"role": "user", "content": "hi"}]}, srv="keyed")
    check_error(t, r, 401, "authentication_error")
    r = post({"model": TEXT_FIX, "max_tokens": 5,
              "messages": [{"role": "user", "content": "hi"}]}, srv="keyed",
             headers={"Authorization": "Bearer " + KEY,
                      "anthropic-version": "2023-06-01",
                      "anthropic-beta": "prompt-caching-2024-07-31"})
    t.eq(r.status, 200, "Authorization: Bearer works too; anthropic-* "
         "headers ignored", r.summary())


def case_sdk_stop_sequences(t):
    for model in UP["text"]:
        tag, prompt = h.tagged()
        r = node(t, "stop", model, prompt)
        t.eq(r.get("error"), None, model + ": no error")
        body = h.upstream_body(t, S["replay"], tag)
        key = "stop_sequences" if model == "claude" else "stop"
        t.eq(body.get(key), ["END", "\n\nHuman:"], model + ": " + key + " upstream")
    e = node(t, "stop", "resp").get("error") or {}
    t.eq(e.get("class"), "BadRequestError", "openai-responses: 400", e)
    t.check("stop: model \"resp\" is served by upstream \"responses\"" in
            (e.get("message") or ""), "names the model and upstream", e)


# -- raw bytes -----------------------------------------------------------------

def check_error(t, r, status, etype):
    t.eq(r.status, status, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "JSON content type")
    j = r.json() or {}
    t.eq(j.get("type"), "error", "type error", r.text_body)
    e = j.get("error") or {}
    t.eq(sorted(e), ["message", "type"], "error keys", r.text_body)
    t.eq(e.get("type"), etype, "error.type")
    t.check(isinstance(e.get("message"), str) and e["message"], "message")
    return e.get("message") or ""


def case_raw_stream(t):
    r = post({"model": "claude", "max_tokens": 50, "stream": True,
              "messages": [{"role": "user", "content": "hi"}]})
    h.check_sse_headers(t, r)
    t.eq(r.status, 200, "status")
    evs = [e for e in r.events if e.event != "ping"]
    t.require(len(evs) >= 5, "several events", r.summary())
    t.check(all(e.data != "[DONE]" for e in r.events), "no [DONE]")
    for e in evs:
        t.eq((e.json() or {}).get("type"), e.event, "data type = event name")
    t.eq([e.event for e in evs[:2]], ["message_start", "content_block_start"],
         "the start")
    t.eq([e.event for e in evs[-3:]], ["content_block_stop", "message_delta",
                                       "message_stop"], "the end")
    m = (evs[0].json() or {}).get("message") or {}
    t.eq({k: m.get(k) for k in ("type", "role", "model", "content",
                                "stop_reason", "stop_sequence", "usage")},
         {"type": "message", "role": "assistant", "model": A_TEXT_FIX,
          "content": [], "stop_reason": None, "stop_sequence": None,
          "usage": {"input_tokens": 0, "output_tokens": 0}}, "message_start")
    t.eq((evs[1].json() or {}).get("content_block"),
         {"type": "text", "text": ""}, "a text block")
    d = evs[-2].json() or {}
    t.eq(d.get("delta"), {"stop_reason": "end_turn", "stop_sequence": None},
         "message_delta")
    t.eq(d.get("usage"), want_usage(A_TEXT_FIX), "cumulative usage")


def case_raw_message_object(t):
    r = post({"model": TEXT_FIX, "max_tokens": 50,
              "messages": [{"role": "user", "content": "hi"}]})
    t.eq(r.status, 200, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "JSON content type")
    t.eq(r.header("request-id"), r.header("x-request-id"),
         "request-id is X-Request-Id")
    t.eq(r.comments, [], "no keep-alive bytes")
    j = r.json() or {}
    t.eq(sorted(j), ["content", "id", "model", "role", "stop_reason",
                     "stop_sequence", "type", "usage"], "keys")
    t.eq(j.get("content"), [{"type": "text", "text": expect_text(TEXT_FIX)}],
         "content")
    t.eq(j.get("usage"), want_usage(TEXT_FIX), "usage")


def case_raw_errors(t):
    msgs = [{"role": "user", "content": "hi"}]
    check_error(t, post({"model": "nope", "max_tokens": 5, "messages": msgs}),
                404, "not_found_error")
    m = check_error(t, post({"model": TEXT_FIX, "messages": msgs}), 400,
                    "invalid_request_error")
    t.check(m.startswith("max_tokens: required"), "max_tokens required", m)
    m = check_error(t, post({"model": TEXT_FIX, "max_tokens": 5, "top_k": 3,
                             "messages": msgs}), 400, "invalid_request_error")
    t.check(m.startswith("top_k: not supported"), "top_k named", m)
    m = check_error(t, post({"model": TEXT_FIX, "max_tokens": 5, "messages": [
        msgs[0], {"role": "assistant", "content": "a"},
        {"role": "user", "content": [{"type": "image", "source": {}}]}]}),
        400, "invalid_request_error")
    t.check(m.startswith("messages[2].content[0].type:"), "index path", m)
    check_error(t, post(None, raw=b"{not json"), 400, "invalid_request_error")
    r = post({"model": LIMITED, "max_tokens": 5, "messages": msgs,
              "stream": True})
    check_error(t, r, 429, "rate_limit_error")
    r = post({"model": DROPPED, "max_tokens": 5, "messages": msgs})
    check_error(t, r, 502, "api_error")
    r = h.request(S["lt"].port, "GET", MESSAGES)
    check_error(t, r, 405, "invalid_request_error")
    t.eq(r.header("allow"), "POST", "Allow")
    r = post(None, raw=b"x" * 70000)
    check_error(t, r, 413, "invalid_request_error")
    r = post({"max_tokens": 5}, headers={"Content-Type": "text/plain"})
    check_error(t, r, 415, "invalid_request_error")


def case_raw_midstream_error(t):
    r = post({"model": DROPPED, "max_tokens": 5, "stream": True,
              "messages": [{"role": "user", "content": "hi"}]})
    t.eq(r.status, 200, "status")
    evs = r.events
    t.require(len(evs) >= 2, "events", r.summary())
    t.eq(evs[-1].event, "error", "the error event last")
    j = evs[-1].json() or {}
    t.eq(j.get("type"), "error", "type error")
    t.eq(sorted(j.get("error") or {}), ["message", "type"], "error object")


def case_cors(t):
    """A listed page may call the endpoint with the SDK's headers
    (anthropic-dangerous-direct-browser-access is what it sends in a
    browser); the answer carries the origin."""
    asked = ("anthropic-dangerous-direct-browser-access, anthropic-version, "
             "content-type, x-api-key")
    r = h.request(S["lt"].port, "OPTIONS", MESSAGES, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked})
    t.eq(r.status, 204, "preflight", r.summary())
    t.eq(r.header("access-control-allow-origin"), ORIGIN, "the origin")
    t.eq(r.header("access-control-allow-methods"), "POST", "the route's method")
    t.eq(r.header("access-control-allow-headers"), asked, "the SDK's headers")
    r = post({"model": "claude", "max_tokens": 5,
              "messages": [{"role": "user", "content": "hi"}]},
             headers={"Origin": ORIGIN})
    t.eq(r.status, 200, "the call", r.summary())
    t.eq(r.header("access-control-allow-origin"), ORIGIN, "answer's origin")
    t.check("request-id" in (r.header("access-control-expose-headers") or "")
            .split(", "), "request-id exposed to the page",
            r.header("access-control-expose-headers"))


def case_access_log(t):
    tag, prompt = h.tagged()
    post({"model": "claude", "max_tokens": 5,
          "messages": [{"role": "user", "content": prompt}]})
    t.check(S["lt"].wait_log(r"chatstream:.*path=/api/v1/messages "
                             r"model=claude ") is not None,
            "access line with path and alias")


CASES = [
    ("SDK: messages.stream() text events and final message", case_sdk_stream),
    ("SDK: messages.create() returns one Message", case_sdk_create),
    ("SDK: messages.create({stream}) raw events", case_sdk_raw_events),
    ("SDK: streamed tool use and the tool result upstream", case_sdk_tools_stream),
    ("SDK: tool use and the tool result upstream", case_sdk_tools_create),
    ("SDK: unknown model is NotFoundError", case_sdk_unknown_model),
    ("SDK: upstream 429 is RateLimitError", case_sdk_rate_limit),
    ("SDK: an error after the start throws", case_sdk_midstream_error),
    ("SDK: abort mid-stream is client_gone", case_sdk_abort),
    ("SDK: x-api-key against [key]", case_sdk_api_key),
    ("SDK: stop_sequences reach the upstream", case_sdk_stop_sequences),
    ("raw: event names, order, no [DONE]", case_raw_stream),
    ("raw: the Message object", case_raw_message_object),
    ("raw: errors in Anthropic's shape and statuses", case_raw_errors),
    ("raw: an error event after the start", case_raw_midstream_error),
    ("CORS: a listed page's preflight and call", case_cors),
    ("access log names the path and alias", case_access_log),
]

if __name__ == "__main__":
    sys.exit(h.main("anthropic_api", CASES, setup, parallel=4))
