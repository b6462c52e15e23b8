#!/usr/bin/env python3
"""OpenAI's Responses API (POST /api/v1/responses), through lighttpd
against the replay provider, proven with the real openai npm package
(responses.create with and without stream, the responses.stream() helper)
and LangChain's ChatOpenAI withStructuredOutput (tests/clients), over an
OpenAI upstream and an Anthropic one, so the translation is proven both
ways: text, function calls and a tool-result turn, usage, errors, abort;
then the raw events (types, sequence numbers, item ids), the request
mapping upstream, refusals, and the ledger and limits."""

import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
from test_limits import ledger_rows  # noqa: E402

S = {}
TEXT_FIX = "openai-chat-text-usage"
TOOL_FIX = "openai-chat-tool-call"
JSON_FIX = "openai-chat-json-object"
A_TEXT_FIX = "anthropic-text"
A_TOOL_FIX = "anthropic-tool-use"
LIMITED = "gen-3+status:429"
DROPPED = "gen-10+drop:5"
SLOW = "gen-40+delay:100"
ALIASES = [TEXT_FIX, TOOL_FIX, JSON_FIX, LIMITED, DROPPED, SLOW, "claude",
           "claude-tools"]
ALICE = "alice-" + "r5" * 12
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "responses_client.mjs")
V1 = "/api/v1"


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    settings = stack.settings(ALIASES[:6], max_retries=0) + h.anthropic_upstream(
        stack, [("claude", A_TEXT_FIX), ("claude-tools", A_TOOL_FIX)])
    S["lt"] = stack.server(None, name="responses_api", settings=settings)
    # Keys, a limit and the ledger: admission as for every /v1 route.
    gate = stack.settings(["gen-3"], api_v1_auth="key",
                          requests_per_minute=2) + [
        ("[key alice]", None),
        ("secret_sha256", hashlib.sha256(ALICE.encode()).hexdigest()),
    ]
    S["gate"] = stack.server(None, name="responses_gate", settings=gate)


def node(t, mode, model, prompt="hello"):
    """Run the client script; its JSON result."""
    for pkg in ("openai", "@langchain/openai"):
        if not os.path.isdir(os.path.join(CLIENTS, "node_modules", pkg)):
            t.skip("tests/clients/node_modules missing (make clients-deps)")
    base = "http://127.0.0.1:%d%s" % (S["lt"].port, V1)
    return h.node_json(t, [SCRIPT, base, mode, model, prompt])


def post(body, raw=None, lt=None, headers=None):
    data = raw if raw is not None else json.dumps(body).encode()
    hd = {"Content-Type": "application/json"}
    hd.update(headers or {})
    return h.request((lt or S["lt"]).port, "POST", V1 + "/responses",
                     body=data, headers=hd)


def upstream_body(t, tag):
    return h.upstream_body(t, S["replay"], tag)


def usage_of(exp):
    """The Responses usage the fixture's own usage report becomes."""
    u = exp["usage"]
    if "input_tokens" in u:  # Anthropic's
        i, o = u["input_tokens"], u["output_tokens"]
    else:
        i, o = u["prompt_tokens"], u["completion_tokens"]
    return {"input_tokens": i, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": o, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": i + o}


def calls_of(exp):
    return [{"id": c["id"], "name": c["name"], "arguments": c["arguments"]}
            for c in exp["tool_calls"]]


# -- the openai SDK: responses.create({stream: true}) -------------------------

def check_raw_stream(t, model, fix):
    exp = h.load_expect(fix)
    tag, prompt = h.tagged()
    r = node(t, "stream", model, prompt)
    t.eq(r.get("error"), None, "no error")
    types = r.get("types") or []
    t.eq(types[:4], ["response.created", "response.in_progress",
                     "response.output_item.added",
                     "response.content_part.added"], "the opening events")
    t.eq(types[-4:], ["response.output_text.done", "response.content_part.done",
                      "response.output_item.done", "response.completed"],
         "the closing events")
    t.eq(r.get("seqs"), list(range(len(types))),
         "sequence_number counts from 0 without a gap")
    t.eq(r.get("text"), exp["text"], "the deltas are the fixture's text")
    t.eq(r.get("status"), "completed", "status")
    t.eq(r.get("usage"), usage_of(exp), "usage from the provider's report")
    t.eq(r.get("model"), fix,
         "the model that answered (the alias's upstream_model)")
    t.check(re.fullmatch(r"resp_[0-9a-f]{16}", r.get("id") or ""), "id", r)
    return tag


