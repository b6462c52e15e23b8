#!/usr/bin/env python3
"""The built-in demo provider: no key, no upstream; deterministic text."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}


def setup(stack):
    # No replay: no base_url, no key file.
    S["demo"] = stack.server([], name="demo", provider="demo", base_url=None,
                             api_key_file=None, model=None,
                             demo_words_per_second=100)
    # provider = auto without any key falls back to the demo provider
    S["auto"] = stack.server([], name="auto", provider=None, base_url=None,
                             api_key_file=None, model=None)


def stream(t, lt):
    r = lt.chat("Hello", timeout=60)
    h.check_stream_shape(t, r)
    t.check(len(r.deltas) >= 2 and r.text.strip() != "",
            "non-empty text deltas (%d)" % len(r.deltas), r.summary())
    fin = r.finish or {}
    t.eq(fin.get("finish_reason"), "stop", "finish_reason")
    t.check(isinstance(fin.get("usage"), dict), "finish carries a usage object", fin)
    return r


def demo_stream(t):
    r = stream(t, S["demo"])
    S["first"] = r.text
    t.diag("%d deltas in %.2f s: %.60r..." % (len(r.deltas), r.t_end - r.t_start, r.text))


def deterministic(t):
    r = stream(t, S["demo"])
    if "first" in S:
        t.eq(r.text, S["first"], "the same request gives the same text")


def auto_is_demo(t):
    r = stream(t, S["auto"])
    if "first" in S:
        t.eq(r.text, S["first"], "auto without a key streams the demo text")


def models(t):
    r = S["demo"].get("/api/models")
    t.eq(r.status, 200, "status", r.summary())
    j = r.json() or {}
    ids = [m.get("id") for m in j.get("data") or []]
    t.check(len(ids) >= 1 and j.get("default") in ids,
            "at least one model and the default among them", j)


def streams_really(t):
    r = S["demo"].chat("Hello", timeout=60)
    evs = [e for e, j in r.data_events() if "content" in j]
    t.require(len(evs) >= 3, "enough deltas", r.summary())
    spread = evs[-1].t - evs[0].t
    t.diag("deltas spread over %.3f s" % spread)
    t.check(spread > 0.05, "deltas arrive over time, not in one burst (%.3f s)" % spread)


CASES = [
    ("provider = demo streams text deltas, finish with usage, [DONE]", demo_stream),
    ("demo is deterministic: identical requests, identical text", deterministic),
    ("provider = auto without a key serves the demo", auto_is_demo),
    ("GET /api/models in demo mode", models),
    ("the demo streams word by word", streams_really),
]

if __name__ == "__main__":
    sys.exit(h.main("demo", CASES, setup))
