#!/usr/bin/env python3
"""A client that goes away: chatstream must abort the provider request at
once (the replay sees its connection closed), log outcome=client_gone, and
keep serving (no worker thread lost)."""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

LONG = "gen-200+delay:100"        # 20 s if nobody stops it
SILENT = "gen-5+stall-first:20000"
SHORT = "gen-10+delay:50"
MODELS = [LONG, SILENT, SHORT, "gen-3"]
MAX_CANCEL_S = 3.0                # client close -> provider connection closed
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(MODELS, default_model="gen-3")


def first_delta(resp, ev):
    return ev.kind == "event" and ev.data not in (None, "[DONE]") and \
        "content" in (ev.json() or {})


def first_comment(resp, ev):
    return ev.kind == "comment"


def measure_cancel(t, tag, r, what):
    t.require(r.closed_by_us, "the client read %s and closed" % what, r.summary())
    ev = S["replay"].wait(tag, "peer_closed", timeout=10)
    t.require(ev is not None, "the replay saw chatstream close the provider "
              "connection within 10 s of the client leaving",
              S["replay"].events(tag)[-3:])
    dt = ev["t"] - r.t_end
    t.diag("client close -> provider connection closed: %.3f s" % dt)
    t.check(dt < MAX_CANCEL_S, "provider connection closed within %.1f s (%.3f s)"
            % (MAX_CANCEL_S, dt))
    return dt


def mid_stream(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=LONG, stop=first_delta)
    t.eq(r.status, 200, "status", r.summary())
    t.eq(r.deltas, ["w1 "], "deltas read before closing")
    measure_cancel(t, tag, r, "the first delta")
    sent = S["replay"].events(tag, "event_sent")
    t.check(len(sent) < 100, "the provider stopped early (%d of 203 events sent)"
            % len(sent))
    t.check(not S["replay"].events(tag, "completed"), "the provider never completed")
    sid = r.stream_id
    line = S["lt"].log_line_for(sid, timeout=10)
    t.require(line is not None, "a log line for stream %s" % sid,
              "\n".join(S["lt"].log_text().splitlines()[-10:]))
    t.diag(line)
    t.check("outcome=client_gone" in line, "logged outcome=client_gone")
    S["mid_done"] = True


def survived(t):
    r = S["lt"].chat("hi", tag=h.new_tag(), model="gen-3")
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")


def while_silent_after_headers(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=SILENT, stop=first_comment)
    t.eq(r.status, 200, "status (headers at keepalive time)", r.summary())
    measure_cancel(t, tag, r, "the first keep-alive")


def while_silent_before_headers(t):
    """The client leaves before any response byte: lighttpd sees the
    hang-up; chatstream must still cancel the provider request."""
    tag = h.new_tag()
    body = ('{"model":"%s","messages":[{"role":"user","content":"tag:%s hi"}]}'
            % (SILENT, tag)).encode()
    s = socket.create_connection(("127.0.0.1", S["lt"].port))
    s.sendall(h.http_post_bytes("/api/chat", body))
    got = S["replay"].wait(tag, "request", timeout=10)
    t.require(got is not None, "the request reached the provider")
    s.close()
    closed_at = h.mono()
    ev = S["replay"].wait(tag, "peer_closed", timeout=10)
    t.require(ev is not None, "the replay saw chatstream close the provider "
              "connection within 10 s")
    dt = ev["t"] - closed_at
    t.diag("client close (before headers) -> provider connection closed: %.3f s" % dt)
    # keepalive_seconds (1 s) is the latest chatstream can notice by writing
    t.check(dt < MAX_CANCEL_S, "within %.1f s (%.3f s)" % (MAX_CANCEL_S, dt))


def many_disconnects(t):
    """16 clients leave mid-stream (8 at a time); afterwards the worker
    threads must still be there: 8 concurrent streams complete (of the
    harness's 16 threads: past them a request would get 503)."""
    tags = []
    for wave in range(2):
        res = {}

        def one(i):
            tag = h.new_tag()
            res[i] = (tag, S["lt"].chat("hi", tag=tag, model=LONG, stop=first_delta))
        ths = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        for i, (tag, r) in res.items():
            t.check(r.closed_by_us, "wave %d client %d read a delta" % (wave, i),
                    r.summary())
            tags.append(tag)
    missing = [tag for tag in tags
               if S["replay"].wait(tag, "peer_closed", timeout=10) is None]
    t.eq(missing, [], "streams whose provider connection was not closed")
    res = {}

    def full(i):
        res[i] = S["lt"].chat("hi", tag=h.new_tag(), model=SHORT, timeout=30)
    ths = [threading.Thread(target=full, args=(i,)) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    for i, r in sorted(res.items()):
        t.check(r.status == 200 and r.text == h.gen_text(10)
                and len(r.done_events) == 1,
                "concurrent stream %d after the disconnects completed" % i, r.summary())
    n = sum(1 for l in S["lt"].access_lines() if "outcome=client_gone" in l)
    t.check(n >= 16, "at least 16 outcome=client_gone log lines (%d)" % n)


CASES = [
    ("client closes after the first delta -> provider connection closed at once, "
     "outcome=client_gone", mid_stream),
    ("the worker survived: a new request streams", survived),
    ("client closes while the provider is silent (after headers) -> cancelled",
     while_silent_after_headers),
    ("client closes while the provider is silent (before headers) -> cancelled",
     while_silent_before_headers),
    ("16 disconnects lose no worker thread: 8 concurrent streams complete",
     many_disconnects),
]

if __name__ == "__main__":
    sys.exit(h.main("disconnect", CASES, setup))