def case_stream_openai(t):
    tag = check_raw_stream(t, TEXT_FIX, TEXT_FIX)
    body = upstream_body(t, tag)
    t.eq(body.get("stream"), True, "the upstream streams")
    t.eq([m.get("role") for m in body.get("messages", [])], ["user"],
         "input (a string) is one user message")


def case_stream_anthropic(t):
    tag = check_raw_stream(t, "claude", A_TEXT_FIX)
    body = upstream_body(t, tag)
    t.eq(body.get("model"), A_TEXT_FIX, "Anthropic's model name upstream")
    t.check(isinstance(body.get("max_tokens"), int),
            "Anthropic's required max_tokens was filled in", body)


# -- responses.stream() -------------------------------------------------------

def check_helper(t, model, fix):
    exp = h.load_expect(fix)
    r = node(t, "helper", model)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("deltas"), exp["text"], "response.output_text.delta events")
    t.eq(r.get("snapshot"), exp["text"], "the helper's snapshot")
    t.eq(r.get("output_text"), exp["text"], "finalResponse().output_text")
    t.eq(r.get("types"), ["message"], "one message item")
    t.eq(r.get("usage"), usage_of(exp), "finalResponse().usage")


def case_helper_openai(t):
    check_helper(t, TEXT_FIX, TEXT_FIX)


def case_helper_anthropic(t):
    check_helper(t, "claude", A_TEXT_FIX)


def check_helper_tools(t, model, fix):
    exp = h.load_expect(fix)
    tag, prompt = h.tagged()
    r = node(t, "helper_tools", model, prompt)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("calls"), calls_of(exp), "function_call items (call_id, "
         "name, arguments)")
    t.eq(r.get("argDeltas"), len(exp["tool_calls"]),
         "one arguments delta per call")
    t.eq(r.get("output_text"), exp["text"], "the text beside the calls")
    want = (["message"] if exp["text"] else []) + ["function_call"] * len(
        exp["tool_calls"])
    t.eq(r.get("types"), want, "the items in order")
    return upstream_body(t, tag)


