#!/usr/bin/env python3
"""Provider faults: error statuses before the stream (HTTP errors), retries,
stalls (keep-alives, first-byte and idle timeouts), dropped / truncated
streams, an unreachable provider.  Cases run in parallel (distinct tags)."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import replay  # noqa: E402

# keepalive 1 s, first byte 5 s, idle 2 s, max_retries 2 (harness defaults)
M = {
    "auth401": "gen-3+status:401",
    "auth403": "gen-3+status:403",
    "rl429": "gen-3+status:429+retry-after-ms:10",
    "err500": "gen-3+status:500+retry-after-ms:10",
    "err500once": "gen-5+status:500+retry-after-ms:10+fail-times:1",
    "rl429twice": "gen-5+status:429+retry-after-ms:10+fail-times:2",
    "err400": "gen-3+status:400",
    "stall2800": "gen-5+stall-first:2800",
    "stallforever": "gen-5+stall-first:30000",
    "stallmid": "gen-10+stall-mid:3:4000",
    "drop": "gen-10+drop:5",
    "reset": "gen-10+reset:5",
    "nodone": "gen-10+no-done",
    "late429": "gen-3+stall-first:1500+status:429+retry-after-ms:10",
    "late401": "gen-3+stall-first:1500+status:401",
    "ra1s": "gen-3+status:503+retry-after:1+fail-times:1",
    "ra1200ms": "gen-3+status:429+retry-after-ms:1200+fail-times:1",
    "backoff": "gen-3+status:502+fail-times:1",
    "err408": "gen-3+status:408+retry-after-ms:10+fail-times:1",
    "err409": "gen-3+status:409+retry-after-ms:10+fail-times:1",
    "keymasked": "gen-3+status:400+key-echo:masked",
    "keylate": "gen-3+status:400+key-echo:late",
    "badutf8": "badutf8",
    "bigheader": "gen-3+big-header:300000",
    "bigerr": "gen-3+status:400+err-pad:20000000",
}

S = {}


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    S["replay"] = stack.replay
    S["lt"] = stack.server(sorted(M.values()), name="main")
    # An upstream that refuses connections: a port nobody listens on.
    dead = h.free_port()
    S["dead"] = stack.server(["gen-3"], name="dead",
                             base_url="http://127.0.0.1:%d/v1" % dead,
                             max_retries=0)


def requests_seen(tag):
    return len(S["replay"].events(tag, "request"))


def no_key(t, r):
    key = S["stack"].key
    t.check(key.encode() not in r.body and key.split("-")[-1].encode() not in r.body,
            "the API key does not appear in the response", r.body[:500])


def auth_error(model):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model])
        j = h.check_error_json(t, r, 502, "upstream_auth_error")
        no_key(t, r)
        t.eq(requests_seen(tag), 1, "upstream requests (401/403 is not retried)")
        t.diag("message: %s" % ((j or {}).get("error") or {}).get("message"))
    return run


def rate_limited(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["rl429"])
    h.check_error_json(t, r, 429, "rate_limited")
    ra = r.header("retry-after")
    t.check(ra is not None and re.fullmatch(r"\d+", ra.strip()),
            "Retry-After header with delta-seconds: %r" % ra)
    t.eq(requests_seen(tag), 3, "upstream requests (1 + max_retries 2)")
    no_key(t, r)


def server_error(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["err500"])
    h.check_error_json(t, r, 502, "upstream_error")
    t.eq(requests_seen(tag), 3, "upstream requests (1 + max_retries 2)")


def retry_then_ok(model, n_req, n_words):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model])
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(n_words), "full text after the retry")
        t.eq(requests_seen(tag), n_req, "upstream requests")
        reqs = S["replay"].events(tag, "request")
        if len(reqs) >= 2:
            t.eq(reqs[1]["body"], reqs[0]["body"], "the retry sends the same body")
    return run


def retry_wait(model, at_least, what):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model], timeout=30)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(3), "full text after the retry")
        ev = S["replay"].events(tag)
        done1 = [e for e in ev if e["event"] == "completed"]
        reqs = [e for e in ev if e["event"] == "request"]
        t.require(len(reqs) == 2 and done1, "two upstream requests (%d)" % len(reqs))
        gap = reqs[1]["t"] - done1[0]["t"]
        t.diag("retried %.3f s after the failed answer (%s)" % (gap, what))
        t.check(gap >= at_least, "waited >= %.1f s (%s), got %.3f s"
                % (at_least, what, gap))
        t.check(gap < at_least + 2.5, "did not wait much longer (%.3f s)" % gap)
    return run


def bad_request_upstream(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["err400"])
    h.check_error_json(t, r, 502, "upstream_error")
    t.eq(requests_seen(tag), 1, "upstream requests (400 is not retried)")


def slow_first_byte(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["stall2800"])
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(5), "full text")
    fb = S["replay"].events(tag, "first_byte")
    t.require(fb, "replay recorded first_byte")
    t.check(r.t_headers is not None and r.t_headers < fb[0]["t"],
            "response headers arrived before the upstream's first byte "
            "(headers %.3f s after the request, upstream first byte %.3f s)"
            % ((r.t_headers or 0) - r.t_start, fb[0]["t"] - r.t_start))
    before = [c for c in r.comments if c.t < fb[0]["t"]]
    t.check(len(before) >= 2 and all(c.data.startswith("keep-alive") for c in before),
            "': keep-alive' comments while waiting (%d before the first byte)"
            % len(before), r.summary())


def first_byte_timeout(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["stallforever"], timeout=60)
    if r.status == 504:
        h.check_error_json(t, r, 504, "upstream_timeout")
    else:
        h.check_error_event(t, r, "upstream_timeout")
        t.check(r.comments and r.comments[0].data.startswith("keep-alive"),
                "keep-alive comments before the timeout")
    dt = r.t_end - r.t_start
    t.diag("answered after %.1f s (first_byte_timeout 5 s, %d upstream requests)"
           % (dt, requests_seen(tag)))
    t.check(dt >= 4.5, "not before first_byte_timeout (%.1f s)" % dt)
    # chatstream must also hang up on the stalled provider
    n = requests_seen(tag)
    ev = S["replay"].wait(tag, "peer_closed", timeout=10, count=max(n, 1))
    t.check(ev is not None, "the replay saw chatstream close every stalled "
            "upstream connection (%d requests)" % n)


def idle_timeout(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["stallmid"], timeout=30)
    h.check_error_event(t, r, "upstream_timeout")
    t.eq(r.text, h.gen_text(2), "partial text before the stall")
    deltas = [e for e, j in r.data_events() if "content" in j]
    err = r.named("error")
    if deltas and err:
        gap = err[0].t - deltas[-1].t
        t.diag("error event %.2f s after the last delta (idle_timeout 2 s)" % gap)
        t.check(1.5 <= gap <= 3.9, "error after ~idle_timeout (%.2f s)" % gap)
    t.check(S["replay"].wait(tag, "peer_closed", timeout=10) is not None,
            "chatstream closed the stalled upstream connection")


def dropped(model, etype="upstream_error"):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model], timeout=30)
        h.check_error_event(t, r, etype)
        reqs = S["replay"].events(tag, "request")
        deltas = [e for e, j in r.data_events() if "content" in j]
        if model == "reset":
            # An RST may discard data the kernel had not handed to curl yet:
            # then nothing reached the client and a retry is correct.
            t.check(gen_prefix(r.text, 4), "partial text: %r" % r.text)
        else:
            t.eq(r.text, h.gen_text(4), "partial text received before the drop")
            t.eq(len(reqs), 1, "upstream requests")
        if deltas:
            late = [q for q in reqs if q["t"] > deltas[0].t]
            t.eq(len(late), 0, "upstream requests after a delta reached the "
                 "client (of %d)" % len(reqs))
    return run


def gen_prefix(text, n):
    return any(text == h.gen_text(k) for k in range(n + 1))


def no_done(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["nodone"], timeout=30)
    ee = h.check_error_event(t, r, "upstream_error")
    t.eq(r.text, h.gen_text(10), "the whole text arrived")
    msg = ((ee or {}).get("error") or {}).get("message") or ""
    t.check("truncat" in msg.lower(), "error message mentions truncation: %r" % msg)


def late_failure(model, etype):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model], timeout=40)
        h.check_error_event(t, r, etype)
        no_key(t, r)
        t.check(r.t_headers - r.t_start < 1.45,
                "headers went out at keepalive time (%.2f s)" % (r.t_headers - r.t_start))
        t.diag("%d upstream requests, %.1f s" % (requests_seen(tag), r.t_end - r.t_start))
    return run


def unreachable(t):
    r = S["dead"].chat("hi", tag=h.new_tag(), model="gen-3", timeout=30)
    h.check_error_json(t, r, 502, "upstream_error")
    t.check(r.t_end - r.t_start < 1.5, "answered at once (%.2f s)" % (r.t_end - r.t_start))


def key_echo(model, want):
    def run(t):
        tag = h.new_tag()
        r = S["lt"].chat("hi", tag=tag, model=M[model])
        j = h.check_error_json(t, r, 502, "upstream_error")
        msg = ((j or {}).get("error") or {}).get("message") or ""
        key = S["stack"].key
        t.check(want in msg, "the provider's message, key redacted: %r" % msg)
        for piece in (key[:8], key[-4:], key[8:14]):
            t.check(piece.encode() not in r.body,
                    "no piece of the key (%d bytes) in the answer" % len(piece),
                    r.body[:600])
    return run


def bad_utf8(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["badutf8"])
    h.check_stream_shape(t, r)
    raw = "".join(a.decode("utf-8", "replace") for a, _ in BAD_UTF8)
    want = "".join(b for _, b in BAD_UTF8)
    t.eq(want, raw, "the table agrees with Python's decoder")
    t.eq(r.text, want, "each invalid sequence arrived as U+FFFD")
    try:
        r.body.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    t.check(ok, "the whole response is valid UTF-8", r.body[:600])


# What tests/replay.py's badutf8 scenario sends, and what must arrive.
BAD_UTF8 = replay.BAD_UTF8_DELTAS


def big_header(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["bigheader"])
    j = h.check_error_json(t, r, 502, "upstream_error")
    msg = ((j or {}).get("error") or {}).get("message") or ""
    t.check("header line longer than" in msg, "the message says what "
            "happened: %r" % msg)
    t.eq(requests_seen(tag), 1, "upstream requests (not retried)")


def big_error_body(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=M["bigerr"], timeout=30)
    h.check_error_json(t, r, 502, "upstream_error")
    dt = r.t_end - r.t_start
    t.check(dt < 2.0, "answered quickly (%.2f s)" % dt)
    ev = S["replay"].wait(tag, "err_body", timeout=10)
    t.require(ev is not None, "the replay finished sending the error body")
    t.diag("replay sent %d of %d bytes" % (ev["sent"], ev["total"]))
    t.check(ev["peer_closed"], "chatstream hung up before the end of the body")
    t.check(ev["sent"] < ev["total"] // 2, "far less than the body was sent "
            "(%d of %d)" % (ev["sent"], ev["total"]))


def logged_outcomes(t):
    lines = S["lt"].access_lines()
    t.check(any("outcome=upstream_error" in l for l in lines),
            "an outcome=upstream_error line", "\n".join(lines[-20:]))
    t.check(any("outcome=timeout" in l for l in lines),
            "an outcome=timeout line", "\n".join(lines[-20:]))


CASES = [
    ("upstream 401 -> 502 upstream_auth_error, key not echoed, not retried",
     auth_error("auth401")),
    ("upstream 403 -> 502 upstream_auth_error", auth_error("auth403")),
    ("upstream 429 (retries exhausted) -> 429 rate_limited + Retry-After", rate_limited),
    ("upstream 500 -> 502 upstream_error after max_retries+1 requests", server_error),
    ("upstream 500 once -> retried, full stream", retry_then_ok("err500once", 2, 5)),
    ("upstream 429 twice -> retried twice, full stream", retry_then_ok("rl429twice", 3, 5)),
    ("upstream 400 -> 502 upstream_error, not retried", bad_request_upstream),
    ("upstream 408 once -> retried", retry_then_ok("err408", 2, 3)),
    ("upstream 409 once -> retried", retry_then_ok("err409", 2, 3)),
    ("retry-after: 1 is honoured", retry_wait("ra1s", 0.9, "retry-after: 1")),
    ("retry-after-ms: 1200 is honoured",
     retry_wait("ra1200ms", 1.1, "retry-after-ms: 1200")),
    ("no retry hint -> backoff of about 0.5 s",
     retry_wait("backoff", 0.3, "0.5 s minus jitter")),
    ("upstream silent 2.8 s -> headers + keep-alives first, then the full text",
     slow_first_byte),
    ("upstream silent past first_byte_timeout -> upstream_timeout, upstream closed",
     first_byte_timeout),
    ("upstream stalls mid-stream past idle_timeout -> error upstream_timeout, [DONE]",
     idle_timeout),
    ("upstream drops the connection mid-stream -> error upstream_error, [DONE]",
     dropped("drop")),
    ("upstream resets the connection mid-stream -> error upstream_error, [DONE]",
     dropped("reset")),
    ("upstream ends without [DONE] -> error (truncated), [DONE]", no_done),
    ("upstream 429 after headers went out -> error event rate_limited, [DONE]",
     late_failure("late429", "rate_limited")),
    ("upstream 401 after headers went out -> error event upstream_auth_error, [DONE]",
     late_failure("late401", "upstream_auth_error")),
    ("provider port closed -> 502 upstream_error", unreachable),
    ("provider error echoing a masked key -> the key is redacted, the rest "
     "of the message kept",
     key_echo("keymasked", "Incorrect API key provided: [redacted]. You can")),
    ("provider error with a key at the 400-byte cut -> redacted before "
     "the cut", key_echo("keylate", "AAA [redacted]")),
    ("invalid UTF-8 in provider deltas -> U+FFFD per maximal subpart",
     bad_utf8),
    ("provider header line of 300 KB -> 502 saying so", big_header),
    ("provider error body of 20 MB -> answered quickly, transfer cut at the "
     "cap", big_error_body),
]

AFTER = [("error.log records outcome=upstream_error and outcome=timeout",
          logged_outcomes)]

if __name__ == "__main__":
    sys.exit(h.main("faults", CASES, setup, parallel=8, after=AFTER))
