#!/usr/bin/env python3
"""The "developer" role, through lighttpd against the replay provider.

OpenAI's SDKs send the system prompt as role "developer" for reasoning-model
names (o-series, gpt-5): the AI SDK's OpenAI provider (@ai-sdk/openai) does
so by model id, so a site whose alias is called "o4-mini" gets it on every
request.  chatstream takes it as a system message under the same
client_instructions rule, and sends it on as "developer" only to an upstream
known to accept it (Azure OpenAI here; OpenAI itself in
tests/unit/test_config.c), as "system" to OpenAI-compatible servers (the
replay stands in for vLLM), and as Anthropic's top-level system prompt."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CLIENT_DIR = os.path.join(ROOT, "tests", "clients-ai")
S = {}
GEN = "gen-3"
ANTHROPIC_FIX = "anthropic-text"
SYSTEM = "Answer in French."


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    root = stack.replay.base_url[:-len("/v1")]
    settings = stack.settings([GEN]) + [
        ("[upstream azure]", None),
        ("provider", "azure-openai"),
        ("base_url", root),
        ("api_key_file", stack.key_path),
        ("[upstream claude]", None),
        ("provider", "anthropic"),
        ("base_url", stack.replay.base_url),
        ("api_key_file", stack.key_path),
        ("[model o4-mini]", None),          # an OpenAI-compatible server
        ("upstream_model", GEN),
        ("[model gpt-5-mini]", None),       # Azure OpenAI
        ("upstream", "azure"),
        ("upstream_model", GEN),
        ("[model o3]", None),               # Anthropic
        ("upstream", "claude"),
        ("upstream_model", ANTHROPIC_FIX),
        ("[model o1]", None),               # fixed instructions
        ("upstream_model", GEN),
        ("client_instructions", "no"),
    ]
    S["lt"] = stack.server(None, name="developer", settings=settings)
    S["base"] = "http://127.0.0.1:%d/api/v1" % S["lt"].port


def sdk(model, tag, stream, max_tokens=None):
    arg = {"baseURL": S["base"], "model": model, "system": SYSTEM,
           "prompt": "tag:%s hello" % tag, "stream": stream,
           "maxOutputTokens": max_tokens}
    p = subprocess.run(["node", "openai_provider.mjs", json.dumps(arg)],
                       cwd=CLIENT_DIR, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"text": None, "thrown": {"name": "node", "message": "exit %d: %s"
                                         % (p.returncode, p.stderr[-600:])}}


def upstream_body(t, tag):
    return h.upstream_body(t, S["replay"], tag)


def roles(body):
    return [(m.get("role"), m.get("content")) for m in body.get("messages") or []]


def sdk_case(model, stream, want_role, max_tokens=None):
    def run(t):
        tag = h.new_tag()
        out = sdk(model, tag, stream, max_tokens)
        t.eq(out.get("thrown"), None, "the SDK call succeeded")
        t.check(bool(out.get("text")), "text arrived: %r" % out.get("text"))
        body = upstream_body(t, tag)
        t.eq(roles(body)[:1], [(want_role, SYSTEM)],
             "the system prompt reached the provider as %r" % want_role)
        t.check("developer" not in json.dumps(body) or want_role == "developer",
                "no developer role elsewhere in the body")
        if max_tokens:
            # For reasoning models the SDK sends max_completion_tokens.
            t.eq(body.get("max_tokens"), max_tokens, "the SDK's token limit")
    return run


def anthropic(t):
    tag = h.new_tag()
    out = sdk("o3", tag, True)
    t.eq(out.get("thrown"), None, "the SDK call succeeded")
    t.eq(out.get("text"), h.load_expect(ANTHROPIC_FIX)["text"], "text")
    body = upstream_body(t, tag)
    system = body.get("system")
    if isinstance(system, list):
        system = " ".join(b.get("text", "") for b in system)
    t.eq(system, SYSTEM, "Anthropic's system prompt")
    t.eq([m.get("role") for m in body.get("messages") or []], ["user"],
         "only the user turn in messages")


def fixed(t):
    tag = h.new_tag()
    out = sdk("o1", tag, False)
    thrown = out.get("thrown") or {}
    t.eq(thrown.get("status"), 400, "the SDK got a 400", out)
    t.check("developer messages are not allowed" in (thrown.get("message") or ""),
            "the message names the role: %r" % thrown.get("message"))
    t.eq(len(S["replay"].events(tag, "request")), 0, "the provider was not asked")


def native(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="o4-mini", messages=[
        {"role": "developer", "content": SYSTEM},
        {"role": "user", "content": "tag:%s hi" % tag}])
    h.check_stream_shape(t, r)
    t.eq(roles(upstream_body(t, tag))[:1], [("system", SYSTEM)],
         "native API: developer sent on as system")


CASES = [
    ("@ai-sdk/openai streamText, alias o4-mini (OpenAI-compatible upstream) "
     "-> accepted, sent on as system", sdk_case("o4-mini", True, "system")),
    ("@ai-sdk/openai generateText, alias o4-mini, maxOutputTokens 64 -> "
     "accepted, sent on as system with max_tokens 64",
     sdk_case("o4-mini", False, "system", 64)),
    ("@ai-sdk/openai, alias gpt-5-mini on Azure OpenAI -> sent on as developer",
     sdk_case("gpt-5-mini", True, "developer")),
    ("@ai-sdk/openai, alias o3 on Anthropic -> top-level system prompt", anthropic),
    ("@ai-sdk/openai, alias o1 with fixed instructions -> 400 naming developer",
     fixed),
    ("native POST /api/chat with a developer message -> sent on as system", native),
]

if __name__ == "__main__":
    if not os.path.isdir(os.path.join(CLIENT_DIR, "node_modules", "@ai-sdk", "openai")):
        print("1..0 # SKIP tests/clients-ai/node_modules missing (make clients-ai-deps)")
        sys.exit(0)
    sys.exit(h.main("developer_role", CASES, setup, parallel=3))