def case_tools_openai(t):
    body = check_helper_tools(t, TOOL_FIX, TOOL_FIX)
    t.eq(body.get("tools"), [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string"}}}}}],
         "the flat Responses tool became Chat Completions' nested one")
    t.eq(body.get("tool_choice"), "auto", "tool_choice")


def case_tools_anthropic(t):
    body = check_helper_tools(t, "claude-tools", A_TOOL_FIX)
    t.eq(body.get("tools"), [{"name": "get_weather",
                              "description": "Current weather",
                              "input_schema": {"type": "object", "properties": {
                                  "city": {"type": "string"}}}}],
         "Anthropic's tool shape upstream")
    t.eq(body.get("tool_choice"), {"type": "auto"}, "tool_choice")


def case_tools_raw_stream(t):
    for model, fix in ((TOOL_FIX, TOOL_FIX), ("claude-tools", A_TOOL_FIX)):
        exp = h.load_expect(fix)
        r = node(t, "stream_tools", model)
        t.eq(r.get("calls"), calls_of(exp), model + ": calls in response.completed")
        t.eq(r.get("fnArgs"), "".join(c["arguments"] for c in exp["tool_calls"]),
             model + ": function_call_arguments.delta")
        t.check("response.function_call_arguments.done" in (r.get("types") or []),
                model + ": arguments.done", r.get("types"))


# -- responses.create() without stream ----------------------------------------

def case_create(t):
    for model, fix in ((TEXT_FIX, TEXT_FIX), ("claude", A_TEXT_FIX)):
        exp = h.load_expect(fix)
        tag, prompt = h.tagged()
        r = node(t, "create", model, prompt)
        t.eq(r.get("error"), None, model + ": no error")
        t.eq(r.get("object"), "response", model + ": object")
        t.eq(r.get("status"), "completed", model + ": status")
        t.eq(r.get("output_text"), exp["text"], model + ": output_text")
        t.eq(r.get("usage"), usage_of(exp), model + ": usage")
        t.eq(r.get("model"), fix, model + ": the model that answered")
        t.eq(r.get("request_id"), (r.get("id") or "")[5:],
             model + ": x-request-id is the response id's")
        body = upstream_body(t, tag)
        t.eq(body.get("max_tokens"), 100, model + ": max_output_tokens")
        if model == "claude":
            t.eq(body.get("system"), "Be brief.",
                 "instructions became Anthropic's system")
        else:
            t.eq(body.get("messages", [{}])[0],
                 {"role": "system", "content": "Be brief."},
                 "instructions became the system message")


# -- a tool-result turn ---------------------------------------------------------

def case_tool_result_turn(t):
    tag, prompt = h.tagged()
    r = node(t, "tool_result", TEXT_FIX, prompt)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("output_text"), h.load_expect(TEXT_FIX)["text"], "the answer")
    msgs = upstream_body(t, tag).get("messages", [])
    t.eq([m.get("role") for m in msgs], ["user", "assistant", "tool"],
         "OpenAI upstream: user, the assistant's call, the tool's output")
    if len(msgs) == 3:
        t.eq(msgs[1].get("tool_calls"), [{"id": "call_abc123", "type": "function",
                                          "function": {"name": "get_weather",
                                                       "arguments": "{\"city\":\"Paris\"}"}}],
             "function_call item -> tool_calls")
        t.eq((msgs[2].get("tool_call_id"), msgs[2].get("content")),
             ("call_abc123", "{\"temperature_c\":18}"),
             "function_call_output item -> tool message")
    tag, prompt = h.tagged()
    r = node(t, "tool_result", "claude", prompt)
    t.eq(r.get("output_text"), h.load_expect(A_TEXT_FIX)["text"], "the answer")
    msgs = upstream_body(t, tag).get("messages", [])
    t.eq([m.get("role") for m in msgs], ["user", "assistant", "user"],
         "Anthropic upstream: user, assistant tool_use, user tool_result")
    if len(msgs) == 3:
        t.eq(msgs[1].get("content"), [{"type": "tool_use", "id": "call_abc123",
                                       "name": "get_weather",
                                       "input": {"city": "Paris"}}],
             "the call as a tool_use block")
        res = (msgs[2].get("content") or [{}])[0]
        t.eq((res.get("type"), res.get("tool_use_id")),
             ("tool_result", "call_abc123"), "the output as a tool_result block")


# -- errors and abort -------------------------------------------------------------

def case_errors(t):
    e = node(t, "create", "no-such-model").get("error") or {}
    t.eq((e.get("class"), e.get("status"), e.get("code")),
         ("NotFoundError", 404, "model_not_found"), "unknown model", e)
    for mode in ("stream", "helper", "create"):
        e = node(t, mode, LIMITED).get("error") or {}
        t.eq((e.get("class"), e.get("status")), ("RateLimitError", 429),
             mode + ": an upstream 429 before the first byte", e)
    e = node(t, "previous", TEXT_FIX).get("error") or {}
    t.eq((e.get("class"), e.get("status")), ("BadRequestError", 400),
         "previous_response_id", e)
    t.check("keeps no responses" in (e.get("message") or ""),
            "it says the server keeps no responses", e)


