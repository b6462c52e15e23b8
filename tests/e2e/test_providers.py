#!/usr/bin/env python3
"""Golden end-to-end runs: every recorded provider stream in
tests/fixtures/upstream, served by the replay provider and read by the real
backend configured for that wire format (provider = openai-chat,
openai-responses, openai-completions, anthropic, ollama), must reach the
client on the native protocol with exactly the expected text, tool calls,
finish reason and usage.  Each is also replayed cut into 7-byte pieces."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

# fixture-name prefix -> provider kind
KINDS = [
    ("openai-chat-", "openai-chat"),
    ("openai-compat-", "openai-chat"),
    ("openai-responses-", "openai-responses"),
    ("openai-completions-", "openai-completions"),
    ("anthropic-", "anthropic"),
    ("ollama-", "ollama"),
]
S = {}


def fixtures():
    out = []
    for fn in sorted(os.listdir(h.FIXTURES)):
        base, ext = os.path.splitext(fn)
        if ext not in (".sse", ".ndjson") or not os.path.exists(
                os.path.join(h.FIXTURES, base + ".expect.json")):
            continue
        for prefix, kind in KINDS:
            if base.startswith(prefix):
                out.append((base, kind))
    return out


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    by_kind = {}
    for base, kind in fixtures():
        by_kind.setdefault(kind, []).append(base)
    for kind, bases in by_kind.items():
        models = bases + [b + "+split:7" for b in bases]
        url = stack.replay.base_url
        if kind == "ollama":
            url = url[:-len("/v1")]      # Ollama's API is at the root
        S[kind] = stack.server(models, name=kind, provider=kind, base_url=url)


def make_case(base, kind, split):
    model = base + ("+split:7" if split else "")

    def run(t):
        tag = h.new_tag()
        exp = h.load_expect(base)
        r = S[kind].chat("hello", tag=tag, model=model, timeout=30)
        h.check_stream_shape(t, r)
        t.eq(r.text, exp["text"], "text", r.summary())
        if "reasoning" in exp:
            got = "".join(j.get("reasoning", "") for _, j in r.data_events())
            t.eq(got, exp["reasoning"], "reasoning")
        calls = [e.json() for e in r.named("tool_call")]
        want = exp.get("tool_calls") or []
        for c, w in zip(calls, want):
            # Ollama sends arguments as an object (or not at all); the
            # native protocol carries them as JSON text, "" when absent.
            if not isinstance(w.get("arguments"), str):
                c["arguments"] = json.loads(c["arguments"]) if c["arguments"] else None
            if w.get("id") is None and c.get("id") == "":
                c["id"] = None
        t.eq(calls, want, "tool calls")
        fin = r.finish or {}
        t.eq(fin.get("native_finish_reason", fin.get("finish_reason")),
             exp["finish_reason"], "the provider's finish reason", fin)
        t.check(fin.get("finish_reason") in ("stop", "length", "tool_calls",
                                             "content_filter", "other",
                                             "unknown"),
                "finish_reason is in the native set", fin)
        t.eq(fin.get("usage"), h.native_usage(exp["usage"]),
             "usage in the native shape", exp["usage"])
        seen = S["replay"].events(tag, "request")
        t.check(seen, "the provider saw the request on its own path")
        if seen:
            t.diag("%s -> POST %s" % (kind, seen[0].get("path")))
    return run


CASES = [("%s via provider = %s%s" % (base, kind, ", in 7-byte pieces" if split else ""),
          make_case(base, kind, split))
         for base, kind in fixtures() for split in (False, True)]

if __name__ == "__main__":
    sys.exit(h.main("providers", CASES, setup))
