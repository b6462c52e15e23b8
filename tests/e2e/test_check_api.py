#!/usr/bin/env python3
"""The self-check endpoints behind www/check.html, through lighttpd:
GET /api/info and GET /api/check (timed tick stream, never the provider)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}


def setup(stack):
    S["on"] = stack.server([], name="check", provider="demo", base_url=None,
                           api_key_file=None, model=None)
    S["off"] = stack.server([], name="nocheck", provider="demo", base_url=None,
                            api_key_file=None, model=None, self_check="no")


def info(t):
    r = S["on"].get("/api/info")
    t.eq(r.status, 200, "status", r.summary())
    j = r.json() or {}
    t.eq(j.get("gateway"), "fastcgi", "gateway")
    t.check(j.get("server_software", "").startswith("lighttpd"),
            "server_software names lighttpd", j)
    t.check(isinstance(j.get("chatstream"), str) and j["chatstream"],
            "chatstream version", j)
    t.eq(j.get("self_check"), True, "self_check")
    t.eq(sorted(j), ["chatstream", "gateway", "keepalive_seconds",
                     "self_check", "server_software"],
         "only these fields: nothing secret")


def ticks(t):
    r = S["on"].get("/api/check?seconds=1&interval_ms=100&pad=64", timeout=20)
    h.check_stream_shape(t, r)
    ev = r.named("tick")
    t.eq(len(ev), 10, "1 s / 100 ms = 10 ticks", r.summary())
    data = [e.json() for e in ev]
    t.eq([d["seq"] for d in data], list(range(1, 11)), "seq counts up")
    t.check(all(d["of"] == 10 and len(d["pad"]) == 64 for d in data),
            "of and pad as asked", data[:2])
    el = [d["elapsed_ms"] for d in data]
    t.check(el == sorted(el) and el[-1] >= 850,
            "server send times spread over ~0.9 s: %r" % el)
    spread = ev[-1].t - ev[0].t
    t.check(spread >= 0.7, "the ticks arrive spread out (%.2f s): lighttpd "
            "streams" % spread)
    t.eq((r.finish or {}).get("finish_reason"), "stop", "finish event")


def bad_params(t):
    for q in ("seconds=0", "seconds=61", "interval_ms=5", "pad=99999",
              "seconds=1x", "seconds=", "secs=1", "seconds=-1",
              # 6000 ticks x 2000 bytes: over the 1 MiB padding budget
              "seconds=60&interval_ms=10&pad=2000"):
        r = S["on"].get("/api/check?" + q)
        h.check_error_json(t, r, 400, "invalid_request")


def methods(t):
    for path in ("/api/check", "/api/info"):
        r = S["on"].post(path, "{}")
        h.check_error_json(t, r, 405, "invalid_request")
        t.eq(r.header("Allow"), "GET, HEAD", path + ": Allow")


def disabled(t):
    r = S["off"].get("/api/check?seconds=1")
    h.check_error_json(t, r, 404, "not_found")
    t.check("self_check" in ((r.json() or {}).get("error") or {}).get("message", ""),
            "the message says how it is disabled", r.summary())
    r = S["off"].get("/api/info")
    h.check_error_json(t, r, 404, "not_found")


def concurrency_cap(t):
    """At most 4 checks at once: an open endpoint must not take every
    worker.  The fifth gets 503 with Retry-After; afterwards they work."""
    import threading
    ticking = [threading.Event() for _ in range(4)]
    results = [None] * 4

    def one(i):
        def on_item(resp, ev):
            if ev.kind == "event" and ev.event == "tick":
                ticking[i].set()
            return False
        results[i] = S["on"].get("/api/check?seconds=2&interval_ms=100&pad=0",
                                 timeout=20, stop=on_item)
        ticking[i].set()      # never leave the main thread waiting

    th = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for x in th:
        x.start()
    for ev in ticking:
        ev.wait(timeout=10)
    fifth = S["on"].get("/api/check?seconds=1&interval_ms=100&pad=0", timeout=20)
    for x in th:
        x.join()
    h.check_error_json(t, fifth, 503, "server_busy")
    t.check(fifth.header("Retry-After") is not None, "Retry-After is set",
            fifth.summary())
    t.check(all(r is not None and r.status == 200 and r.done_events
                for r in results), "the four running checks completed",
            [r.summary() for r in results if r is None or r.status != 200])
    r = S["on"].get("/api/check?seconds=1&interval_ms=500&pad=0", timeout=20)
    t.eq(r.status, 200, "after they end, checks work again", r.summary())


CASES = [
    ("GET /api/info: server software, gateway, version, nothing secret", info),
    ("GET /api/check: timed ticks, finish, [DONE], streamed", ticks),
    ("GET /api/check: bad parameters -> 400 JSON", bad_params),
    ("POST to /api/check and /api/info -> 405 Allow: GET, HEAD", methods),
    ("self_check = no: /api/check and /api/info -> 404", disabled),
    ("at most 4 checks at once; the fifth gets 503 + Retry-After",
     concurrency_cap),
]

if __name__ == "__main__":
    sys.exit(h.main("check_api", CASES, setup))