def case_midstream_error(t):
    for mode in ("stream", "helper"):
        e = node(t, mode, DROPPED).get("error") or {}
        t.eq(e.get("class"), "APIError", mode + ": the SDK throws", e)
        t.eq(e.get("code"), "upstream_error", mode + ": the error's code", e)
    r = post({"model": DROPPED, "input": "hi", "stream": True})
    t.eq(r.status, 200, "status")
    names = [e.event for e in r.events]
    t.eq(names[-2:], ["error", "response.failed"], "error, then response.failed")
    failed = (r.events[-1].json() or {}).get("response") or {}
    t.eq(failed.get("status"), "failed", "status failed")
    t.eq((failed.get("error") or {}).get("code"), "upstream_error", "error.code")
    out = failed.get("output") or [{}]
    t.eq((out[0].get("status"), out[0].get("content", [{}])[0].get("text")),
         ("incomplete", "w1 w2 w3 w4 "), "the text so far, incomplete")
    r = post({"model": DROPPED, "input": "hi"})
    t.eq(r.status, 502, "not streaming: 502", r.summary())


def case_abort(t):
    tag, prompt = h.tagged()
    r = node(t, "abort", SLOW, prompt)
    t.eq(r.get("deltas"), 1, "no delta after the abort")
    t.eq(r.get("aborted"), True, "the request was aborted", r)
    line = S["lt"].wait_log(r"chatstream:.*path=/api/v1/responses .*model=%s "
                            r".*outcome=client_gone" % re.escape(SLOW))
    t.check(line is not None, "logged as client_gone")
    c = node(t, "create", TEXT_FIX)
    t.eq(c.get("status"), "completed", "the next request is served")


# -- the AI SDK's default OpenAI model ---------------------------------------------

def case_ai_sdk(t):
    cwd = os.path.join(h.REPO, "tests", "clients-ai")
    if not os.path.isdir(os.path.join(cwd, "node_modules", "@ai-sdk", "openai")):
        t.skip("tests/clients-ai/node_modules missing (make clients-ai-deps)")
    base = "http://127.0.0.1:%d%s" % (S["lt"].port, V1)
    for model, fix in ((TEXT_FIX, TEXT_FIX), ("claude", A_TEXT_FIX)):
        for stream in (True, False):
            tag, prompt = h.tagged()
            r = h.node_json(t, ["openai_provider.mjs", json.dumps({
                "baseURL": base, "model": model, "api": "responses",
                "system": "Be brief.", "prompt": prompt, "stream": stream})],
                cwd=cwd)
            what = "%s, stream %s" % (model, stream)
            t.eq(r.get("thrown"), None, what + ": no error")
            t.eq(r.get("text"), h.load_expect(fix)["text"], what + ": text")
            t.eq(r.get("finishReason"), "stop", what + ": finish")
            seen = S["replay"].events(tag, "request")
            t.eq(len(seen), 1, what + ": one upstream request")


# -- LangChain withStructuredOutput ------------------------------------------------

def case_langchain(t):
    want = json.loads(h.load_expect(JSON_FIX)["text"])
    for mode in ("langchain_chat", "langchain_responses"):
        tag, prompt = h.tagged("weather in Paris?")
        r = node(t, mode, JSON_FIX, prompt)
        t.eq(r.get("error"), None, mode + ": no error", r)
        t.eq(r.get("parsed"), want, mode + ": the parsed object")
        rf = upstream_body(t, tag).get("response_format") or {}
        js = rf.get("json_schema") or {}
        t.eq((rf.get("type"), js.get("name"), js.get("strict")),
             ("json_schema", "weather", True), mode + ": response_format upstream", rf)
        t.eq(sorted((js.get("schema") or {}).get("properties", {})),
             ["city", "temperature_c"], mode + ": the schema upstream")
    e = node(t, "langchain_responses", "claude").get("error") or {}
    t.eq(e.get("status"), 400, "Anthropic upstream: 400", e)
    t.check("anthropic" in (e.get("message") or ""),
            "it names the upstream and the alternative", e)


# -- raw bytes ---------------------------------------------------------------------

def case_raw_stream(t):
    r = post({"model": TOOL_FIX, "input": "hi", "stream": True})
    t.eq(r.status, 200, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("text/event-stream"),
            "event stream")
    t.eq(r.done_events, [], "no [DONE]")
    ids = set()
    for i, e in enumerate(r.events):
        d = e.json() or {}
        t.eq((e.event, d.get("sequence_number")), (d.get("type"), i),
             "event %d: name is the type, numbered" % i)
        if "item" in d:
            ids.add(d["item"]["id"])
    t.eq(sorted(ids), ["fc_%s_0" % r.header("X-Request-Id")],
         "the function_call item's id names the request")


