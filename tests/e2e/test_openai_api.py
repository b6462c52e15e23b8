#!/usr/bin/env python3
"""The OpenAI-compatible API (/api/v1), through lighttpd against the replay
provider, proven with the real openai npm package (tests/clients): streaming
and non-streaming Chat Completions, include_usage, tool calls assembled by
the SDK's own helper, an Anthropic upstream behind an alias that looks like
OpenAI, errors as the SDK's classes, the model list; then the raw bytes
(chunk shape, [DONE], error JSON and statuses) and the request mapping."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}
TEXT_FIX = "openai-chat-text-usage"
TOOL_FIX = "openai-chat-tool-call"
A_TEXT_FIX = "anthropic-text"
A_TOOL_FIX = "anthropic-tool-use"
O_TEXT_FIX = "ollama-chat-stream"
LIMITED = "gen-3+status:429"
DROPPED = "gen-10+drop:5"
ALIASES = [TEXT_FIX, TOOL_FIX, LIMITED, DROPPED, "claude", "claude-tools",
           "local"]
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "openai_client.mjs")
V1 = "/api/v1"


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    # No retries: a 429 is answered before the first keep-alive, so it is
    # an HTTP status even when streaming (see docs/protocol.md).
    settings = stack.settings(ALIASES[:4], max_retries=0) + h.anthropic_upstream(
        stack, [("claude", A_TEXT_FIX), ("claude-tools", A_TOOL_FIX)]) + [
        # Ollama's native NDJSON API lives at the server's root.
        ("[upstream ollama]", None),
        ("provider", "ollama"),
        ("base_url", stack.replay.base_url[:-len("/v1")]),
        ("[model local]", None),
        ("upstream", "ollama"),
        ("upstream_model", O_TEXT_FIX),
    ]
    S["lt"] = stack.server(None, name="openai_api", settings=settings)


def node(t, mode, model, prompt="hello"):
    """Run the openai SDK script; its JSON result."""
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "openai")):
        t.skip("tests/clients/node_modules missing (make clients-deps)")
    base = "http://127.0.0.1:%d%s" % (S["lt"].port, V1)
    return h.node_json(t, [SCRIPT, base, mode, model, prompt])


def post_v1(body, path="/chat/completions", raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    return h.request(S["lt"].port, "POST", V1 + path, body=data,
                     headers={"Content-Type": "application/json"})


def sdk_calls(calls):
    """The fixture's tool calls in the SDK's message shape."""
    return [{"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]


def upstream_body(t, tag):
    return h.upstream_body(t, S["replay"], tag)


# -- the openai SDK ----------------------------------------------------------

def case_sdk_stream_text(t):
    tag, prompt = h.tagged()
    r = node(t, "stream", TEXT_FIX, prompt)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("text"), h.load_expect(TEXT_FIX)["text"], "assembled text")
    t.eq(r.get("role"), "assistant", "delta.role")
    t.eq(r.get("finish"), "stop", "finish_reason")
    t.eq(r.get("usageChunks"), 0, "no usage chunk without include_usage")
    t.eq(upstream_body(t, tag).get("model"), TEXT_FIX, "model upstream")


def case_sdk_stream_usage(t):
    r = node(t, "stream_usage", TEXT_FIX)
    u = h.load_expect(TEXT_FIX)["usage"]
    t.eq(r.get("text"), h.load_expect(TEXT_FIX)["text"], "assembled text")
    t.eq(r.get("usageChunks"), 1, "one usage chunk")
    t.eq(r.get("usage"), {"prompt_tokens": u["prompt_tokens"],
                          "completion_tokens": u["completion_tokens"],
                          "total_tokens": u["total_tokens"]}, "usage")


def case_sdk_create(t):
    tag, prompt = h.tagged()
    r = node(t, "create", TEXT_FIX, prompt)
    exp = h.load_expect(TEXT_FIX)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("object"), "chat.completion", "object")
    t.check(re.fullmatch(r"chatcmpl-[0-9a-f]{16}", r.get("id") or ""), "id", r)
    t.eq(r.get("model"), TEXT_FIX, "model is the name the client sent")
    t.eq(r.get("text"), exp["text"], "message.content")
    t.eq(r.get("finish"), "stop", "finish_reason")
    t.eq(r.get("tool_calls"), None, "no tool_calls")
    t.eq((r.get("usage") or {}).get("total_tokens"),
         exp["usage"]["total_tokens"], "usage.total_tokens")
    t.eq(upstream_body(t, tag).get("max_tokens"), 100,
         "max_completion_tokens went upstream as max_tokens")


def case_sdk_anthropic_looks_like_openai(t):
    exp = h.load_expect(A_TEXT_FIX)
    r = node(t, "stream_usage", "claude")
    t.eq(r.get("text"), exp["text"], "streamed text")
    t.eq(r.get("finish"), "stop", "end_turn is stop")
    u = r.get("usage") or {}
    t.eq(u.get("completion_tokens"), exp["usage"]["output_tokens"],
         "output_tokens is completion_tokens")
    t.eq(u.get("total_tokens"), (u.get("prompt_tokens") or 0) +
         (u.get("completion_tokens") or 0), "total is the sum")
    c = node(t, "create", "claude")
    t.eq(c.get("text"), exp["text"], "non-streaming text")
    t.eq(c.get("model"), A_TEXT_FIX,
         "the model that answered (the alias's upstream_model)")


def case_sdk_ollama_looks_like_openai(t):
    exp = h.load_expect(O_TEXT_FIX)
    tag, prompt = h.tagged()
    r = node(t, "stream_usage", "local", prompt)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("text"), exp["text"], "streamed text")
    t.eq(r.get("finish"), "stop", "done_reason stop")
    t.eq(r.get("usage"), {"prompt_tokens": exp["usage"]["prompt_eval_count"],
                          "completion_tokens": exp["usage"]["eval_count"],
                          "total_tokens": exp["usage"]["prompt_eval_count"]
                          + exp["usage"]["eval_count"]},
         "prompt_eval_count / eval_count became OpenAI usage")
    seen = S["replay"].events(tag, "request")
    t.check(seen and seen[0].get("path") == "/api/chat",
            "the provider got Ollama's native /api/chat", seen[:1])
    c = node(t, "create", "local")
    t.eq(c.get("text"), exp["text"], "non-streaming text")


def check_tools(t, mode, model, fix):
    exp = h.load_expect(fix)
    r = node(t, mode, model)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("tool_calls"), sdk_calls(exp["tool_calls"]), "tool calls")
    t.eq(r.get("finish"), "tool_calls", "finish_reason")
    t.eq(r.get("text") or "", exp["text"], "text beside the calls")


def case_sdk_tools_stream_openai(t):
    check_tools(t, "tools_stream", TOOL_FIX, TOOL_FIX)


def case_sdk_tools_stream_anthropic(t):
    check_tools(t, "tools_stream", "claude-tools", A_TOOL_FIX)


def case_sdk_tools_create(t):
    check_tools(t, "tools_create", TOOL_FIX, TOOL_FIX)
    check_tools(t, "tools_create", "claude-tools", A_TOOL_FIX)


def case_sdk_rate_limit(t):
    for mode in ("stream", "create"):
        e = node(t, mode, LIMITED).get("error") or {}
        t.eq(e.get("class"), "RateLimitError", mode + ": error class", e)
        t.eq(e.get("status"), 429, mode + ": status")
        t.eq(e.get("code"), "rate_limit_exceeded", mode + ": code")


def case_sdk_unknown_model(t):
    for mode in ("stream", "create"):
        e = node(t, mode, "no-such-model").get("error") or {}
        t.eq(e.get("class"), "NotFoundError", mode + ": error class", e)
        t.eq(e.get("status"), 404, mode + ": status")
        t.eq(e.get("code"), "model_not_found", mode + ": code")


def case_sdk_midstream_error(t):
    e = node(t, "stream", DROPPED).get("error") or {}
    t.eq(e.get("isAPIError"), True, "an error inside the stream is APIError", e)
    e = node(t, "create", DROPPED).get("error") or {}
    t.eq(e.get("status"), 502, "non-streaming: 502", e)


def case_sdk_models(t):
    t.eq(node(t, "models", "").get("ids"), ALIASES, "models.list() ids")


# -- raw bytes ------------------------------------------------------------------

def chunks_of(r):
    return [(e, e.json()) for e in r.events]


def case_raw_stream_chunks(t):
    r = post_v1({"model": TEXT_FIX, "stream": True,
                 "stream_options": {"include_usage": True},
                 "messages": [{"role": "user", "content": "hi"}]})
    h.check_sse_headers(t, r)
    t.eq(r.status, 200, "status")
    evs = r.events
    t.require(len(evs) >= 4, "several events", r.summary())
    t.eq(evs[-1].data, "[DONE]", "ends with data: [DONE]")
    t.check(all(e.event in (None, "") and e.id is None for e in evs),
            "plain data: lines, no event: or id:")
    js = [e.json() for e in evs[:-1]]
    ids = {j.get("id") for j in js}
    t.eq(len(ids), 1, "one id for all chunks")
    t.check(re.fullmatch(r"chatcmpl-[0-9a-f]{16}", ids.pop() or ""), "id shape")
    for j in js:
        t.eq(j.get("object"), "chat.completion.chunk", "object")
        t.eq(j.get("model"), TEXT_FIX, "model")
        t.check(isinstance(j.get("created"), int) and j["created"] > 1.6e9,
                "created", j)
    t.eq(js[0]["choices"][0]["delta"].get("role"), "assistant", "first role")
    t.check(all("role" not in j["choices"][0]["delta"] for j in js[1:-2]),
            "role only once")
    t.eq(js[0]["choices"][0].get("logprobs", 1), None, "logprobs null")
    t.eq(js[-2]["choices"], [{"index": 0, "delta": {}, "logprobs": None,
                              "finish_reason": "stop"}], "finish chunk")
    t.eq(js[-1]["choices"], [], "usage chunk has no choices")
    t.eq(js[-1]["usage"]["total_tokens"], 44, "usage chunk")


def case_raw_completion_object(t):
    r = post_v1({"model": TEXT_FIX, "messages": [{"role": "user", "content": "hi"}]})
    t.eq(r.status, 200, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "JSON content type")
    t.eq(r.comments, [], "no keep-alive bytes")
    j = r.json() or {}
    t.eq(set(j), {"id", "object", "created", "model", "choices", "usage"}, "keys")
    t.eq(j.get("object"), "chat.completion", "object")
    ch = (j.get("choices") or [{}])[0]
    t.eq(ch.get("message"), {"role": "assistant", "refusal": None,
                             "content": h.load_expect(TEXT_FIX)["text"]},
         "message")
    t.eq(ch.get("logprobs", 1), None, "logprobs")
    t.eq(j.get("usage"), {"prompt_tokens": 14, "completion_tokens": 30,
                          "total_tokens": 44}, "usage")


def check_oai_error(t, r, status, code, etype="invalid_request_error"):
    t.eq(r.status, status, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "JSON content type")
    e = (r.json() or {}).get("error") or {}
    t.eq(sorted(e), ["code", "message", "param", "type"], "error keys", r.text_body)
    t.eq(e.get("type"), etype, "error.type")
    t.eq(e.get("code"), code, "error.code")
    t.check(isinstance(e.get("message"), str) and e["message"], "message")


def case_raw_errors(t):
    msgs = [{"role": "user", "content": "hi"}]
    check_oai_error(t, post_v1({"model": "nope", "messages": msgs}), 404,
                    "model_not_found")
    check_oai_error(t, post_v1({"model": TEXT_FIX, "messages": msgs,
                                "top_p": 0.5}), 400, "invalid_request")
    check_oai_error(t, post_v1({"messages": msgs, "max_tokens": 5,
                                "max_completion_tokens": 5}), 400,
                    "invalid_request")
    check_oai_error(t, post_v1({"messages": msgs, "stream": "yes"}), 400,
                    "invalid_request")
    check_oai_error(t, post_v1(None, raw=b"{not json"), 400, "invalid_request")
    r = post_v1({"model": LIMITED, "messages": msgs, "stream": True})
    check_oai_error(t, r, 429, "rate_limit_exceeded", "rate_limit_exceeded")
    r = post_v1({"model": DROPPED, "messages": msgs})
    check_oai_error(t, r, 502, "upstream_error", "api_error")
    r = h.request(S["lt"].port, "GET", V1 + "/chat/completions")
    check_oai_error(t, r, 405, "invalid_request")
    t.eq(r.header("allow"), "POST", "Allow on chat/completions")
    r = post_v1({}, path="/models")
    check_oai_error(t, r, 405, "invalid_request")
    t.eq(r.header("allow"), "GET, HEAD", "Allow on models")


def case_raw_midstream_error(t):
    r = post_v1({"model": DROPPED, "stream": True,
                 "messages": [{"role": "user", "content": "hi"}]})
    t.eq(r.status, 200, "status")
    evs = r.events
    t.require(len(evs) >= 2, "events", r.summary())
    t.eq(evs[-1].data, "[DONE]", "[DONE] last")
    e = (evs[-2].json() or {}).get("error") or {}
    t.eq(sorted(e), ["code", "message", "param", "type"], "error chunk", evs[-2].data)


def case_raw_request_mapping(t):
    tag, prompt = h.tagged()
    r = post_v1({"model": TEXT_FIX, "stream": False, "store": False,
                 "metadata": {"a": "b"}, "parallel_tool_calls": True,
                 "seed": 1, "logprobs": False, "user": "u1", "n": 1,
                 "stream_options": None, "max_completion_tokens": 7,
                 "stop": "END",
                 "messages": [{"role": "user", "content": prompt}]})
    t.eq(r.status, 200, "accepted", r.summary())
    body = upstream_body(t, tag)
    t.eq(body.get("max_tokens"), 7, "max_tokens upstream")
    t.eq(body.get("stop"), ["END"], "stop upstream, as an array")
    for k in ("store", "metadata", "seed", "max_completion_tokens"):
        t.check(k not in body, "%s not sent upstream" % k, body)


def case_models_raw_and_native(t):
    r = S["lt"].get(V1 + "/models")
    t.eq(r.status, 200, "status")
    j = r.json() or {}
    t.eq(j.get("object"), "list", "object")
    t.eq([m.get("id") for m in j.get("data", [])], ALIASES, "ids")
    t.eq(sorted({",".join(sorted(m)) for m in j.get("data", [])}),
         ["created,id,object,owned_by"], "entry keys")
    t.check(A_TEXT_FIX not in r.text_body, "no upstream model names")
    n = S["lt"].get("/api/models?x=1").json() or {}
    t.check("default" in n, "native /api/models unchanged")


def case_access_log(t):
    tag, prompt = h.tagged()
    post_v1({"model": "claude", "messages": [{"role": "user", "content": prompt}]})
    line = S["lt"].wait_log(r"chatstream:.*path=/api/v1/chat/completions "
                            r"model=claude ")
    t.check(line is not None, "access line with path and alias")
    h.request(S["lt"].port, "GET", V1 + "/models?q=1")
    t.check(S["lt"].wait_log(r"chatstream:.*method=GET path=/api/v1/models ")
            is not None, "models logged without the query")


CASES = [
    ("SDK: streaming assembles the fixture text", case_sdk_stream_text),
    ("SDK: include_usage yields one usage chunk", case_sdk_stream_usage),
    ("SDK: non-streaming returns text, finish_reason, usage", case_sdk_create),
    ("SDK: an Anthropic upstream looks like OpenAI", case_sdk_anthropic_looks_like_openai),
    ("SDK: an Ollama upstream looks like OpenAI", case_sdk_ollama_looks_like_openai),
    ("SDK: stream helper assembles OpenAI tool calls", case_sdk_tools_stream_openai),
    ("SDK: stream helper assembles Anthropic tool calls", case_sdk_tools_stream_anthropic),
    ("SDK: non-streaming tool calls", case_sdk_tools_create),
    ("SDK: upstream 429 is RateLimitError", case_sdk_rate_limit),
    ("SDK: unknown model is NotFoundError", case_sdk_unknown_model),
    ("SDK: a mid-stream failure is APIError; non-streaming 502", case_sdk_midstream_error),
    ("SDK: models.list() lists the aliases", case_sdk_models),
    ("raw: chunk shape, finish, usage chunk, [DONE]", case_raw_stream_chunks),
    ("raw: non-streaming chat.completion object", case_raw_completion_object),
    ("raw: errors in OpenAI's shape and statuses", case_raw_errors),
    ("raw: mid-stream error chunk then [DONE]", case_raw_midstream_error),
    ("raw: OpenAI-only fields mapped or dropped", case_raw_request_mapping),
    ("raw: /api/v1/models, native /api/models unchanged", case_models_raw_and_native),
    ("access log names the v1 path and alias", case_access_log),
]

if __name__ == "__main__":
    sys.exit(h.main("openai_api", CASES, setup, parallel=4))