def case_raw_object(t):
    r = post({"model": TEXT_FIX, "input": "hi"})
    t.eq(r.status, 200, "status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            "JSON")
    j = r.json() or {}
    t.eq(j.get("id"), "resp_" + (r.header("X-Request-Id") or ""), "id")
    t.eq((j.get("object"), j.get("status"), j.get("error"),
          j.get("incomplete_details"), j.get("store")),
         ("response", "completed", None, None, False), "the response's state")
    msg = (j.get("output") or [{}])[0]
    t.eq((msg.get("type"), msg.get("role"), msg.get("status")),
         ("message", "assistant", "completed"), "one message item")
    t.eq(msg.get("content", [{}])[0].get("text"),
         h.load_expect(TEXT_FIX)["text"], "its output_text part")


def check_400(t, body, words, what):
    r = post(body)
    t.eq(r.status, 400, what + ": status", r.summary())
    e = (r.json() or {}).get("error") or {}
    t.eq(sorted(e), ["code", "message", "param", "type"],
         what + ": OpenAI's error shape", r.text_body)
    t.check(words in (e.get("message") or ""), what + ": says " + words, e)


def case_raw_refusals(t):
    m = TEXT_FIX
    check_400(t, {"model": m}, "input: missing", "no input")
    check_400(t, {"model": m, "input": []}, "input: holds no message",
              "no message in input")
    check_400(t, {"model": m, "input": [{"type": "reasoning", "id": "r"}]},
              "input: holds no message", "only a reasoning item")
    check_400(t, {"model": m, "input": "hi", "previous_response_id": "r"},
              "previous_response_id", "previous_response_id")
    check_400(t, {"model": m, "input": [{"type": "item_reference", "id": "x"}]},
              "input[0]", "item_reference")
    check_400(t, {"model": m, "input": "hi", "top_p": 0.5}, "top_p",
              "an unknown field")
    check_400(t, {"model": m, "input": "hi", "tools": [{"type": "web_search"}]},
              "tools[0].type", "a hosted tool")
    check_400(t, {"model": m, "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "http://x/y.png"}]}]},
        "input[0].content[0].type", "an image")
    check_400(t, {"model": m, "input": [{"role": "bot", "content": "x"}]},
              "input[0].role", "a bad role")
    check_400(t, {"model": m, "input": [{"type": "function_call", "name": "f"}]},
              "input[0].call_id", "a call without call_id")
    check_400(t, {"model": m, "input": "hi", "stream": "yes"}, "stream",
              "a stream that is not a boolean")
    # What the native parser refuses is named as the client sent it.
    check_400(t, {"model": m, "input": "hi", "tools": [
        {"type": "function", "name": "bad name!"}]}, "tools[0].name:",
        "a bad tool name")
    check_400(t, {"model": m, "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "bad name!",
         "arguments": "{}"}]}, "input[1].name:", "a bad call name")
    check_400(t, {"model": m, "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call_output", "call_id": "c" * 200,
         "output": "ok"}]}, "input[1].call_id:", "a long call_id")
    check_400(t, {"model": m, "input": "hi", "max_output_tokens": 0},
              "max_output_tokens:", "max_output_tokens 0")
    check_400(t, {"model": m, "input": "hi", "text": {"format": {
        "type": "json_schema", "name": "bad name!", "schema": {}}}},
        "text.format.name:", "a bad schema name")
    r = post(None, raw=b'{"model":')
    t.eq(r.status, 400, "broken JSON", r.summary())
    r = h.request(S["lt"].port, "GET", V1 + "/responses")
    t.eq((r.status, r.header("allow")), (405, "POST"), "GET: 405, Allow POST")


def case_raw_request_mapping(t):
    tag, prompt = h.tagged()
    r = post({"model": TEXT_FIX, "store": True, "metadata": {"a": "b"},
              "user": "u1", "parallel_tool_calls": True, "truncation": "disabled",
              "include": [], "service_tier": "auto", "temperature": 0.5,
              "text": {"format": {"type": "json_object"}},
              "tools": [{"type": "function", "name": "f", "strict": True,
                         "parameters": {"type": "object", "properties": {},
                                        "additionalProperties": False}}],
              "tool_choice": {"type": "function", "name": "f"},
              "input": [{"role": "developer", "content": "rules"},
                        {"type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": prompt}]},
                        {"type": "reasoning", "id": "rs_1", "summary": []}]})
    t.eq(r.status, 200, "accepted", r.summary())
    body = upstream_body(t, tag)
    t.eq(body.get("response_format"), {"type": "json_object"},
         "text.format -> response_format")
    t.eq(body.get("tool_choice"), {"type": "function", "function": {"name": "f"}},
         "a named tool_choice")
    t.eq(body.get("temperature"), 0.5, "temperature")
    t.eq([m.get("role") for m in body.get("messages", [])],
         ["system", "user"], "the developer message is the system one, "
         "the reasoning item is dropped")
    for k in ("store", "metadata", "user", "truncation", "include",
              "service_tier", "input", "text"):
        t.check(k not in body, "%s not sent upstream" % k, body)


# -- keys, limits, the ledger -------------------------------------------------------

def case_keys_limits_ledger(t):
    lt = S["gate"]
    r = post({"model": "gen-3", "input": "hi"}, lt=lt)
    t.eq(r.status, 401, "no key: 401", r.summary())
    t.eq(((r.json() or {}).get("error") or {}).get("code"), "invalid_api_key",
         "OpenAI's code")
    auth = {"Authorization": "Bearer " + ALICE}
    ids = []
    for i in range(2):
        r = post({"model": "gen-3", "input": "tag:%s hi" % h.new_tag(),
                  "stream": i == 0}, lt=lt, headers=auth)
        t.eq(r.status, 200, "with the key: 200", r.summary())
        ids.append(r.header("X-Request-Id"))
    r = post({"model": "gen-3", "input": "hi"}, lt=lt, headers=auth)
    t.eq(r.status, 429, "requests_per_minute = 2: the third is 429", r.summary())
    t.check(r.header("retry-after"), "with Retry-After")
    rows = ledger_rows(lt, "request_id IN (?, ?)", tuple(ids), 2)
    t.eq(sorted((k, m, o, pt, ct) for _, k, m, _, o, pt, ct in rows),
         [("alice", "gen-3", "done", 7, 3)] * 2,
         "both answers are in the ledger with the key and the tokens")


CASES = [
    ("SDK: responses.create stream over an OpenAI upstream", case_stream_openai),
    ("SDK: responses.create stream over an Anthropic upstream", case_stream_anthropic),
    ("SDK: responses.stream() over OpenAI", case_helper_openai),
    ("SDK: responses.stream() over Anthropic", case_helper_anthropic),
    ("SDK: function calls over OpenAI", case_tools_openai),
    ("SDK: function calls over Anthropic", case_tools_anthropic),
    ("SDK: function call events in the raw stream", case_tools_raw_stream),
    ("SDK: responses.create without stream, both upstreams", case_create),
    ("SDK: a tool-result turn reaches both upstreams", case_tool_result_turn),
    ("SDK: errors as the SDK's classes", case_errors),
    ("SDK: a mid-stream failure is error + response.failed", case_midstream_error),
    ("SDK: abort is client_gone, the next is served", case_abort),
    ("AI SDK: openai(id), the Responses API, over both upstreams", case_ai_sdk),
    ("LangChain withStructuredOutput over chat and responses", case_langchain),
    ("raw: event names, sequence numbers, ids, no [DONE]", case_raw_stream),
    ("raw: the response object", case_raw_object),
    ("raw: refusals name the field, in OpenAI's shape", case_raw_refusals),
    ("raw: the request mapping upstream", case_raw_request_mapping),
    ("keys, limits and the ledger", case_keys_limits_ledger),
]

if __name__ == "__main__":
    sys.exit(h.main("responses_api", CASES, setup, parallel=4))
